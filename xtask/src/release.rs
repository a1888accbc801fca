//! `cargo xtask release [--dry-run] <version|patch|minor|major>`: everything a release of the
//! workspace's crates needs short of uploading them.
//!
//! 1. The git tree must be clean (`--allow-dirty` for local experiments, loudly).
//! 2. The tests must pass: `cargo test --workspace`, the README's command (`--skip-tests` when
//!    the same job has just run them, as `cargo xtask ci` does).
//! 3. The crate set and the publish order come from `cargo metadata`, never from a hand list: every
//!    workspace member that may be published, ordered so that each crate follows the crates it
//!    needs from the registry (normal and build dependencies, and dev-dependencies that carry a
//!    version, since those stay in the published manifest). A cycle is an error.
//! 4. Every publishable crate's metadata is checked (description, licence, repository, readme,
//!    rust-version, keywords, categories, the docs.rs metadata and the `doc_cfg` attribute of
//!    crates with features, versioned internal dependencies); each problem names the crate and
//!    the field.
//! 5. The version is bumped in one place, the root `Cargo.toml` (`[workspace.package] version`
//!    and the `version` of the internal entries of `[workspace.dependencies]`), and
//!    `CHANGELOG.md`'s `[Unreleased]` section becomes the new version's (keep-a-changelog).
//! 6. `cargo semver-checks` runs against the previous release's tag (`v*`) when there is one.
//! 7. `cargo publish --dry-run --workspace` packages and verifies every crate. Nothing is on
//!    crates.io yet and the crates depend on each other's new versions, so a per-crate
//!    `cargo publish --dry-run -p X` cannot resolve them; the workspace form (cargo ≥ 1.90)
//!    verifies each package against a local overlay registry of the ones packaged before it. The
//!    order cargo packages in is checked against ours.
//!
//! With `--dry-run` the working tree is left untouched: steps 5 to 7 run in a copy of the
//! workspace in a temporary directory (its build in `<target>/xtask-release`), and the changes
//! to `Cargo.toml` and `CHANGELOG.md` are printed as a diff. Without it the bump and the
//! changelog are written to the tree and verified in place; uploading, committing and tagging are
//! left to the person releasing, whom the command tells exactly what to run: this command never
//! publishes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::process::{self, format_duration};
use crate::{Error, Result};

/// Options of `cargo xtask release`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// `--dry-run`: change nothing; bump, package and verify in a temporary copy.
    pub(crate) dry_run: bool,
    /// `--allow-dirty`: accept uncommitted changes (their content is what gets packaged).
    pub(crate) allow_dirty: bool,
    /// `--skip-tests`: do not run `cargo test --workspace` first (CI ran it in the same job).
    pub(crate) skip_tests: bool,
    /// `--no-verify`: package without building the packaged sources (passed to cargo).
    pub(crate) no_verify: bool,
    /// The new version, or how to derive it from the current one.
    pub(crate) bump: Bump,
}

/// Parses the arguments after `release`.
pub(crate) fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        dry_run: false,
        allow_dirty: false,
        skip_tests: false,
        no_verify: false,
        bump: Bump::Patch,
    };
    let mut bump = None;
    for arg in args {
        match arg.as_str() {
            "--dry-run" => options.dry_run = true,
            "--allow-dirty" => options.allow_dirty = true,
            "--skip-tests" => options.skip_tests = true,
            "--no-verify" => options.no_verify = true,
            other if other.starts_with('-') => {
                return Err(Error::Usage(format!("`release` does not take `{other}`")));
            }
            other => {
                if bump.is_some() {
                    return Err(Error::Usage(format!(
                        "`release` takes one version or bump level (got a second: `{other}`)"
                    )));
                }
                bump = Some(Bump::parse(other)?);
            }
        }
    }
    options.bump = bump.ok_or_else(|| {
        Error::Usage(
            "`release` needs the new version or a bump level: patch, minor, major or X.Y.Z".into(),
        )
    })?;
    Ok(options)
}

/// The new version: a bump level, or an exact version.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bump {
    /// `x.y.z` → `x.y.(z+1)`.
    Patch,
    /// `x.y.z` → `x.(y+1).0`.
    Minor,
    /// `x.y.z` → `(x+1).0.0`.
    Major,
    /// Exactly this version (it must be greater than the current one).
    Exact(Version),
}

impl Bump {
    /// `patch`, `minor`, `major`, or a version such as `0.2.0` or `1.0.0-rc.1`.
    fn parse(text: &str) -> Result<Self> {
        match text {
            "patch" => Ok(Bump::Patch),
            "minor" => Ok(Bump::Minor),
            "major" => Ok(Bump::Major),
            other => Version::parse(other).map(Bump::Exact).map_err(|why| {
                Error::Usage(format!(
                    "`{other}` is neither patch, minor, major nor a version: {why}"
                ))
            }),
        }
    }

    /// The version that follows `current`.
    fn apply(&self, current: &Version) -> Result<Version> {
        let next = match self {
            Bump::Patch if current.pre.is_some() => Version {
                pre: None,
                ..current.clone()
            },
            Bump::Patch => Version {
                patch: current.patch + 1,
                pre: None,
                ..current.clone()
            },
            Bump::Minor => Version {
                major: current.major,
                minor: current.minor + 1,
                patch: 0,
                pre: None,
            },
            Bump::Major => Version {
                major: current.major + 1,
                minor: 0,
                patch: 0,
                pre: None,
            },
            Bump::Exact(version) => version.clone(),
        };
        if next.precedes_or_equals(current) {
            return Err(Error::Failed(format!(
                "the new version {next} is not greater than the current version {current}"
            )));
        }
        Ok(next)
    }
}

/// A semantic version without build metadata: `MAJOR.MINOR.PATCH[-PRE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    /// Incompatible changes.
    major: u64,
    /// Compatible additions (incompatible while `major` is 0).
    minor: u64,
    /// Fixes.
    patch: u64,
    /// A pre-release label (`rc.1`), if any.
    pre: Option<String>,
}

impl Version {
    /// Parses `MAJOR.MINOR.PATCH[-PRE]`; the message says what is wrong.
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        if let Some(pre) = pre {
            let valid = !pre.is_empty()
                && pre.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !valid {
                return Err(format!("bad pre-release label `{pre}`"));
            }
        }
        let numbers: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = numbers.as_slice() else {
            return Err("expected MAJOR.MINOR.PATCH".into());
        };
        let number = |part: &str| -> std::result::Result<u64, String> {
            if part.is_empty()
                || (part.len() > 1 && part.starts_with('0'))
                || !part.chars().all(|c| c.is_ascii_digit())
            {
                return Err(format!("`{part}` is not a version number"));
            }
            part.parse().map_err(|_| format!("`{part}` is too large"))
        };
        Ok(Version {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
            pre: pre.map(str::to_owned),
        })
    }

    /// Whether `self` is not a newer version than `other` (pre-release labels compared as text,
    /// enough to reject going backwards).
    fn precedes_or_equals(&self, other: &Version) -> bool {
        let a = (self.major, self.minor, self.patch);
        let b = (other.major, other.minor, other.patch);
        if a != b {
            return a < b;
        }
        match (&self.pre, &other.pre) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(_), None) => true,
            (Some(x), Some(y)) => x <= y,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

