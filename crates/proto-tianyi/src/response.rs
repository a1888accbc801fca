//! The response envelope `{"code":0,"msg":"…","data":…}` and its variants.

use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::Envelope;
use serde_json::Value;

use crate::app::Tianyi;
use crate::codes;

/// Tianyi's envelope: `code` (or `CODE` on IP-whitelist refusals), `msg` (or `MSG`, `message`).
pub const ENVELOPE: Envelope = Envelope {
    platform: "tianyi",
    code_keys: &["code", "CODE"],
    success: &["0"],
    message_keys: &["msg", "MSG", "message"],
    missing_code_is_success: false,
};

/// Checks the envelope and returns `data`, decrypted when the app uses version `v1.0`.
///
/// # Errors
/// [`Error::Platform`] with the code's hint and class; [`Error::HttpStatus`] for an error status
/// whose body is not the envelope (not JSON, or no code); [`Error::Decode`] for a body that is neither.
pub fn data(app: &Tianyi, ctx: &Context, resp: &http::Response<Vec<u8>>) -> Result<Value, Error> {
    let body = resp.body();
    let checked = match ENVELOPE.check(body, codes::classify) {
        // A non-2xx answer that is not the platform's envelope (not JSON, or JSON without a
        // code, e.g. a gateway's `{}`) is an HTTP status error, retryable for 5xx/429.
        Err(e) if !resp.status().is_success() && !is_platform_code(&e) => {
            return Err(Error::http_status(
                resp.status(),
                resp.headers(),
                body,
                ctx.now(),
            ));
        }
        other => other?,
    };
    let data = checked.get("data").cloned().unwrap_or(Value::Null);
    match (&data, app.config().version.as_str()) {
        (Value::String(hex), "v1.0") if looks_like_hex(hex) => decrypt_data(app, hex, body),
        _ => Ok(data),
    }
}

fn is_platform_code(e: &Error) -> bool {
    matches!(e, Error::Platform(p) if !p.code.is_empty())
}

fn looks_like_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(8) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decrypts `v1.0` response data: hex of XXTEA (app secret) of JSON or plain text.
fn decrypt_data(app: &Tianyi, hex: &str, body: &[u8]) -> Result<Value, Error> {
    let mut buf = vec![0u8; hex.len() / 2];
    let plain = app
        .signer()
        .decrypt_params_hex(hex, &mut buf)
        .map_err(|e| Error::decode("data", format!("cannot decrypt v1.0 data: {e}"), body))?;
    let text = std::str::from_utf8(plain)
        .map_err(|_| Error::decode("data", "decrypted v1.0 data is not UTF-8", body))?;
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::TianyiConfig;
    use kaifang_proto_core::ErrorClass;

    fn answer(status: u16, body: &str) -> Result<Value, Error> {
        let app = Tianyi::new(TianyiConfig::new("693299085757", "s")).unwrap();
        let resp = http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap();
        data(&app, &Context::system(), &resp)
    }

    #[test]
    fn error_statuses_without_a_code_are_http_errors() {
        for body in ["{}", "<html>busy</html>", "{\"msg\":\"x\"}"] {
            let err = answer(503, body).unwrap_err();
            assert!(matches!(err, Error::HttpStatus { .. }), "{err:?}");
            assert_eq!(err.class(), ErrorClass::Retryable);
        }
        // The platform's own code wins whatever the status.
        let err = answer(500, r#"{"code":30002,"msg":"x"}"#).unwrap_err();
        assert!(
            matches!(&err, Error::Platform(p) if p.code == "30002"),
            "{err:?}"
        );
        // A 200 without a code stays the envelope's error.
        assert!(matches!(answer(200, "{}"), Err(Error::Platform(_))));
    }
}
