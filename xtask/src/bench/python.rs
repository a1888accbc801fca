//! The seeds' own Python code and xxtea-py, measured in a venv this task creates (being written).

use std::path::Path;

use crate::Result;

/// Measures; returns the JSON described in the module docs.
pub(crate) fn run(root: &Path, quick: bool) -> Result<serde_json::Value> {
    let _ = (root, quick);
    Err(crate::Error::Failed("python bench: being written".into()))
}