/// How a dependency is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`.
    Dev,
}

/// One dependency of a workspace member, as `cargo metadata` reports it.
#[derive(Debug)]
struct Dep {
    /// The depended-on package's name.
    name: String,
    /// How it is used.
    kind: DepKind,
    /// The version requirement (`*` when the manifest gives only a path).
    req: String,
    /// Whether it is a path dependency.
    path: bool,
}

impl Dep {
    /// Whether the dependency stays in the published manifest: `cargo package` strips
    /// dev-dependencies that have only a path.
    fn is_published(&self) -> bool {
        self.kind != DepKind::Dev || !(self.path && self.req == "*")
    }
}

/// A workspace member and what publishing it needs.
#[derive(Debug)]
struct Package {
    /// The package name.
    name: String,
    /// Its version.
    version: String,
    /// Its `Cargo.toml`.
    manifest: PathBuf,
    /// Whether it may be published to crates.io (`publish` unset or naming crates-io).
    publishable: bool,
    /// `description`.
    description: Option<String>,
    /// `license` (or `license-file`).
    license: Option<String>,
    /// `repository`.
    repository: Option<String>,
    /// `readme` (relative to the manifest).
    readme: Option<String>,
    /// `rust-version`.
    rust_version: Option<String>,
    /// `keywords`.
    keywords: Vec<String>,
    /// `categories`.
    categories: Vec<String>,
    /// `[package.metadata.docs.rs]`, if present.
    docs_rs: Option<Value>,
    /// The library target's root source file, if the package has a library.
    lib_src: Option<PathBuf>,
    /// Whether the package has features of its own (besides `default`).
    has_features: bool,
    /// Its dependencies.
    deps: Vec<Dep>,
}

impl Package {
    /// The manifest's path relative to `root`, for messages.
    fn manifest_display(&self, root: &Path) -> String {
        self.manifest
            .strip_prefix(root)
            .unwrap_or(&self.manifest)
            .display()
            .to_string()
    }
}

