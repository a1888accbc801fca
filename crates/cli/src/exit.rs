//! Exit codes and the one error type every subcommand returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the platform (or the sandbox) refused: an error code, an HTTP error status, a body that does not decode, a failed demo row |
//! | 2 | bad input: a missing or malformed flag, variable or profile value, undecodable hex, an unknown platform |
//! | 3 | network: cannot connect, timeout, reset, TLS |

use std::process::ExitCode;

use kaifang::core::Error as CoreError;

/// Exit code 1: the platform refused.
pub(crate) const REFUSED: u8 = 1;
/// Exit code 2: bad input (clap's own usage errors use 2 as well).
pub(crate) const BAD_INPUT: u8 = 2;
/// Exit code 3: the network failed.
pub(crate) const NETWORK: u8 = 3;

/// What went wrong, already phrased for the user (never with a secret in it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// Exit code 1.
    #[error("{0}")]
    Refused(String),
    /// Exit code 3.
    #[error("{0}")]
    Network(String),
}

impl CliError {
    pub(crate) fn bad_input(msg: impl Into<String>) -> Self {
        CliError::BadInput(msg.into())
    }

    pub(crate) fn refused(msg: impl Into<String>) -> Self {
        CliError::Refused(msg.into())
    }

    pub(crate) fn code(&self) -> u8 {
        match self {
            CliError::Refused(_) => REFUSED,
            CliError::BadInput(_) => BAD_INPUT,
            CliError::Network(_) => NETWORK,
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// kaifang's errors already redact secrets in `Display`; this only chooses the exit code.
impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let msg = e.to_string();
        match e {
            CoreError::Transport { .. } => CliError::Network(msg),
            CoreError::Config(_) => CliError::BadInput(msg),
            _ => CliError::Refused(msg),
        }
    }
}

impl From<kaifang::sign::Error> for CliError {
    fn from(e: kaifang::sign::Error) -> Self {
        CliError::BadInput(e.to_string())
    }
}
