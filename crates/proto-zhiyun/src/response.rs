//! The answer envelope, in JSON `{"data":…,"code":200,"message":"ok"}` or its XML form
//! ([`crate::xml`]), checked and decoded into the same types.
//!
//! The format is read from the body itself (`<` starts XML, anything else is JSON), so an error
//! page in the other format, or a proxy's answer, is still understood.
//!
//! ```
//! use kaifang_proto_core::context::Context;
//! use kaifang_proto_zhiyun::{UserInfo, response, codes::Code};
//! let ctx = Context::system();
//! let ok = br#"{"data":{"username":"li******40","status":null,"nowtime":1522404566},"code":200,"message":"ok"}"#;
//! let user: UserInfo = response::decode(&ctx, &http::Response::new(ok.to_vec()))?;
//! assert_eq!(user.username, "li******40");
//!
//! let expired = br#"{"data":null,"code":100020,"message":"authorization code expired, please reauthorize"}"#;
//! let err = response::decode::<UserInfo>(&ctx, &http::Response::new(expired.to_vec())).unwrap_err();
//! assert_eq!(Code::of(&err), Some(Code::AuthCodeExpired));
//! assert!(err.is_token_invalid());
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::{self, Envelope};
use kaifang_proto_core::error::PlatformError;
use kaifang_proto_core::{Error, redact};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::codes::{self, PLATFORM};
use crate::endpoint::Format;
use crate::xml;

/// The JSON envelope: `code` (200 is success) and `message`.
pub const ENVELOPE: Envelope = Envelope {
    platform: PLATFORM,
    code_keys: &["code"],
    success: &["200"],
    message_keys: &["message", "msg"],
    missing_code_is_success: false,
};

/// The format of a body, from its first significant byte.
pub fn sniff(body: &[u8]) -> Format {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Format::Xml,
        _ => Format::Json,
    }
}

#[derive(Deserialize)]
struct JsonData<T> {
    data: T,
}

/// Checks the envelope and decodes `data` into `T`.
///
/// # Errors
/// * [`Error::Platform`] for a code other than 200, with the code table's hint and class;
/// * [`Error::HttpStatus`] for an error status whose body is not an envelope;
/// * [`Error::Decode`] (path to the bad field, redacted snippet) otherwise.
pub fn decode<T: DeserializeOwned>(
    ctx: &Context,
    resp: &http::Response<Vec<u8>>,
) -> Result<T, Error> {
    let body = resp.body();
    let status_error = || Error::http_status(resp.status(), resp.headers(), body, ctx.now());
    match sniff(body) {
        Format::Json => {
            match ENVELOPE.check(body, codes::classify) {
                Err(Error::Decode { .. }) if !resp.status().is_success() => {
                    return Err(status_error());
                }
                other => other?,
            };
            envelope::decode_json::<JsonData<T>>(body).map(|d| d.data)
        }
        Format::Xml => {
            let (code, message) = match xml::head(body) {
                Ok((code, message)) if !code.is_empty() => (code, message),
                // Not our envelope: an HTML error page, a proxy's answer.
                _ if !resp.status().is_success() => return Err(status_error()),
                Ok(_) => return Err(xml::decode_error("code", "missing", body)),
                Err(e) => return Err(e),
            };
            if code != codes::SUCCESS.to_string() {
                let c = codes::classify(&code, &message);
                return Err(Error::Platform(PlatformError {
                    platform: PLATFORM,
                    code,
                    message: redact::text(&message),
                    hint: c.hint,
                    class: c.class,
                }));
            }
            xml::data(body)
        }
    }
}