/// Reads the workspace's members from `cargo metadata --format-version 1 --no-deps` output.
fn parse_metadata(json: &str) -> Result<Vec<Package>> {
    let meta: Value = serde_json::from_str(json)
        .map_err(|e| Error::Failed(format!("cannot parse `cargo metadata` output: {e}")))?;
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .ok_or_else(|| Error::Failed("`cargo metadata`: no workspace_members".into()))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = meta["packages"]
        .as_array()
        .ok_or_else(|| Error::Failed("`cargo metadata`: no packages".into()))?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .filter(|s| !s.trim().is_empty())
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for p in packages {
        if !p["id"].as_str().is_some_and(|id| members.contains(id)) {
            continue;
        }
        let name = text(&p["name"])
            .ok_or_else(|| Error::Failed("`cargo metadata`: a package without a name".into()))?;
        let publishable = match &p["publish"] {
            Value::Null => true,
            Value::Array(registries) => registries.iter().any(|r| r == "crates-io"),
            _ => false,
        };
        let lib_src = p["targets"].as_array().and_then(|targets| {
            targets
                .iter()
                .find(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "lib" || k == "rlib"))
                })
                .and_then(|t| t["src_path"].as_str())
                .map(PathBuf::from)
        });
        let deps = p["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        Some(Dep {
                            name: d["name"].as_str()?.to_owned(),
                            kind: match d["kind"].as_str() {
                                Some("dev") => DepKind::Dev,
                                Some("build") => DepKind::Build,
                                _ => DepKind::Normal,
                            },
                            req: d["req"].as_str().unwrap_or("*").to_owned(),
                            path: d["path"].is_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Package {
            version: text(&p["version"]).unwrap_or_default(),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            publishable,
            description: text(&p["description"]),
            license: text(&p["license"]).or_else(|| text(&p["license_file"])),
            repository: text(&p["repository"]),
            readme: text(&p["readme"]),
            rust_version: text(&p["rust_version"]),
            keywords: strings(&p["keywords"]),
            categories: strings(&p["categories"]),
            docs_rs: p["metadata"]["docs"]["rs"]
                .is_object()
                .then(|| p["metadata"]["docs"]["rs"].clone()),
            lib_src,
            has_features: p["features"]
                .as_object()
                .is_some_and(|f| f.keys().any(|k| k != "default")),
            deps,
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// crates.io's category slugs (<https://crates.io/category_slugs>). A slug missing here but
/// listed there may be added.
const CATEGORIES: &[&str] = &[
    "accessibility",
    "aerospace",
    "aerospace::drones",
    "aerospace::protocols",
    "aerospace::simulation",
    "aerospace::space-protocols",
    "aerospace::unmanned-aerial-vehicles",
    "algorithms",
    "api-bindings",
    "asynchronous",
    "authentication",
    "caching",
    "command-line-interface",
    "command-line-utilities",
    "compilers",
    "compression",
    "computer-vision",
    "concurrency",
    "config",
    "cryptography",
    "cryptography::cryptocurrencies",
    "data-structures",
    "database",
    "database-implementations",
    "date-and-time",
    "development-tools",
    "development-tools::build-utils",
    "development-tools::cargo-plugins",
    "development-tools::debugging",
    "development-tools::ffi",
    "development-tools::procedural-macro-helpers",
    "development-tools::profiling",
    "development-tools::testing",
    "email",
    "embedded",
    "emulators",
    "encoding",
    "external-ffi-bindings",
    "filesystem",
    "finance",
    "game-development",
    "game-engines",
    "games",
    "graphics",
    "gui",
    "hardware-support",
    "internationalization",
    "localization",
    "mathematics",
    "memory-management",
    "multimedia",
    "multimedia::audio",
    "multimedia::encoding",
    "multimedia::images",
    "multimedia::video",
    "network-programming",
    "no-std",
    "no-std::no-alloc",
    "os",
    "os::android-apis",
    "os::freebsd-apis",
    "os::linux-apis",
    "os::macos-apis",
    "os::unix-apis",
    "os::windows-apis",
    "parser-implementations",
    "parsing",
    "rendering",
    "rendering::data-formats",
    "rendering::engine",
    "rendering::graphics-api",
    "rust-patterns",
    "science",
    "science::geo",
    "science::neuroscience",
    "science::robotics",
    "simulation",
    "template-engine",
    "text-editors",
    "text-processing",
    "value-formatting",
    "virtualization",
    "visualization",
    "wasm",
    "web-programming",
    "web-programming::http-client",
    "web-programming::http-server",
    "web-programming::websocket",
];

/// crates.io's limit on keywords and on categories per crate.
const MAX_KEYWORDS: usize = 5;

/// Whether crates.io accepts `keyword`: up to 20 characters, ASCII letters, digits, `_`, `-`
/// and `+`, starting with a letter.
fn valid_keyword(keyword: &str) -> bool {
    keyword.len() <= 20
        && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
        && keyword
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

/// Every metadata problem of the publishable packages, each naming the crate, its manifest and
/// the field. `version` is the workspace version every crate and internal requirement must use.
fn validate(packages: &[Package], root: &Path, version: &Version) -> Vec<String> {
    let by_name: BTreeMap<&str, &Package> = packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut problems = Vec::new();
    for p in packages.iter().filter(|p| p.publishable) {
        let mut problem = |what: String| {
            problems.push(format!("{} ({}): {what}", p.name, p.manifest_display(root)));
        };
        let required = [
            (
                "description",
                &p.description,
                "one line for crates.io's search and page",
            ),
            ("license", &p.license, "`license.workspace = true`"),
            ("repository", &p.repository, "`repository.workspace = true`"),
            (
                "rust-version",
                &p.rust_version,
                "`rust-version.workspace = true`",
            ),
        ];
        for (field, value, fix) in required {
            if value.is_none() {
                problem(format!("`{field}` is missing ({fix})"));
            }
        }
        match &p.readme {
            None => problem(
                "`readme` is missing (write a short README.md next to Cargo.toml and set \
                 `readme = \"README.md\"`)"
                    .into(),
            ),
            Some(readme) => {
                let dir = p.manifest.parent().unwrap_or(Path::new("."));
                if !dir.join(readme).is_file() {
                    problem(format!(
                        "`readme = \"{readme}\"` names a file that does not exist"
                    ));
                }
            }
        }
        if p.keywords.is_empty() {
            problem("`keywords` is missing (up to 5)".into());
        }
        if p.keywords.len() > MAX_KEYWORDS {
            problem(format!(
                "{} `keywords`: crates.io takes at most {MAX_KEYWORDS}",
                p.keywords.len()
            ));
        }
        for keyword in p.keywords.iter().filter(|k| !valid_keyword(k)) {
            problem(format!(
                "keyword `{keyword}` is not valid on crates.io (at most 20 characters: ASCII \
                 letters, digits, `_`, `-`, `+`, starting with a letter)"
            ));
        }
        if p.categories.is_empty() {
            problem("`categories` is missing (crates.io slugs, up to 5)".into());
        }
        if p.categories.len() > MAX_KEYWORDS {
            problem(format!(
                "{} `categories`: crates.io takes at most {MAX_KEYWORDS}",
                p.categories.len()
            ));
        }
        for category in p
            .categories
            .iter()
            .filter(|c| !CATEGORIES.contains(&c.as_str()))
        {
            problem(format!(
                "category `{category}` is not a crates.io category slug (see \
                 https://crates.io/category_slugs)"
            ));
        }
        match &p.docs_rs {
            None => problem(
                "[package.metadata.docs.rs] is missing (all-features = true, rustdoc-args = \
                 [\"--cfg\", \"docsrs\"])"
                    .into(),
            ),
            Some(docs) => {
                if docs["all-features"] != Value::Bool(true) {
                    problem("[package.metadata.docs.rs] needs `all-features = true`".into());
                }
                let args: Vec<&str> = docs["rustdoc-args"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !args.windows(2).any(|w| w == ["--cfg", "docsrs"]) {
                    problem(
                        "[package.metadata.docs.rs] needs `rustdoc-args = [\"--cfg\", \
                         \"docsrs\"]` (feature badges on docs.rs)"
                            .into(),
                    );
                }
            }
        }
        if let (true, Some(src)) = (p.has_features, &p.lib_src) {
            let text = std::fs::read_to_string(src).unwrap_or_default();
            if !text.contains("#![cfg_attr(docsrs, feature(doc_cfg))]") {
                problem(format!(
                    "has features but {} lacks `#![cfg_attr(docsrs, feature(doc_cfg))]`, so \
                     docs.rs shows no feature badges",
                    src.strip_prefix(root).unwrap_or(src).display()
                ));
            }
        }
        if p.version != version.to_string() {
            problem(format!(
                "version {} differs from the workspace's {version} (use `version.workspace = \
                 true`)",
                p.version
            ));
        }
        for dep in &p.deps {
            let Some(target) = by_name.get(dep.name.as_str()) else {
                continue;
            };
            if target.name == p.name || !dep.is_published() {
                continue;
            }
            if dep.req == "*" {
                problem(format!(
                    "depends on `{}` without a version (cargo package needs both `path` and \
                     `version`: take it from [workspace.dependencies])",
                    dep.name
                ));
            } else if !target.publishable {
                problem(format!(
                    "depends on `{}`, which is `publish = false`",
                    dep.name
                ));
            } else if dep.req != format!("^{version}") {
                problem(format!(
                    "requires `{} {}`, not the version being released ({version}): take it \
                     from [workspace.dependencies]",
                    dep.name, dep.req
                ));
            }
        }
    }
    problems
}

/// The publishable packages in publish order: each after every workspace crate it needs from
/// the registry; among crates whose dependencies are all placed, alphabetical. A cycle is an
/// error naming it.
fn publish_order(packages: &[Package]) -> Result<Vec<String>> {
    let publishable: BTreeSet<&str> = packages
        .iter()
        .filter(|p| p.publishable)
        .map(|p| p.name.as_str())
        .collect();
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in packages.iter().filter(|p| p.publishable) {
        let deps = p
            .deps
            .iter()
            .filter(|d| d.is_published() && d.name != p.name)
            .filter_map(|d| publishable.get(d.name.as_str()).copied())
            .collect();
        needs.insert(p.name.as_str(), deps);
    }
    let mut order: Vec<String> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while placed.len() < needs.len() {
        let ready: Vec<&str> = needs
            .iter()
            .filter(|(name, deps)| !placed.contains(*name) && deps.is_subset(&placed))
            .map(|(name, _)| *name)
            .collect();
        let Some(&next) = ready.first() else {
            let rest: BTreeMap<&str, BTreeSet<&str>> = needs
                .iter()
                .filter(|(name, _)| !placed.contains(*name))
                .map(|(name, deps)| (*name, deps.clone()))
                .collect();
            return Err(Error::Failed(format!(
                "the crates cannot be published in any order: dependency cycle {} (a \
                 dev-dependency with a `version` counts, because it stays in the published \
                 manifest; give such a dev-dependency only a `path`)",
                find_cycle(&rest).join(" -> ")
            )));
        };
        placed.insert(next);
        order.push(next.to_owned());
    }
    Ok(order)
}

/// One cycle of a graph in which every node is on or leads to a cycle (what is left when no
/// node is ready), as `a -> b -> ... -> a`.
fn find_cycle(graph: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<String> {
    let Some(mut node) = graph.keys().next().copied() else {
        return Vec::new();
    };
    let mut path: Vec<&str> = Vec::new();
    loop {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(node.to_owned());
            return cycle;
        }
        path.push(node);
        match graph
            .get(node)
            .and_then(|deps| deps.iter().find(|d| graph.contains_key(*d)))
        {
            Some(next) => node = next,
            None => return path.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

/// The crate names in the order cargo's output says it handled them with `verb`
/// (`Packaging NAME vX`, `Uploading NAME vX`: the order it would publish in).
fn cargo_order(lines: &[String], verb: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(verb))
                .then(|| words.next())
                .flatten()
                .map(str::to_owned)
        })
        .collect()
}

/// Checks that an order of cargo's (`what` it did in it) contains exactly our crates and
/// respects every dependency we computed (two valid orders may differ among independent
/// crates).
fn check_cargo_order(
    what: &str,
    ours: &[String],
    cargos: &[String],
    packages: &[Package],
) -> Result<()> {
    let a: BTreeSet<&String> = ours.iter().collect();
    let b: BTreeSet<&String> = cargos.iter().collect();
    if a != b || cargos.len() != ours.len() {
        return Err(Error::Failed(format!(
            "cargo {what} [{}] but the publishable crates are [{}]",
            cargos.join(", "),
            ours.join(", ")
        )));
    }
    let position: BTreeMap<&str, usize> = cargos
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    for p in packages
        .iter()
        .filter(|p| position.contains_key(p.name.as_str()))
    {
        for dep in p
            .deps
            .iter()
            .filter(|d| d.is_published() && d.name != p.name)
        {
            if let (Some(mine), Some(theirs)) = (
                position.get(p.name.as_str()),
                position.get(dep.name.as_str()),
            ) && theirs > mine
            {
                return Err(Error::Failed(format!(
                    "cargo {what} {} before {}, which it depends on",
                    p.name, dep.name
                )));
            }
        }
    }
    Ok(())
}

/// The root manifest with the workspace version and the internal `[workspace.dependencies]`
/// requirements changed from `old` to `new`; also the number of internal entries changed.
fn bump_manifest(text: &str, old: &Version, new: &Version) -> Result<(String, usize)> {
    let old_field = format!("version = \"{old}\"");
    let new_field = format!("version = \"{new}\"");
    let mut section = String::new();
    let mut package_version = false;
    let mut internal = 0;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        let changed = if section == "[workspace.package]" && trimmed == old_field {
            package_version = true;
            line.replacen(&old_field, &new_field, 1)
        } else if section == "[workspace.dependencies]"
            && !trimmed.starts_with('#')
            && trimmed.contains("path = \"")
            && trimmed.contains(&old_field)
        {
            internal += 1;
            line.replacen(&old_field, &new_field, 1)
        } else {
            line.to_owned()
        };
        out.push_str(&changed);
    }
    if !package_version {
        return Err(Error::Failed(format!(
            "Cargo.toml: no `{old_field}` line in [workspace.package] (the one place the \
             version is kept)"
        )));
    }
    Ok((out, internal))
}

/// The workspace version: `[workspace.package] version` of the root manifest.
fn workspace_version(manifest: &str) -> Result<Version> {
    let mut section = "";
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed;
        } else if section == "[workspace.package]"
            && let Some(value) = trimmed.strip_prefix("version")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            let value = value.trim().trim_matches('"');
            return Version::parse(value).map_err(|why| {
                Error::Failed(format!(
                    "Cargo.toml: [workspace.package] version `{value}`: {why}"
                ))
            });
        }
    }
    Err(Error::Failed(
        "Cargo.toml: no `version` in [workspace.package]".into(),
    ))
}

