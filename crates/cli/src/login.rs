//! `kaifang login` (being written).

use crate::exit::CliError;

/// `kaifang login`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {}

pub(crate) fn run(_: LoginArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("login: being written"))
}
