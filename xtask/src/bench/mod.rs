//! `cargo xtask bench [--quick]`: every comparison of issue #11 measured side by side on this
//! machine, written to `benches/REPORT.md` with a plot of XXTEA throughput.

use crate::Result;

mod load;
mod python;

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Short measurements (a fast check, under 5 minutes).
    pub(crate) quick: bool,
}

/// Runs every benchmark and writes the report.
pub(crate) fn run(options: &Options) -> Result<()> {
    let _ = options;
    let _ = (python::run, load::run);
    Err(crate::Error::Failed("bench: being written".into()))
}
