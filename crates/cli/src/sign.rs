//! `kaifang sign ...` and `kaifang xxtea ...` (being written).

use crate::exit::CliError;

/// `kaifang sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {}

/// `kaifang xxtea`.
#[derive(Debug, clap::Args)]
pub(crate) struct XxteaArgs {}

pub(crate) fn run(_: SignArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("sign: being written"))
}

pub(crate) fn run_xxtea(_: XxteaArgs) -> Result<(), CliError> {
    Err(CliError::bad_input("xxtea: being written"))
}
