//! [`Explain`]: the steps of a signature (parameters, canonical string, string-to-sign,
//! signature), with secrets elided, for `kaifang sign --explain` and for debugging signature
//! mismatches.
//!
//! Secret values are replaced **when they are pushed**, so an `Explain` never holds a secret and
//! can be printed, logged or serialized freely.
//!
//! ```
//! use kaifang_proto_core::explain::Explain;
//!
//! let mut ex = Explain::new("demo: token request");
//! ex.push("param appId", "42")
//!     .push_secret("param appSecret", "MARKER")
//!     .push("string-to-sign", "42|1700000000000")
//!     .push("signature", "ab12");
//! let text = ex.to_text();
//! assert!(text.contains("string-to-sign   42|1700000000000"));
//! assert!(!text.contains("MARKER"));
//! assert!(ex.to_json().contains(r#""secret":true"#));
//! ```

use core::fmt;

use serde::Serialize;

/// One labelled intermediate value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What this value is (`param appId`, `string-to-sign`, `signature`).
    pub label: String,
    /// The value, or `[redacted len=N]` for a secret.
    pub value: String,
    /// `true` when the value was a secret and has been elided.
    pub secret: bool,
}

/// An ordered list of steps describing how a request was signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explain {
    /// What was signed (`tianyi: getAccessToken`).
    pub title: String,
    /// The steps, in the order they were computed.
    pub steps: Vec<Step>,
}

impl Explain {
    /// An empty explanation.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            steps: Vec::new(),
        }
    }

    /// Adds a public value.
    pub fn push(&mut self, label: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.steps.push(Step {
            label: label.into(),
            value: value.into(),
            secret: false,
        });
        self
    }

    /// Adds a secret: only its length is kept.
    pub fn push_secret(&mut self, label: impl Into<String>, value: &str) -> &mut Self {
        self.steps.push(Step {
            label: label.into(),
            value: crate::redact::placeholder(value.len()),
            secret: true,
        });
        self
    }

    /// Adds a parameter, elided when its name is sensitive
    /// ([`redact::is_sensitive`](crate::redact::is_sensitive)).
    pub fn push_param(&mut self, name: &str, value: &str) -> &mut Self {
        let label = format!("param {name}");
        if crate::redact::is_sensitive(name) {
            self.push_secret(label, value)
        } else {
            self.push(label, value)
        }
    }

    /// The value of the first step with this label.
    #[must_use]
    pub fn get(&self, label: &str) -> Option<&str> {
        self.steps
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.value.as_str())
    }

    /// Human-readable text: the title, then one `label  value` line per step, labels aligned.
    #[must_use]
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Compact JSON: `{"title":…,"steps":[{"label":…,"value":…,"secret":…}]}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A struct of strings and bools always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.title)?;
        let width = self
            .steps
            .iter()
            .map(|s| s.label.chars().count())
            .max()
            .unwrap_or(0);
        for s in &self.steps {
            writeln!(f, "  {:<width$}  {}", s.label, s.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_classified() {
        let mut ex = Explain::new("t");
        ex.push_param("appId", "1").push_param("p_", "MARKER");
        assert_eq!(ex.get("param appId"), Some("1"));
        assert_eq!(ex.get("param p_"), Some("[redacted len=6]"));
        assert!(!ex.to_json().contains("MARKER"));
        assert!(!format!("{ex:?}").contains("MARKER"));
        assert!(ex.to_text().starts_with("t\n  param appId  1\n"));
    }
}
