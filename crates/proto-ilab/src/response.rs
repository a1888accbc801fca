//! The answer envelope `{"code":0,"msg":"…", …}`: the fields sit next to `code`, not under a
//! `data` member.

use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::Envelope;
use serde_json::Value;

use crate::codes::{self, Endpoint};

/// The platform's envelope.
pub const ENVELOPE: Envelope = Envelope {
    platform: codes::PLATFORM,
    code_keys: &["code"],
    success: &["0"],
    message_keys: &["msg", "message"],
    missing_code_is_success: false,
};

/// Checks the envelope of an answer from `endpoint` and returns the whole body.
///
/// # Errors
/// [`Error::Platform`] with the endpoint's hint and class for a non-zero code;
/// [`Error::HttpStatus`] for a non-JSON error status; [`Error::Decode`] for any other body.
pub fn check(
    endpoint: Endpoint,
    ctx: &Context,
    resp: &http::Response<Vec<u8>>,
) -> Result<Value, Error> {
    let body = resp.body();
    match ENVELOPE.check(body, |code, _| codes::classify(endpoint, code)) {
        Err(Error::Decode { .. }) if !resp.status().is_success() => Err(Error::http_status(
            resp.status(),
            resp.headers(),
            body,
            ctx.now(),
        )),
        other => other,
    }
}
