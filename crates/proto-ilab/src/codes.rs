//! The platform's answer codes, per endpoint: the Chinese message the server sends, what it
//! means in English, what to do, and how the token lifecycle treats it.
//!
//! The same number means different things on different endpoints (`3` is "ticket expired" on
//! the token endpoint and "invalid token" on uploads), so every table is per [`Endpoint`].
//!
//! | endpoint | codes | source |
//! |---|---|---|
//! | token | 0, 1, 2, 3, 4, other | confirmed (seed) |
//! | refresh | 0, 1, 2, 3, 4 mirror the token endpoint; 5, 6 for the two refresh rules | the rules are confirmed, the numbers are the sandbox's choice |
//! | upload | 0, 1, 2, 3; 4 for a missing scope | the numbers are the sandbox's choice (no public table) |
//!
//! Refusals the client makes before calling (the refresh rules, a new ticket needed) use text
//! codes in [`client`], so they never collide with the platform's numbers.
//!
//! ```
//! use kaifang_proto_ilab::codes::{self, Endpoint, Kind};
//! let info = codes::lookup(Endpoint::Token, 2).unwrap();
//! assert_eq!(info.kind, Kind::SignatureMismatch);
//! assert!(info.hint.contains("DECODED"));
//! assert_eq!(codes::lookup(Endpoint::Upload, 3).unwrap().kind, Kind::TokenInvalid);
//! ```

use kaifang_proto_core::envelope::Classified;
use kaifang_proto_core::error::PlatformError;
use kaifang_proto_core::{Error, ErrorClass};

/// Which endpoint answered (codes are per endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Ticket → token.
    Token,
    /// Refresh.
    Refresh,
    /// data_upload and attachment_upload.
    Upload,
}

/// What a code means, whatever its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `0`.
    Success,
    /// 参数错误: a parameter is missing or malformed.
    MissingParameter,
    /// 密钥错误: the signature does not match.
    SignatureMismatch,
    /// ticket 过期.
    TicketExpired,
    /// 无效 ticket (unknown, for another app, or already used).
    TicketInvalid,
    /// refresh token 过期.
    RefreshTokenExpired,
    /// 无效 refresh token.
    RefreshTokenInvalid,
    /// The original token was already refreshed twice.
    RefreshLimitReached,
    /// A token obtained by refresh cannot be refreshed.
    RefreshedTokenNotRefreshable,
    /// The access token expired (uploads).
    TokenExpired,
    /// The access token is invalid (uploads).
    TokenInvalid,
    /// The token lacks the scope `callback:score` (uploads).
    ScopeMissing,
    /// No usable token and no ticket: the user must click 我要做实验 again (client-side).
    NewTicketNeeded,
    /// 系统错误或非法操作 (any other code).
    System,
}

/// One row of a code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The number.
    pub code: i64,
    /// What it means.
    pub kind: Kind,
    /// The server's message (Chinese, as sent).
    pub message: &'static str,
    /// The meaning in English and what to do.
    pub hint: &'static str,
    /// How the lifecycle treats it.
    pub class: ErrorClass,
    /// Seen in a public source (`true`) or chosen by kaifang's sandbox (`false`).
    pub confirmed: bool,
}

/// `code: 0`.
pub const SUCCESS: i64 = 0;
/// 参数错误 (every endpoint).
pub const PARAM_ERROR: i64 = 1;
/// 密钥错误 (token and refresh).
pub const SIGNATURE_MISMATCH: i64 = 2;
/// ticket 过期 (token).
pub const TICKET_EXPIRED: i64 = 3;
/// 无效 ticket (token).
pub const TICKET_INVALID: i64 = 4;
/// refresh token 过期 (refresh).
pub const REFRESH_EXPIRED: i64 = 3;
/// 无效 refresh token (refresh).
pub const REFRESH_INVALID: i64 = 4;
/// 刷新次数已达上限 (refresh).
pub const REFRESH_LIMIT: i64 = 5;
/// 刷新获得的令牌不能再次刷新 (refresh).
pub const REFRESH_NOT_ALLOWED: i64 = 6;
/// token 过期 (uploads).
pub const TOKEN_EXPIRED: i64 = 2;
/// 无效 token (uploads).
pub const TOKEN_INVALID: i64 = 3;
/// 权限不足: no `callback:score` scope (uploads).
pub const SCOPE_MISSING: i64 = 4;
/// What the sandbox sends for 系统错误或非法操作 (wrong method, internal failure).
pub const SYSTEM_ERROR: i64 = -1;

