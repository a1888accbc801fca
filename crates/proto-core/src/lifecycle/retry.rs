//! [`RetryGate`]: the reactive rule "on a token-invalid error, expire and retry once, never loop".

use crate::error::Error;

/// Allows exactly one retry of a call after the platform rejected the token, per logical call.
/// Create one per call (not per client): the second token-invalid error is returned to the
/// caller, which breaks the loop of a misconfigured app that burns its token quota.
///
/// ```
/// use kaifang_proto_core::error::{Error, ErrorClass, PlatformError};
/// use kaifang_proto_core::lifecycle::RetryGate;
///
/// let invalid = Error::Platform(PlatformError {
///     platform: "demo", code: "40001".into(), message: "invalid token".into(),
///     hint: None, class: ErrorClass::TokenInvalid,
/// });
/// let mut gate = RetryGate::new();
/// assert!(gate.should_retry(&invalid));   // expire the token (compare-and-expire), call again
/// assert!(!gate.should_retry(&invalid));  // second time: give the error to the caller
/// assert!(!RetryGate::new().should_retry(&Error::Config("x".into()))); // other errors: never
/// ```
#[derive(Debug, Default, Clone)]
pub struct RetryGate {
    used: bool,
}

impl RetryGate {
    /// A gate with its one retry available.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` exactly once, for the first token-invalid error; `false` for every other error
    /// and for every later call.
    pub fn should_retry(&mut self, err: &Error) -> bool {
        if self.used || !err.is_token_invalid() {
            return false;
        }
        self.used = true;
        true
    }

    /// Whether the retry has been spent.
    #[must_use]
    pub fn spent(&self) -> bool {
        self.used
    }
}