/// The `[Unreleased]` heading of CHANGELOG.md.
const UNRELEASED: &str = "## [Unreleased]";

/// CHANGELOG.md with its `[Unreleased]` section turned into `new`'s (dated `date`), a new
/// empty `[Unreleased]` above it, and the comparison links at the bottom updated. Also whether
/// the released section has any entry.
fn release_changelog(
    text: &str,
    new: &Version,
    date: &str,
    previous_tag: Option<&str>,
    repository: &str,
) -> Result<(String, bool)> {
    let start = text.find(UNRELEASED).ok_or_else(|| {
        Error::Failed(format!(
            "CHANGELOG.md has no `{UNRELEASED}` section (keep-a-changelog format)"
        ))
    })?;
    let body_start = start + UNRELEASED.len();
    let body_end = text[body_start..]
        .find("\n## [")
        .map(|i| body_start + i + 1)
        .or_else(|| text[body_start..].find("\n[").map(|i| body_start + i + 1))
        .unwrap_or(text.len());
    let body = &text[body_start..body_end];
    let has_entries = body.lines().any(|l| l.trim_start().starts_with("- "));
    let tag = format!("v{new}");
    let repository = repository.trim_end_matches('/');
    let mut out = String::with_capacity(text.len() + 200);
    out.push_str(&text[..start]);
    out.push_str(UNRELEASED);
    out.push_str("\n\n");
    out.push_str(&format!("## [{new}] - {date}"));
    out.push_str(body);
    let mut rest = text[body_end..].to_owned();
    // Links: `[Unreleased]: <repo>/compare/vNEW...HEAD`, then this release's.
    let unreleased_link = format!("[Unreleased]: {repository}/compare/{tag}...HEAD");
    let release_link = match previous_tag {
        Some(prev) => format!("[{new}]: {repository}/compare/{prev}...{tag}"),
        None => format!("[{new}]: {repository}/releases/tag/{tag}"),
    };
    let mut replaced = false;
    rest = rest
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with("[Unreleased]:") {
                replaced = true;
                format!("{unreleased_link}\n{release_link}\n")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !replaced {
        if !rest.ends_with('\n') && !rest.is_empty() {
            rest.push('\n');
        }
        rest.push_str(&format!("\n{unreleased_link}\n{release_link}\n"));
    }
    out.push_str(&rest);
    Ok((out, has_entries))
}

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
fn utc_date(unix_seconds: u64) -> String {
    let days = i64::try_from(unix_seconds / 86_400).unwrap_or(i64::MAX);
    let (year, month, day) = kaifang_proto_core::time::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `git <args>` in `root`, its stdout; a failure is an error with git's message.
fn git(root: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(root).args(args);
    let out = process::run_captured(&mut cmd)?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`{}` failed: {}",
            process::display(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest release tag (`vX.Y.Z`, by version), if any.
fn previous_release(root: &Path) -> Result<Option<(String, Version)>> {
    let tags = git(root, &["tag", "--list", "v*"])?;
    Ok(tags
        .lines()
        .filter_map(|tag| {
            let tag = tag.trim();
            Version::parse(tag.strip_prefix('v')?)
                .ok()
                .map(|v| (tag.to_owned(), v))
        })
        .max_by(|(_, a), (_, b)| {
            if a == b {
                std::cmp::Ordering::Equal
            } else if a.precedes_or_equals(b) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        }))
}

/// Runs `cmd`, echoing its stderr and stdout live, and returns stderr's lines (cargo reports
/// progress there).
fn run_streaming(cmd: &mut Command) -> Result<Vec<String>> {
    let shown = process::display(cmd);
    let mut child = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Failed(format!("could not start `{shown}`: {e}")))?;
    let mut lines = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| Error::Failed(format!("reading `{shown}`: {e}")))?;
            eprintln!("{line}");
            lines.push(line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::Failed(format!("waiting for `{shown}`: {e}")))?;
    if status.success() {
        Ok(lines)
    } else {
        let errors: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .skip_while(|l| !l.starts_with("error"))
            .collect();
        Err(Error::Failed(format!(
            "`{shown}` failed ({status}):\n{}",
            errors.join("\n")
        )))
    }
}

/// `cargo metadata --format-version 1 --no-deps` of the workspace at `root`.
fn metadata(root: &Path) -> Result<Vec<Package>> {
    let mut cmd = process::cargo();
    cmd.current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"]);
    let out = process::run_captured(&mut cmd)?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_metadata(&String::from_utf8_lossy(&out.stdout))
}

/// Fails with every metadata problem, one per line.
fn require_valid(packages: &[Package], root: &Path, version: &Version) -> Result<()> {
    let problems = validate(packages, root, version);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "{} crate metadata problem(s); crates.io or docs.rs would refuse or mangle these \
         crates:\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    )))
}

/// Copies the files git knows (tracked, and untracked but not ignored, as on disk) from `root`
/// to `dest`.
fn copy_workspace(root: &Path, dest: &Path) -> Result<usize> {
    let listed = git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    )?;
    let mut copied = 0;
    for rel in listed.split('\0').filter(|s| !s.is_empty()) {
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree, or a submodule
        }
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Failed(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::copy(&from, &to)
            .map_err(|e| Error::Failed(format!("cannot copy {} to {}: {e}", rel, to.display())))?;
        copied += 1;
    }
    Ok(copied)
}

/// Prints `git diff --no-index` of two files (informative).
fn print_diff(root: &Path, before: &Path, after: &Path) {
    let mut cmd = Command::new("git");
    cmd.current_dir(root)
        .args(["--no-pager", "diff", "--no-index", "--no-color", "--"]);
    cmd.arg(before).arg(after);
    match process::run_captured(&mut cmd) {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(err) => println!("(no diff: {err})"),
    }
}

/// The header of one step.
fn step(n: usize, what: &str) {
    println!("\n--> release [{n}/7] {what}");
}

/// `cargo xtask release`.
pub(crate) fn run(options: &Options) -> Result<()> {
    let root = process::repo_root()?;
    let total = Instant::now();
    let mode = if options.dry_run {
        "DRY RUN: nothing in the working tree changes, nothing is published"
    } else {
        "writes the version bump and CHANGELOG.md to the tree; publishing stays yours"
    };
    println!("release: {mode}");

    step(1, "clean git tree");
    let status = git(&root, &["status", "--porcelain"])?;
    if status.trim().is_empty() {
        println!("clean");
    } else if options.allow_dirty {
        println!(
            "\n!!!!!!!! the tree has uncommitted changes; --allow-dirty packages them as they \
             are on disk !!!!!!!!\n{status}"
        );
    } else {
        let shown: Vec<&str> = status.lines().take(10).collect();
        return Err(Error::Failed(format!(
            "the git tree is not clean (commit or stash first; --allow-dirty for a local \
             experiment):\n{}{}",
            shown.join("\n"),
            if status.lines().count() > 10 {
                "\n..."
            } else {
                ""
            }
        )));
    }

    step(2, "tests");
    if options.skip_tests {
        println!("skipped (--skip-tests: the tests already ran in this job)");
    } else {
        let mut cmd = process::cargo();
        cmd.current_dir(&root).args(["test", "--workspace"]);
        println!("{}", process::display(&cmd));
        process::run_inherit(&mut cmd)?;
    }

    step(3, "crates and publish order (cargo metadata)");
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| Error::Failed(format!("cannot read Cargo.toml: {e}")))?;
    let current = workspace_version(&manifest)?;
    let next = options.bump.apply(&current)?;
    let packages = metadata(&root)?;
    let order = publish_order(&packages)?;
    let skipped: Vec<&str> = packages
        .iter()
        .filter(|p| !p.publishable)
        .map(|p| p.name.as_str())
        .collect();
    println!("{current} -> {next}; publish order:");
    for (i, name) in order.iter().enumerate() {
        println!("  {:>2}. {name}", i + 1);
    }
    println!("not published (publish = false): {}", skipped.join(", "));

    step(4, "crate metadata");
    require_valid(&packages, &root, &current)?;
    println!(
        "ok: description, license, repository, readme, rust-version, keywords, categories, \
         docs.rs metadata, versioned internal dependencies ({} crates)",
        order.len()
    );

    step(5, "version bump and CHANGELOG.md");
    let repository = packages
        .iter()
        .find(|p| p.publishable)
        .and_then(|p| p.repository.clone())
        .unwrap_or_default();
    let previous = previous_release(&root)?;
    let changelog_path = root.join("CHANGELOG.md");
    let changelog = std::fs::read_to_string(&changelog_path)
        .map_err(|e| Error::Failed(format!("cannot read CHANGELOG.md: {e}")))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (new_manifest, internal) = bump_manifest(&manifest, &current, &next)?;
    let (new_changelog, has_entries) = release_changelog(
        &changelog,
        &next,
        &utc_date(now),
        previous.as_ref().map(|(tag, _)| tag.as_str()),
        &repository,
    )?;
    if !has_entries {
        if !options.dry_run {
            return Err(Error::Failed(
                "CHANGELOG.md's [Unreleased] section has no entries: describe the release \
                 first"
                    .into(),
            ));
        }
        println!(
            "warning: CHANGELOG.md's [Unreleased] section has no entries (a real release stops here)"
        );
    }
    println!(
        "Cargo.toml: [workspace.package] version and {internal} internal [workspace.dependencies] \
         entries {current} -> {next}"
    );

    let (work, _scratch) = if options.dry_run {
        let dir = std::env::temp_dir().join(format!("kaifang-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let copied = copy_workspace(&root, &dir)?;
        println!(
            "dry run: copied the workspace ({copied} files) to {}",
            dir.display()
        );
        let scratch = Scratch(dir.clone());
        (dir, Some(scratch))
    } else {
        (root.clone(), None)
    };
    write(&work.join("Cargo.toml"), &new_manifest)?;
    write(&work.join("CHANGELOG.md"), &new_changelog)?;
    if options.dry_run {
        print_diff(&root, &manifest_path, &work.join("Cargo.toml"));
        print_diff(&root, &changelog_path, &work.join("CHANGELOG.md"));
    }
    let verified = verify_bumped(options, &root, &work, &next, &order, previous.as_ref());
    if let (false, Err(Error::Failed(why))) = (options.dry_run, &verified) {
        return Err(Error::Failed(format!(
            "{why}\n\nCargo.toml and CHANGELOG.md already say {next}: `git checkout -- \
             Cargo.toml CHANGELOG.md` undoes the bump"
        )));
    }
    verified?;

    println!("\nrelease {next}: publish order");
    for (i, name) in order.iter().enumerate() {
        println!("  {:>2}. {name} {next}", i + 1);
    }
    if options.dry_run {
        println!(
            "\nrelease: dry run passed in {}; the tree is unchanged",
            format_duration(total.elapsed())
        );
    } else {
        println!(
            "\nrelease: Cargo.toml and CHANGELOG.md now say {next}. To publish (this command \
             never does):\n  git commit -am \"release {next}\"\n  git tag v{next}\n  cargo \
             publish --workspace\n  git push && git push origin v{next}\n(done in {})",
            format_duration(total.elapsed())
        );
    }
    Ok(())
}

/// Steps 5 (the checks after the bump), 6 and 7 on the bumped workspace at `work`.
fn verify_bumped(
    options: &Options,
    root: &Path,
    work: &Path,
    next: &Version,
    order: &[String],
    previous: Option<&(String, Version)>,
) -> Result<()> {
    // After the bump every crate and internal requirement must carry the new version: this
    // catches a requirement written in a crate's own manifest instead of the workspace's.
    let bumped = metadata(work)?;
    require_valid(&bumped, work, next)?;
    if publish_order(&bumped)? != order {
        return Err(Error::Failed(
            "the publish order changed with the version bump".into(),
        ));
    }

    step(6, "semver-checks against the previous release");
    match previous {
        None => println!("no previous release (no `v*` tag): semver-checks skipped"),
        Some((tag, _)) => semver_checks(root, work, tag)?,
    }

    step(
        7,
        "cargo publish --dry-run --workspace (package and verify, in order)",
    );
    let target = process::target_dir(root).join("xtask-release");
    let mut cmd = process::cargo();
    cmd.current_dir(work)
        .env("CARGO_TARGET_DIR", &target)
        // The verification builds only check that each packaged crate compiles; debug info
        // would only make them slower.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .args(["publish", "--dry-run", "--workspace"]);
    if !options.dry_run || options.allow_dirty {
        // The bump itself makes the real tree dirty; the dry run's copy has no git at all.
        cmd.arg("--allow-dirty");
    }
    if options.no_verify {
        cmd.arg("--no-verify");
    }
    println!("{}", process::display(&cmd));
    let start = Instant::now();
    let lines = run_streaming(&mut cmd)?;
    let packaged = cargo_order(&lines, "Packaging");
    check_cargo_order("packaged", order, &packaged, &bumped)?;
    // With --dry-run cargo still walks its publish order, printing `Uploading` for each.
    let uploaded = cargo_order(&lines, "Uploading");
    check_cargo_order("would upload", order, &uploaded, &bumped)?;
    println!(
        "\nrelease: every crate packaged{} in {}; cargo's packaging order ({}) and upload order \
         ({}) both respect every dependency of ours",
        if options.no_verify {
            ""
        } else {
            " and verified"
        },
        format_duration(start.elapsed()),
        packaged.join(" -> "),
        uploaded.join(" -> ")
    );
    Ok(())
}

/// `cargo semver-checks` of the workspace at `work` against the release tagged `tag`.
fn semver_checks(root: &Path, work: &Path, tag: &str) -> Result<()> {
    let installed = process::run_captured(process::cargo().args(["semver-checks", "--version"]))
        .ok()
        .is_some_and(|out| out.status.success());
    if !installed {
        return Err(Error::Failed(format!(
            "the previous release is {tag}, but cargo-semver-checks is not installed: `cargo \
             install --locked cargo-semver-checks` (.ci/run installs it once a release tag \
             exists)"
        )));
    }
    let baseline = process::target_dir(root).join("xtask-release-baseline");
    let _ = std::fs::remove_dir_all(&baseline);
    std::fs::create_dir_all(&baseline)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", baseline.display())))?;
    // The tagged tree, without touching the repository's worktrees.
    let tar = baseline.join("baseline.tar");
    let mut archive = Command::new("git");
    archive
        .current_dir(root)
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .arg(tag);
    process::run_inherit(&mut archive)?;
    let mut untar = Command::new("tar");
    untar.arg("-xf").arg(&tar).arg("-C").arg(&baseline);
    process::run_inherit(&mut untar)?;
    let mut cmd = process::cargo();
    cmd.current_dir(work)
        .env(
            "CARGO_TARGET_DIR",
            process::target_dir(root).join("xtask-release"),
        )
        .args([
            "semver-checks",
            "check-release",
            "--workspace",
            "--baseline-root",
        ])
        .arg(&baseline);
    println!("{}", process::display(&cmd));
    process::run_inherit(&mut cmd)
}

/// Writes `text` to `path`.
fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
}

/// A temporary directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A trimmed `cargo metadata --format-version 1 --no-deps` of a small workspace like ours:
    /// `sign` (a self dev-dependency by path, as sign-core has), `proto` (needs `sign`; dev-needs
    /// the unpublished `support` by path), `facade` (needs `proto`), `support` (`publish = false`).
    fn fixture(root: &Path) -> Value {
        let r = root.display().to_string();
        let dep = |name: &str, kind: Value, req: &str| json!({"name": name, "req": req, "kind": kind, "path": format!("{r}/crates/{name}")});
        let member = |name: &str, deps: Vec<Value>| {
            json!({
                "name": name, "version": "0.1.0", "id": format!("path+file://{r}/crates/{name}#0.1.0"),
                "manifest_path": format!("{r}/crates/{name}/Cargo.toml"), "publish": null,
                "description": "d", "license": "MIT OR Apache-2.0",
                "repository": "https://github.com/kaifang-rs/kaifang", "readme": "README.md",
                "rust_version": "1.95", "keywords": ["oauth"], "categories": ["authentication"],
                "metadata": {"docs": {"rs": {"all-features": true, "rustdoc-args": ["--cfg", "docsrs"]}}},
                "features": {},
                "targets": [{"kind": ["lib"], "src_path": format!("{r}/crates/{name}/src/lib.rs")}],
                "dependencies": deps,
            })
        };
        let mut support = member("support", vec![]);
        support["publish"] = json!([]);
        let packages = vec![
            member("sign", vec![dep("sign", json!("dev"), "*")]),
            member(
                "proto",
                vec![
                    dep("sign", Value::Null, "^0.1.0"),
                    dep("support", json!("dev"), "*"),
                ],
            ),
            member("facade", vec![dep("proto", Value::Null, "^0.1.0")]),
            support,
        ];
        let ids: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
        json!({"packages": packages, "workspace_members": ids})
    }

    /// The fixture's package `name`, to change.
    fn package<'a>(meta: &'a mut Value, name: &str) -> &'a mut Value {
        meta["packages"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|p| p["name"] == name)
            .unwrap()
    }

    fn packages(meta: &Value) -> Vec<Package> {
        parse_metadata(&meta.to_string()).unwrap()
    }

    /// A workspace directory with a README and a lib.rs per crate, so `readme` checks pass;
    /// removed when dropped.
    fn workspace(test: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("xtask-release-{test}-{}", std::process::id()));
        for name in ["sign", "proto", "facade", "support"] {
            let dir = root.join("crates").join(name);
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(dir.join("README.md"), "# x\n").unwrap();
            std::fs::write(dir.join("src/lib.rs"), "//! x\n").unwrap();
        }
        Scratch(root)
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn versions_and_bumps() {
        assert_eq!(Bump::Patch.apply(&v("0.1.0")).unwrap(), v("0.1.1"));
        assert_eq!(Bump::Minor.apply(&v("0.1.3")).unwrap(), v("0.2.0"));
        assert_eq!(Bump::Major.apply(&v("0.1.3")).unwrap(), v("1.0.0"));
        assert_eq!(Bump::Patch.apply(&v("1.0.0-rc.1")).unwrap(), v("1.0.0"));
        assert_eq!(
            Bump::Exact(v("1.0.0-rc.1")).apply(&v("0.9.2")).unwrap(),
            v("1.0.0-rc.1")
        );
        assert!(Bump::Exact(v("0.1.0")).apply(&v("0.1.0")).is_err());
        assert!(Bump::Exact(v("0.0.9")).apply(&v("0.1.0")).is_err());
        assert_eq!(v("1.0.0-rc.1").to_string(), "1.0.0-rc.1");
        for bad in ["1.0", "1.0.0.0", "01.0.0", "1.x.0", "1.0.0-", "v1.0.0"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments() {
        let parse_args =
            |args: &[&str]| parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let options = parse_args(&["--dry-run", "--skip-tests", "patch"]).unwrap();
        assert!(options.dry_run && options.skip_tests && !options.allow_dirty);
        assert_eq!(options.bump, Bump::Patch);
        assert_eq!(
            parse_args(&["0.2.0"]).unwrap().bump,
            Bump::Exact(v("0.2.0"))
        );
        assert!(matches!(parse_args(&[]), Err(Error::Usage(_))));
        assert!(matches!(parse_args(&["--dry-run"]), Err(Error::Usage(_))));
        assert!(matches!(
            parse_args(&["patch", "minor"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse_args(&["--force", "patch"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse_args(&["huge"]), Err(Error::Usage(_))));
    }

    #[test]
    fn the_order_follows_dependencies_and_skips_unpublished_crates() {
        let ws = workspace("order");
        let root = ws.0.clone();
        let packages = packages(&fixture(&root));
        let ours = publish_order(&packages).unwrap();
        assert_eq!(ours, ["sign", "proto", "facade"]);
        assert_eq!(
            validate(&packages, &root, &v("0.1.0")),
            Vec::<String>::new()
        );
        // cargo may order independent crates differently, never against a dependency.
        let cargos: Vec<String> = ["sign", "proto", "facade"].map(String::from).to_vec();
        assert!(check_cargo_order("packaged", &ours, &cargos, &packages).is_ok());
        let wrong: Vec<String> = ["proto", "sign", "facade"].map(String::from).to_vec();
        assert_eq!(
            check_cargo_order("would upload", &ours, &wrong, &packages).unwrap_err(),
            Error::Failed("cargo would upload proto before sign, which it depends on".into())
        );
        let missing: Vec<String> = ["sign", "proto"].map(String::from).to_vec();
        assert!(check_cargo_order("packaged", &ours, &missing, &packages).is_err());
    }

    #[test]
    fn a_versioned_dev_dependency_orders_and_can_close_a_cycle() {
        let ws = workspace("cycle");
        let root = ws.0.clone();
        let mut meta = fixture(&root);
        let facade = json!({"name": "facade", "req": "^0.1.0", "kind": "dev",
            "path": format!("{}/crates/facade", root.display())});
        package(&mut meta, "sign")["dependencies"] = json!([facade]);
        let Err(Error::Failed(msg)) = publish_order(&packages(&meta)) else {
            panic!("no cycle found");
        };
        assert!(
            msg.contains("dependency cycle facade -> proto -> sign -> facade"),
            "{msg}"
        );
    }

    #[test]
    fn broken_metadata_fails_with_the_crate_and_the_field() {
        let ws = workspace("broken");
        let root = ws.0.clone();
        let mut meta = fixture(&root);
        package(&mut meta, "sign")["description"] = Value::Null;
        let facade = package(&mut meta, "facade");
        facade["readme"] = Value::Null;
        facade["keywords"] = json!(["oauth", "a", "b", "c", "d", "e"]);
        facade["categories"] = json!(["authentication", "web"]);
        facade["metadata"] = Value::Null;
        facade["features"] = json!({"default": [], "extra": []});
        let packages = packages(&meta);
        let problems = validate(&packages, &root, &v("0.1.0"));
        let expect = [
            "sign (crates/sign/Cargo.toml): `description` is missing",
            "facade (crates/facade/Cargo.toml): `readme` is missing",
            "facade (crates/facade/Cargo.toml): 6 `keywords`: crates.io takes at most 5",
            "facade (crates/facade/Cargo.toml): category `web` is not a crates.io category slug",
            "facade (crates/facade/Cargo.toml): [package.metadata.docs.rs] is missing",
            "facade (crates/facade/Cargo.toml): has features but crates/facade/src/lib.rs lacks \
             `#![cfg_attr(docsrs, feature(doc_cfg))]`",
        ];
        for needle in expect {
            assert!(
                problems.iter().any(|p| p.starts_with(needle)),
                "{needle}\n{problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        let err = require_valid(&packages, &root, &v("0.1.0")).unwrap_err();
        assert!(err.to_string().starts_with("6 crate metadata problem(s)"));
    }

    #[test]
    fn internal_requirements_must_be_versioned_published_and_current() {
        let ws = workspace("deps");
        let root = ws.0.clone();
        let mut meta = fixture(&root);
        let r = root.display().to_string();
        package(&mut meta, "facade")["dependencies"] = json!([
            {"name": "proto", "req": "*", "kind": null, "path": format!("{r}/crates/proto")},
            {"name": "support", "req": "^0.1.0", "kind": null, "path": format!("{r}/crates/support")},
        ]);
        let problems = validate(&packages(&meta), &root, &v("0.1.0"));
        for needle in [
            "facade (crates/facade/Cargo.toml): depends on `proto` without a version",
            "facade (crates/facade/Cargo.toml): depends on `support`, which is `publish = false`",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(needle)),
                "{needle}\n{problems:#?}"
            );
        }
        // A requirement left at the old version after the bump (crates at the new one).
        let mut meta = fixture(&root);
        for p in meta["packages"].as_array_mut().unwrap() {
            p["version"] = json!("0.1.1");
        }
        let problems = validate(&packages(&meta), &root, &v("0.1.1"));
        assert_eq!(
            problems,
            [
                "facade (crates/facade/Cargo.toml): requires `proto ^0.1.0`, not the version being \
                 released (0.1.1): take it from [workspace.dependencies]",
                "proto (crates/proto/Cargo.toml): requires `sign ^0.1.0`, not the version being \
                 released (0.1.1): take it from [workspace.dependencies]",
            ]
        );
    }

    const MANIFEST: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0"
edition = "2024"

[workspace.dependencies]
# Internal crates.
kaifang-sign-core = { path = "crates/sign-core", version = "0.1.0", default-features = false }
kaifang = { path = "crates/facade", version = "0.1.0" }
kaifang-test-support = { path = "crates/test-support" }
other = { version = "0.1.0" }
"#;

    #[test]
    fn the_bump_changes_the_workspace_version_and_internal_requirements_only() {
        let (bumped, internal) = bump_manifest(MANIFEST, &v("0.1.0"), &v("0.2.0")).unwrap();
        assert_eq!(internal, 2);
        assert_eq!(workspace_version(&bumped).unwrap(), v("0.2.0"));
        assert!(bumped.contains(
            r#"kaifang-sign-core = { path = "crates/sign-core", version = "0.2.0", default-features = false }"#
        ));
        assert!(bumped.contains(r#"kaifang = { path = "crates/facade", version = "0.2.0" }"#));
        assert!(bumped.contains(r#"other = { version = "0.1.0" }"#));
        assert_eq!(bumped.lines().count(), MANIFEST.lines().count());
        assert!(bump_manifest(MANIFEST, &v("0.3.0"), &v("0.4.0")).is_err());
    }

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n\n- Everything.\n\n[Unreleased]: https://github.com/o/r/commits/main\n";

    #[test]
    fn the_changelog_moves_unreleased_to_the_version() {
        let (text, has_entries) = release_changelog(
            CHANGELOG,
            &v("0.1.0"),
            "2026-11-23",
            None,
            "https://github.com/o/r",
        )
        .unwrap();
        assert!(has_entries);
        assert_eq!(
            text,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-23\n\n### Added\n\n- Everything.\n\n\
             [Unreleased]: https://github.com/o/r/compare/v0.1.0...HEAD\n\
             [0.1.0]: https://github.com/o/r/releases/tag/v0.1.0\n"
        );
        // The next release: an empty section, compared with the previous tag.
        let (next, has_entries) = release_changelog(
            &text,
            &v("0.1.1"),
            "2026-12-01",
            Some("v0.1.0"),
            "https://github.com/o/r",
        )
        .unwrap();
        assert!(!has_entries);
        assert!(
            next.contains(
                "## [Unreleased]\n\n## [0.1.1] - 2026-12-01\n\n## [0.1.0] - 2026-11-23\n"
            )
        );
        assert!(next.contains(
            "[Unreleased]: https://github.com/o/r/compare/v0.1.1...HEAD\n\
             [0.1.1]: https://github.com/o/r/compare/v0.1.0...v0.1.1\n\
             [0.1.0]: https://github.com/o/r/releases/tag/v0.1.0\n"
        ));
        assert!(release_changelog("# Changelog\n", &v("0.1.0"), "d", None, "r").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_478_399), "2026-11-23");
        assert_eq!(utc_date(1_795_478_400), "2026-11-24");
    }

    #[test]
    fn cargo_output_gives_its_orders() {
        let lines: Vec<String> = [
            "    Updating crates.io index",
            "   Packaging kaifang-proto-core v0.1.0 (/w/crates/proto-core)",
            "    Packaged 24 files, 207.2KiB (56.8KiB compressed)",
            "   Packaging kaifang-sign-core v0.1.0 (/w/crates/sign-core)",
            "   Verifying kaifang-proto-core v0.1.0 (/w/crates/proto-core)",
            "   Uploading kaifang-sign-core v0.1.0 (/w/crates/sign-core)",
            "warning: aborting upload due to dry run",
            "   Uploading kaifang-proto-core v0.1.0 (/w/crates/proto-core)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            cargo_order(&lines, "Packaging"),
            ["kaifang-proto-core", "kaifang-sign-core"]
        );
        assert_eq!(
            cargo_order(&lines, "Uploading"),
            ["kaifang-sign-core", "kaifang-proto-core"]
        );
    }

    #[test]
    fn the_real_workspace_is_publishable_in_order() {
        let root = process::repo_root().unwrap();
        let packages = metadata(&root).unwrap();
        let order = publish_order(&packages).unwrap();
        let position = |name: &str| order.iter().position(|n| n == name).unwrap();
        assert!(position("kaifang-sign-core") < position("kaifang-proto-tianyi"));
        assert!(position("kaifang-proto-core") < position("kaifang-transport-blocking"));
        assert!(position("kaifang") < position("kaifang-cli"));
        for unpublished in [
            "xtask",
            "kaifang-examples",
            "kaifang-benches",
            "kaifang-e2e",
            "kaifang-test-support",
        ] {
            assert!(!order.iter().any(|n| n == unpublished), "{unpublished}");
        }
    }
}
