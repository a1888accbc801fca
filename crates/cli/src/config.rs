//! Settings for the commands that talk to a server: flags, then environment variables, then a
//! profile of `kaifang.toml`.
//!
//! ```toml
//! # kaifang.toml (or --config FILE, or $KAIFANG_CONFIG); pick a profile with --profile NAME.
//! [profiles.default.tf56]
//! base_url = "https://open.tf56.com"
//! client_id = "7"
//! # Secrets: here or in KAIFANG_TF56_CLIENT_SECRET; never a command-line flag.
//! client_secret = "..."
//! ```
//!
//! A value `key` of platform `p` is looked up as the flag `--key` (non-secret values only), then
//! `KAIFANG_<P>_<KEY>`, then `profiles.<profile>.<p>.<key>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kaifang::core::secret::SecretString;

use crate::exit::CliError;

/// Where the profile file is looked for when `--config` is not given.
pub(crate) const DEFAULT_FILE: &str = "kaifang.toml";

/// The global options shared by every server-facing command.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProfileArgs {
    /// Profile file (default: ./kaifang.toml when it exists).
    #[arg(long, env = "KAIFANG_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Profile name inside the file.
    #[arg(
        long,
        env = "KAIFANG_PROFILE",
        default_value = "default",
        global = true
    )]
    pub(crate) profile: String,
}

/// The resolved settings of one platform.
pub(crate) struct Settings {
    platform: &'static str,
    flags: BTreeMap<&'static str, String>,
    profile: toml::Table,
    source: String,
}

impl Settings {
    /// Reads the profile (if any) for `platform`; `flags` are the non-secret values given on the
    /// command line, keyed by setting name.
    pub(crate) fn load(
        platform: &'static str,
        args: &ProfileArgs,
        flags: impl IntoIterator<Item = (&'static str, Option<String>)>,
    ) -> Result<Self, CliError> {
        let flags = flags
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let (profile, source) = match resolve_file(args.config.as_deref())? {
            None => (
                toml::Table::new(),
                "a profile of kaifang.toml (--config FILE)".to_owned(),
            ),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    CliError::bad_input(format!("cannot read {}: {e}", path.display()))
                })?;
                let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                    CliError::bad_input(format!("{}: {}", path.display(), e.message()))
                })?;
                let table = doc
                    .get("profiles")
                    .and_then(|p| p.get(&args.profile))
                    .and_then(|p| p.get(platform))
                    .and_then(toml::Value::as_table)
                    .cloned()
                    .unwrap_or_default();
                (
                    table,
                    format!("profiles.{}.{platform} of {}", args.profile, path.display()),
                )
            }
        };
        Ok(Settings {
            platform,
            flags,
            profile,
            source,
        })
    }

    fn env_name(&self, key: &str) -> String {
        format!(
            "KAIFANG_{}_{}",
            self.platform.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        )
    }

    fn env_or_profile(&self, key: &str) -> Result<Option<String>, CliError> {
        if let Some(v) = std::env::var(self.env_name(key))
            .ok()
            .filter(|v| !v.is_empty())
        {
            return Ok(Some(v));
        }
        match self.profile.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(toml::Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(_) => Err(CliError::bad_input(format!(
                "{}: `{key}` must be a string",
                self.source
            ))),
        }
    }

    /// A non-secret value, if set anywhere.
    pub(crate) fn get(&self, key: &str) -> Result<Option<String>, CliError> {
        match self.flags.get(key) {
            Some(v) => Ok(Some(v.clone())),
            None => self.env_or_profile(key),
        }
    }

    /// A non-secret value that must be set.
    pub(crate) fn require(&self, key: &'static str) -> Result<String, CliError> {
        self.get(key)?.ok_or_else(|| {
            CliError::bad_input(format!(
                "{} needs `{key}`: pass --{}, set {}, or add it to {}",
                self.platform,
                key.replace('_', "-"),
                self.env_name(key),
                self.source
            ))
        })
    }

    /// A secret: from the environment or the profile only, never a flag.
    pub(crate) fn secret(&self, key: &'static str) -> Result<Option<SecretString>, CliError> {
        Ok(self.env_or_profile(key)?.map(SecretString::new))
    }

    /// A secret that must be set.
    pub(crate) fn require_secret(&self, key: &'static str) -> Result<SecretString, CliError> {
        self.secret(key)?.ok_or_else(|| {
            CliError::bad_input(format!(
                "{} needs the secret `{key}`: set {} or add it to {} (secrets are never flags)",
                self.platform,
                self.env_name(key),
                self.source
            ))
        })
    }
}

fn resolve_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, CliError> {
    match explicit {
        Some(p) if p.is_file() => Ok(Some(p.to_owned())),
        Some(p) => Err(CliError::bad_input(format!(
            "--config {}: no such file",
            p.display()
        ))),
        None => {
            let p = PathBuf::from(DEFAULT_FILE);
            Ok(p.is_file().then_some(p))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(path: &Path, profile: &str) -> ProfileArgs {
        ProfileArgs {
            config: Some(path.to_owned()),
            profile: profile.to_owned(),
        }
    }

    #[test]
    fn flag_then_profile_and_secret_never_from_flags() {
        let dir = std::env::temp_dir().join(format!("kaifang-cli-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k.toml");
        std::fs::write(
            &file,
            "[profiles.p.zhiyun]\nbase_url = \"http://x\"\nclient_id = 42\nclient_secret = \"s3\"\n",
        )
        .unwrap();
        let s = Settings::load("zhiyun", &args(&file, "p"), [("base_url", None)]).unwrap();
        assert_eq!(s.get("base_url").unwrap().as_deref(), Some("http://x"));
        assert_eq!(s.require("client_id").unwrap(), "42");
        assert_eq!(
            s.require_secret("client_secret").unwrap().expose_secret(),
            "s3"
        );
        let s = Settings::load(
            "zhiyun",
            &args(&file, "p"),
            [("base_url", Some("http://flag".to_owned()))],
        )
        .unwrap();
        assert_eq!(s.get("base_url").unwrap().as_deref(), Some("http://flag"));
        // Another profile has nothing; the message names every place to set it.
        let s = Settings::load("zhiyun", &args(&file, "other"), []).unwrap();
        let e = s.require_secret("client_secret").err().unwrap().to_string();
        assert!(e.contains("KAIFANG_ZHIYUN_CLIENT_SECRET"), "{e}");
        assert!(e.contains("profiles.other.zhiyun"), "{e}");
        std::fs::write(&file, "[profiles\n").unwrap();
        let e = Settings::load("zhiyun", &args(&file, "p"), [])
            .err()
            .unwrap();
        assert_eq!(e.code(), crate::exit::BAD_INPUT);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