const SIGN_HINT: &str = "Signature mismatch (密钥错误): signature = UPPER(hex(MD5(value + appid + secret))) over the DECODED value (the ticket after URL-decoding, the refresh token as returned); the URL carries it encoded once. Check the appid and secret too.";

/// Ticket → token.
pub const TOKEN: &[CodeInfo] = &[
    row(
        1,
        Kind::MissingParameter,
        "参数错误",
        "Missing parameter (参数错误): ticket, appid and signature are all required.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        2,
        Kind::SignatureMismatch,
        "密钥错误",
        SIGN_HINT,
        ErrorClass::BadRequest,
        true,
    ),
    row(
        3,
        Kind::TicketExpired,
        "ticket过期",
        "Ticket expired (ticket过期): the user must click 我要做实验 again to get a new ticket.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        4,
        Kind::TicketInvalid,
        "无效ticket",
        "Invalid ticket (无效ticket): unknown, issued for another experiment, or already used (a ticket works once); the user must click 我要做实验 again.",
        ErrorClass::BadRequest,
        true,
    ),
];

/// Refresh.
pub const REFRESH: &[CodeInfo] = &[
    row(
        1,
        Kind::MissingParameter,
        "参数错误",
        "Missing parameter (参数错误): the refresh value, appid and signature are all required.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        2,
        Kind::SignatureMismatch,
        "密钥错误",
        SIGN_HINT,
        ErrorClass::BadRequest,
        false,
    ),
    row(
        3,
        Kind::RefreshTokenExpired,
        "refresh_token过期",
        "Refresh token expired (refresh_token过期): the user must click 我要做实验 again.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        4,
        Kind::RefreshTokenInvalid,
        "无效refresh_token",
        "Invalid refresh token (无效refresh_token): unknown or for another experiment; the user must click 我要做实验 again.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        5,
        Kind::RefreshLimitReached,
        "刷新次数已达上限",
        "Refresh limit reached (刷新次数已达上限): the original token may be refreshed at most twice; the user must click 我要做实验 again.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        6,
        Kind::RefreshedTokenNotRefreshable,
        "刷新获得的令牌不能再次刷新",
        "Not refreshable (刷新获得的令牌不能再次刷新): a token obtained by refresh cannot itself be refreshed; refresh with the ORIGINAL token's refresh value (at most twice).",
        ErrorClass::BadRequest,
        false,
    ),
];

/// data_upload and attachment_upload.
pub const UPLOAD: &[CodeInfo] = &[
    row(
        1,
        Kind::MissingParameter,
        "参数错误",
        "Parameter error (参数错误): a required field is missing or invalid (see the message); for a report, call data_upload first with the same originId.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        2,
        Kind::TokenExpired,
        "token过期",
        "Token expired (token过期): refresh the token before uploading (tokens live 24 h; refresh when the experiment outlived it).",
        ErrorClass::TokenInvalid,
        false,
    ),
    row(
        3,
        Kind::TokenInvalid,
        "无效token",
        "Invalid token (无效token): unknown or revoked; send the access_token of the token answer, URL-encoded once.",
        ErrorClass::TokenInvalid,
        false,
    ),
    row(
        4,
        Kind::ScopeMissing,
        "权限不足",
        "Insufficient scope (权限不足): uploads need a token with the scope callback:score.",
        ErrorClass::Permission,
        false,
    ),
];

const SYSTEM_HINT: &str = "System error or illegal operation (系统错误或非法操作): retry later; if it persists, check the method and path.";

const fn row(
    code: i64,
    kind: Kind,
    message: &'static str,
    hint: &'static str,
    class: ErrorClass,
    confirmed: bool,
) -> CodeInfo {
    CodeInfo {
        code,
        kind,
        message,
        hint,
        class,
        confirmed,
    }
}

/// The table of `endpoint`.
pub const fn table(endpoint: Endpoint) -> &'static [CodeInfo] {
    match endpoint {
        Endpoint::Token => TOKEN,
        Endpoint::Refresh => REFRESH,
        Endpoint::Upload => UPLOAD,
    }
}

