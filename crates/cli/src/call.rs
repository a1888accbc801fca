//! `kaifang call` (being written).

use crate::exit::CliError;

/// `kaifang call`.
#[derive(Debug, clap::Args)]
pub(crate) struct CallArgs {}

pub(crate) fn run(_: CallArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("call: being written"))
}
