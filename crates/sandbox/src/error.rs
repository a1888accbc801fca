//! Errors: [`SandboxError`] for start-up, [`ControlError`] for the controls and module hooks.

use std::net::SocketAddr;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Why a sandbox did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The configuration file could not be read.
    #[error("cannot read config file {file}: {source}")]
    ConfigRead {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is malformed, or a value in it is bad. `line`/`column` are 1-based.
    #[error("{}", config_message(.file, *.line, *.column, .field.as_deref(), .message))]
    Config {
        /// The file name (or `<config>` for text given in code).
        file: String,
        /// Line of the error, when known.
        line: Option<usize>,
        /// Column of the error, when known.
        column: Option<usize>,
        /// Dotted path of the bad field (`platforms.demo.clients[0].client_secret`), when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// `[platforms.<name>]` sections that no mounted module claims.
    #[error("{file}: unknown platform section(s) {}; mounted modules: {}", list(.unknown), list(.known))]
    UnknownPlatforms {
        /// The file name.
        file: String,
        /// The unclaimed names.
        unknown: Vec<String>,
        /// The mounted module names.
        known: Vec<String>,
    },
    /// Two modules with the same name.
    #[error("two modules are named `{0}`")]
    DuplicateModule(String),
    /// Two modules (or a module and the controls) claim the same route.
    #[error("route conflict while mounting module `{module}`: {message}")]
    RouteConflict {
        /// The module being mounted.
        module: String,
        /// axum's description of the overlap.
        message: String,
    },
    /// A non-loopback address without `allow_remote`.
    #[error(
        "refusing to listen on {0}: not a loopback address. The sandbox is a test tool with \
         well-known credentials; pass --allow-remote (Builder::allow_remote(true)) only on an \
         isolated network"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The background runtime of [`Builder::start_blocking`](crate::Builder::start_blocking)
    /// could not be created or died.
    #[error("sandbox runtime: {0}")]
    Runtime(String),
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn config_message(
    file: &str,
    line: Option<usize>,
    column: Option<usize>,
    field: Option<&str>,
    message: &str,
) -> String {
    let mut out = file.to_owned();
    if let Some(l) = line {
        out.push_str(&format!(": line {l}"));
        if let Some(c) = column {
            out.push_str(&format!(", column {c}"));
        }
    }
    if let Some(f) = field {
        out.push_str(&format!(": {f}"));
    }
    out.push_str(": ");
    out.push_str(message.trim_end());
    out
}

/// A refused control request or module hook, answered as JSON `{"error": code, "message": ...}`
/// with a 4xx status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No module of that name is mounted (404).
    #[error("unknown platform `{platform}`; mounted: {}", list(.known))]
    UnknownPlatform {
        /// The requested name.
        platform: String,
        /// Mounted module names.
        known: Vec<String>,
    },
    /// The module does not mint that kind (400).
    #[error("platform `{platform}` cannot mint `{kind}`{}", if .supported.is_empty() { String::new() } else { format!("; it mints: {}", list(.supported)) })]
    Unsupported {
        /// The platform.
        platform: String,
        /// The requested kind.
        kind: String,
        /// What it does mint.
        supported: Vec<String>,
    },
    /// A malformed or out-of-range value (400).
    #[error("{0}")]
    BadRequest(String),
    /// Something named does not exist: a token, a fault id, a tenant (404).
    #[error("{0}")]
    NotFound(String),
}

impl ControlError {
    /// The HTTP status the control endpoints answer with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownPlatform { .. } | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unsupported { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The machine-readable code in the JSON body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPlatform { .. } => "unknown_platform",
            Self::Unsupported { .. } => "unsupported",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code(), "message": self.to_string()});
        (self.status(), axum::Json(body)).into_response()
    }
}
