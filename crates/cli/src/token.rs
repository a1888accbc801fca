//! `kaifang token` (being written).

use crate::exit::CliError;

/// `kaifang token`.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {}

pub(crate) fn run(_: TokenArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("token: being written"))
}
