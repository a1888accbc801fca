//! The three endpoints and the two formats: `GET /apis/rest/<service>/<method>/<json|xml>`.
//!
//! Shared by both halves: the client builds these paths, the server routes them.
//!
//! ```
//! use kaifang_proto_zhiyun::{Endpoint, Format};
//! assert_eq!(Endpoint::Authorize.path(Format::Json), "/apis/rest/authService/authorize/json");
//! assert_eq!(Endpoint::GetUserInfo.path(Format::Xml), "/apis/rest/userService/getUserInfo/xml");
//! assert_eq!(
//!     Endpoint::route("/apis/rest/CompanyService/getCompanyInfo/json"),
//!     Some((Endpoint::GetCompanyInfo, Format::Json))
//! );
//! ```

use serde::Deserialize;

/// Path prefix of every call.
pub const PREFIX: &str = "/apis/rest/";

/// The response format, the last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `json` (default): `{"data":…,"code":200,"message":"ok"}`.
    #[default]
    Json,
    /// `xml`: `<?xml …?><response><code>200</code><message>ok</message><data>…</data></response>`
    /// (the shape is not public \[I\]; see [`crate::xml`]).
    Xml,
}

impl Format {
    /// The path segment.
    pub const fn segment(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }

    /// The `Content-Type` the server half answers with.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }

    /// The `Accept` header the client sends.
    pub const fn accept(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }

    /// Parses a segment, ignoring ASCII case.
    pub fn from_segment(s: &str) -> Option<Format> {
        if s.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else if s.eq_ignore_ascii_case("xml") {
            Some(Format::Xml)
        } else {
            None
        }
    }
}

/// One of the three calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `authService/authorize`: `access_token` → `auth_code`. No `client_id` parameter (the
    /// client is the Basic user).
    Authorize,
    /// `userService/getUserInfo`: the user behind the access token.
    GetUserInfo,
    /// `companyService/getCompanyInfo`: that user's company.
    GetCompanyInfo,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 3] = [
        Endpoint::Authorize,
        Endpoint::GetUserInfo,
        Endpoint::GetCompanyInfo,
    ];

    /// The service segment as the seed document spells it.
    pub const fn service(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authService",
            Endpoint::GetUserInfo => "userService",
            Endpoint::GetCompanyInfo => "companyService",
        }
    }

    /// The method segment; also the name checked against an auth code's scope (PHP
    /// `__FUNCTION__`).
    pub const fn method(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::GetUserInfo => "getUserInfo",
            Endpoint::GetCompanyInfo => "getCompanyInfo",
        }
    }

    /// `true` for the calls that take `client_id` and `auth_code`.
    pub const fn needs_auth_code(self) -> bool {
        !matches!(self, Endpoint::Authorize)
    }

    /// The query parameters, in the order the client sends them.
    pub const fn params(self) -> &'static [&'static str] {
        match self {
            Endpoint::Authorize => &["access_token", "t_", "p_"],
            _ => &["access_token", "client_id", "auth_code", "t_", "p_"],
        }
    }

    /// `/apis/rest/{service}/{method}/{format}`.
    pub fn path(self, format: Format) -> String {
        format!(
            "{PREFIX}{}/{}/{}",
            self.service(),
            self.method(),
            format.segment()
        )
    }

    /// A short stable name for spans (`zhiyun.get_user_info`).
    pub const fn name(self) -> &'static str {
        match self {
            Endpoint::Authorize => "zhiyun.authorize",
            Endpoint::GetUserInfo => "zhiyun.get_user_info",
            Endpoint::GetCompanyInfo => "zhiyun.get_company_info",
        }
    }

    /// Routes a request path (no query). The service and method segments are compared ignoring
    /// ASCII case (the PHP apidoc spells `UserService`, the seed `userService`, and PHP method
    /// names are case-insensitive) \[I\]; a trailing `/` is accepted.
    pub fn route(path: &str) -> Option<(Endpoint, Format)> {
        let rest = path.strip_prefix(PREFIX)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut parts = rest.split('/');
        let (service, method, format) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let format = Format::from_segment(format)?;
        let endpoint = Endpoint::ALL.into_iter().find(|e| {
            e.service().eq_ignore_ascii_case(service) && e.method().eq_ignore_ascii_case(method)
        })?;
        Some((endpoint, format))
    }
}
