//! `kaifang sandbox` (being written).

use crate::exit::CliError;

/// `kaifang sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {}

pub(crate) fn run(_: SandboxArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("sandbox: being written"))
}