/// The row for `code` on `endpoint` (`None` for 0 and for unknown codes: 系统错误).
pub fn lookup(endpoint: Endpoint, code: i64) -> Option<&'static CodeInfo> {
    table(endpoint).iter().find(|row| row.code == code)
}

/// The message the server sends with `code` (系统错误或非法操作 for unknown codes).
pub fn message(endpoint: Endpoint, code: i64) -> &'static str {
    match code {
        SUCCESS => "调用成功，返回所需数据",
        _ => lookup(endpoint, code).map_or("系统错误或非法操作", |row| row.message),
    }
}

/// Classification for the envelope check of `endpoint`.
pub fn classify(endpoint: Endpoint, code: &str) -> Classified {
    match code
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|c| lookup(endpoint, c))
    {
        Some(info) => Classified::new(info.class).hint(info.hint),
        None => Classified::new(ErrorClass::Other).hint(SYSTEM_HINT),
    }
}

/// What `err` means, given the endpoint that produced it (platform codes) or the client's own
/// refusals ([`client`] codes). `None` for errors that are not answers (transport, decoding).
///
/// ```
/// use kaifang_proto_ilab::codes::{self, Endpoint, Kind};
/// let err = codes::client::refresh_limit_reached(2);
/// assert_eq!(codes::kind_of(&err, Endpoint::Refresh), Some(Kind::RefreshLimitReached));
/// ```
pub fn kind_of(err: &Error, endpoint: Endpoint) -> Option<Kind> {
    let p = err.platform()?;
    if p.platform != PLATFORM {
        return None;
    }
    match p.code.as_str() {
        client::REFRESH_LIMIT => return Some(Kind::RefreshLimitReached),
        client::REFRESHED_NOT_REFRESHABLE => return Some(Kind::RefreshedTokenNotRefreshable),
        client::NEW_TICKET_NEEDED => return Some(Kind::NewTicketNeeded),
        _ => {}
    }
    let code = p.code.trim().parse::<i64>().ok()?;
    Some(lookup(endpoint, code).map_or(Kind::System, |row| row.kind))
}

/// The platform name in errors.
pub const PLATFORM: &str = "ilab";

/// Refusals the client makes before calling, as [`Error::Platform`] with text codes.
pub mod client {
    use super::{Error, ErrorClass, PLATFORM, PlatformError};

    /// The original token was refreshed twice already.
    pub const REFRESH_LIMIT: &str = "refresh_limit_reached";
    /// The token came from a refresh.
    pub const REFRESHED_NOT_REFRESHABLE: &str = "refreshed_token_not_refreshable";
    /// No usable token, refresh or ticket.
    pub const NEW_TICKET_NEEDED: &str = "new_ticket_needed";

    fn error(code: &str, message: String, hint: &'static str) -> Error {
        Error::Platform(PlatformError {
            platform: PLATFORM,
            code: code.to_owned(),
            message,
            hint: Some(hint),
            class: ErrorClass::BadRequest,
        })
    }

    /// The refusal of a third refresh (said before calling).
    pub fn refresh_limit_reached(used: u8) -> Error {
        error(
            REFRESH_LIMIT,
            format!(
                "刷新次数已达上限: the original token was already refreshed {used} times (at most 2)"
            ),
            "The platform lets the ORIGINAL token be refreshed at most twice; for a longer session the user must click 我要做实验 again.",
        )
    }

    /// The refusal to refresh a token that came from a refresh (said before calling).
    pub fn refreshed_not_refreshable() -> Error {
        error(
            REFRESHED_NOT_REFRESHABLE,
            "刷新获得的令牌不能再次刷新: this token was obtained by refresh".to_owned(),
            "A token obtained by refresh cannot itself be refreshed: refresh with the original token's refresh value (IlabSession does), at most twice.",
        )
    }

    /// No ticket left to log in with.
    pub fn new_ticket_needed(why: &str) -> Error {
        error(
            NEW_TICKET_NEEDED,
            format!("需要新的ticket: {why}"),
            "Tickets work once: the user must click 我要做实验 on the platform again, and the new ticket be given to the token source.",
        )
    }
}
