//! `kaifang demo` (being written).

use crate::exit::CliError;

/// `kaifang demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {}

pub(crate) fn run(_: DemoArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("demo: being written"))
}
