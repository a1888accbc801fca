//! The TOML configuration: sandbox settings and one `[platforms.<name>]` section per module.
//!
//! ```toml
//! [sandbox]
//! journal_capacity = 1000      # requests kept in the journal
//! seed = 42                    # reproducible token values
//! token_retention_secs = 3600  # how long an expired token is still reported as expired
//!
//! [platforms.demo]             # deserialized by the `demo` module into its own typed config
//! token_ttl_secs = 7200
//! ```
//!
//! Errors name the file, the line and column, and the path of the bad field.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::SandboxError;

/// The `[sandbox]` section. Builder settings given in code win over these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Entries kept in the request journal (default 1,000).
    pub journal_capacity: Option<usize>,
    /// Seed of the token RNG: the same seed issues the same token values.
    pub seed: Option<u64>,
    /// Seconds an expired token is still known as expired before it is forgotten (default 3600).
    pub token_retention_secs: Option<u64>,
    /// Largest request body accepted, in bytes (default 16 MiB).
    pub max_body_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    #[serde(default)]
    sandbox: SandboxSettings,
    #[serde(default)]
    platforms: BTreeMap<String, IgnoredAny>,
}

/// A parsed configuration. Platform sections are kept as text and deserialized by their module
/// at start-up (so errors still point at lines of the file). `Debug` leaves the text out: it
/// holds the tenants' secrets.
#[derive(Clone, Default)]
pub struct Config {
    origin: String,
    text: String,
    settings: SandboxSettings,
    platforms: Vec<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("origin", &self.origin)
            .field("text", &format_args!("[{} bytes]", self.text.len()))
            .field("settings", &self.settings)
            .field("platforms", &self.platforms)
            .finish()
    }
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_error(
    origin: &str,
    text: &str,
    e: &toml::de::Error,
    field: Option<String>,
) -> SandboxError {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    SandboxError::Config {
        file: origin.to_owned(),
        line,
        column,
        field,
        message: e.message().to_owned(),
    }
}

impl Config {
    /// Parses TOML text; `origin` names it in errors (a file name, or `<config>`).
    ///
    /// # Errors
    /// [`SandboxError::Config`] with the line and column of a syntax error, an unknown key, or a
    /// bad value in `[sandbox]`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, SandboxError> {
        let top: Top = toml::from_str(text).map_err(|e| toml_error(origin, text, &e, None))?;
        Ok(Self {
            origin: origin.to_owned(),
            text: text.to_owned(),
            settings: top.sandbox,
            platforms: top.platforms.into_keys().collect(),
        })
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    /// [`SandboxError::ConfigRead`] when it cannot be read, else as [`from_toml`](Self::from_toml).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SandboxError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ConfigRead {
            file: name.clone(),
            source,
        })?;
        Self::from_toml(&text, &name)
    }

    /// The `[sandbox]` settings.
    #[must_use]
    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    /// The names of the `[platforms.*]` sections.
    #[must_use]
    pub fn platform_names(&self) -> &[String] {
        &self.platforms
    }

    /// Where the configuration came from.
    #[must_use]
    pub fn origin(&self) -> &str {
        if self.origin.is_empty() {
            "<config>"
        } else {
            &self.origin
        }
    }

    /// Deserializes `[platforms.<name>]` into `C`; `C::default()` when the section is absent.
    ///
    /// # Errors
    /// [`SandboxError::Config`] naming the line, column and field path of a bad value.
    pub fn section<C: DeserializeOwned + Default>(&self, name: &str) -> Result<C, SandboxError> {
        if !self.platforms.iter().any(|p| p == name) {
            return Ok(C::default());
        }
        let de = toml::Deserializer::parse(&self.text)
            .map_err(|e| toml_error(self.origin(), &self.text, &e, None))?;
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
        let seed = DocSeed::<C> {
            name,
            _c: PhantomData,
        };
        match seed.deserialize(tracked) {
            Ok(v) => Ok(v.unwrap_or_default()),
            Err(e) => {
                let path = track.path().to_string();
                Err(toml_error(self.origin(), &self.text, &e, Some(path)))
            }
        }
    }
}

/// Walks the whole document, deserializing only `platforms.<name>` as `C`.
struct DocSeed<'a, C> {
    name: &'a str,
    _c: PhantomData<C>,
}

impl<'de, C: DeserializeOwned> DeserializeSeed<'de> for DocSeed<'_, C> {
    type Value = Option<C>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(DocVisitor::<C> {
            name: self.name,
            level: 0,
            _c: PhantomData,
        })
    }
}

struct DocVisitor<'a, C> {
    name: &'a str,
    /// 0: the document; 1: the `platforms` table.
    level: u8,
    _c: PhantomData<C>,
}

impl<'de, C: DeserializeOwned> Visitor<'de> for DocVisitor<'_, C> {
    type Value = Option<C>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            match (self.level, key.as_str()) {
                (0, "platforms") => {
                    out = map.next_value_seed(DocSeedLevel::<C> {
                        name: self.name,
                        _c: PhantomData,
                    })?;
                }
                (1, k) if k == self.name => out = Some(map.next_value::<C>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct DocSeedLevel<'a, C> {
    name: &'a str,
    _c: PhantomData<C>,
}

impl<'de, C: DeserializeOwned> DeserializeSeed<'de> for DocSeedLevel<'_, C> {
    type Value = Option<C>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(DocVisitor::<C> {
            name: self.name,
            level: 1,
            _c: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        clients: Vec<Client>,
        #[serde(default)]
        ttl: u64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Client {
        id: String,
        secret: String,
    }

    const GOOD: &str = r#"
[sandbox]
seed = 5

[platforms.other]
x = 1

[platforms.demo]
ttl = 30
[[platforms.demo.clients]]
id = "a"
secret = "b"
"#;

    #[test]
    fn sections() {
        let c = Config::from_toml(GOOD, "good.toml").unwrap();
        assert_eq!(c.settings().seed, Some(5));
        assert_eq!(c.platform_names(), ["demo", "other"]);
        let d: Demo = c.section("demo").unwrap();
        assert_eq!(d.ttl, 30);
        assert_eq!(d.clients[0].secret, "b");
        let none: Demo = c.section("absent").unwrap();
        assert_eq!(none, Demo::default());
    }

    /// Regression (leak audit): the derived `Debug` printed the whole text, secrets included.
    #[test]
    fn debug_leaves_the_secrets_out() {
        let c = Config::from_toml(GOOD, "good.toml").unwrap();
        for shown in [format!("{c:?}"), format!("{c:#?}")] {
            assert!(!shown.contains("secret = \"b\""), "{shown}");
            assert!(
                shown.contains("good.toml") && shown.contains("demo"),
                "{shown}"
            );
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = Config::from_toml("[sandbox]\nseed = \"x\"\n", "a.toml").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("a.toml: line 2, column 8"), "{m}");

        let e = Config::from_toml("[sandbox]\nseed = 1\n[platforms.demo\n", "b.toml").unwrap_err();
        assert!(e.to_string().starts_with("b.toml: line 3"), "{e}");

        let e = Config::from_toml("bogus = 1\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(e.to_string().contains("bogus"), "{e}");

        let text =
            "[platforms.demo]\nttl = 3\n[[platforms.demo.clients]]\nid = \"a\"\nsecret = 7\n";
        let c = Config::from_toml(text, "d.toml").unwrap();
        let e = c.section::<Demo>("demo").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("d.toml: line 5, column 10"), "{m}");
        assert!(m.contains("platforms.demo.clients[0].secret"), "{m}");
    }
}
