//! Sandbox throughput against npm's oauth2-mock-server under one load generator (being written).

use std::path::Path;

use crate::Result;

/// Measures; returns the JSON described in the module docs.
pub(crate) fn run(root: &Path, kaifang: &Path, quick: bool) -> Result<serde_json::Value> {
    let _ = (root, kaifang, quick);
    Err(crate::Error::Failed("load bench: being written".into()))
}
