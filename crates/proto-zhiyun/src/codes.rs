//! Zhiyun's codes: the Chinese meaning from the seed document, the server's English message,
//! what to do, and how the token lifecycle treats each.
//!
//! The English messages of 100002, 100008, 100009, 100013, 100018, 100019, 100020, 100021 and
//! 100023 are the real server's (its PHP source is public; note the double spaces in 100008 and
//! 100013). 100013 is absent from the seed document. The message of 100014 and those of the
//! general codes are not public: they are kaifang's choices, marked `message_confirmed: false`.
//!
//! | code | class | why |
//! |---|---|---|
//! | 100019, 100020 | `TokenInvalid` | the cached `auth_code` is gone or stale: the lifecycle expires it and runs `authorize` once |
//! | 100023 | `TokenInvalid` | the cached `auth_code` was issued for another user (the configured `access_token` changed): a new `authorize` fixes it |
//! | 100014 | `Permission` | the user's `access_token` expired: only a new login in the desktop client helps, so no retry |
//! | 100018 | `Permission` | the client's scope lacks the method |
//! | 500 | `Retryable` | |
//! | others | `BadRequest` | configuration or request errors |
//!
//! ```
//! use kaifang_proto_zhiyun::codes::{self, Code};
//! let info = Code::AuthCodeExpired.info();
//! assert_eq!(info.en, "authorization code expired, please reauthorize");
//! assert_eq!(info.zh, "授权码已经过期,请重启授权");
//! assert_eq!(codes::lookup(100008).unwrap().en, "The client_id  does not exist.");
//! ```

use kaifang_proto_core::envelope::Classified;
use kaifang_proto_core::{Error, ErrorClass};

/// The success code.
pub const SUCCESS: i64 = 200;
/// The success message.
pub const SUCCESS_MESSAGE: &str = "ok";

/// Every known code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// 200 成功码.
    Ok,
    /// 304 未修改.
    NotModified,
    /// 400 请求无效; also the sandbox's answer to a stale `t_` or a wrong `p_` \[I\].
    BadRequest,
    /// 401 未授权.
    Unauthorized,
    /// 500 服务内部错误.
    InternalError,
    /// 501 不支持该客户端.
    ClientNotSupported,
    /// 601 参数非法: a parameter missing or malformed \[I: the filter layer's code is not public\].
    IllegalParameter,
    /// 602 内容为空: a parameter present but empty, or no data for the user \[I\].
    EmptyContent,
    /// 100002: the query `client_id` differs from the Basic user name.
    ClientIdIllegal,
    /// 100008: unknown `client_id`.
    ClientIdNotFound,
    /// 100009: `Authorization: Basic` missing or malformed.
    HeaderAuthIllegal,
    /// 100013: wrong `client_secret` (not in the seed document).
    ClientSecretIllegal,
    /// 100014: the user's `access_token` expired (about 3 months after the desktop login).
    AccessTokenExpired,
    /// 100018: the auth code's scope lacks this method.
    ScopeDenied,
    /// 100019: the auth code does not exist.
    AuthCodeMissing,
    /// 100020: the auth code expired.
    AuthCodeExpired,
    /// 100021: the auth code belongs to another client.
    AuthCodeWrongClient,
    /// 100023: the auth code belongs to another user.
    AuthCodeWrongUser,
}

impl Code {
    /// Every code, in table order.
    pub const ALL: [Code; 18] = [
        Code::Ok,
        Code::NotModified,
        Code::BadRequest,
        Code::Unauthorized,
        Code::InternalError,
        Code::ClientNotSupported,
        Code::IllegalParameter,
        Code::EmptyContent,
        Code::ClientIdIllegal,
        Code::ClientIdNotFound,
        Code::HeaderAuthIllegal,
        Code::ClientSecretIllegal,
        Code::AccessTokenExpired,
        Code::ScopeDenied,
        Code::AuthCodeMissing,
        Code::AuthCodeExpired,
        Code::AuthCodeWrongClient,
        Code::AuthCodeWrongUser,
    ];

    /// The numeric code.
    pub const fn value(self) -> i64 {
        match self {
            Code::Ok => 200,
            Code::NotModified => 304,
            Code::BadRequest => 400,
            Code::Unauthorized => 401,
            Code::InternalError => 500,
            Code::ClientNotSupported => 501,
            Code::IllegalParameter => 601,
            Code::EmptyContent => 602,
            Code::ClientIdIllegal => 100_002,
            Code::ClientIdNotFound => 100_008,
            Code::HeaderAuthIllegal => 100_009,
            Code::ClientSecretIllegal => 100_013,
            Code::AccessTokenExpired => 100_014,
            Code::ScopeDenied => 100_018,
            Code::AuthCodeMissing => 100_019,
            Code::AuthCodeExpired => 100_020,
            Code::AuthCodeWrongClient => 100_021,
            Code::AuthCodeWrongUser => 100_023,
        }
    }

    /// The code for a number, if known.
    pub fn from_value(code: i64) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.value() == code)
    }

    /// The code of a Zhiyun platform error.
    ///
    /// ```
    /// use kaifang_proto_zhiyun::codes::Code;
    /// let err = Code::AccessTokenExpired.to_error();
    /// assert_eq!(Code::of(&err), Some(Code::AccessTokenExpired));
    /// assert!(err.to_string().contains("致云桌面"));
    /// ```
    pub fn of(err: &Error) -> Option<Code> {
        let p = err.platform().filter(|p| p.platform == PLATFORM)?;
        Code::from_value(p.code.trim().parse().ok()?)
    }

    /// The table row.
    pub fn info(self) -> &'static CodeInfo {
        let value = self.value();
        // Every `Code` has a row (checked by a test); the fallback is the 500 row.
        TABLE
            .iter()
            .find(|row| row.code == value)
            .unwrap_or(&TABLE[4])
    }

    /// The platform error the client reports for this code, with the server's message.
    pub fn to_error(self) -> Error {
        let info = self.info();
        Error::Platform(kaifang_proto_core::error::PlatformError {
            platform: PLATFORM,
            code: info.code.to_string(),
            message: info.en.to_owned(),
            hint: Some(info.hint),
            class: info.class,
        })
    }
}

/// The platform name in errors.
pub const PLATFORM: &str = "zhiyun";

/// One row of the code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The numeric code.
    pub code: i64,
    /// The meaning in Chinese, as the seed document says it.
    pub zh: &'static str,
    /// The server's English message (exact when `message_confirmed`).
    pub en: &'static str,
    /// Chinese meaning, English meaning and what to do: the `hint` of the client's error.
    pub hint: &'static str,
    /// How the lifecycle treats it.
    pub class: ErrorClass,
    /// `en` is the real server's message (from its PHP source) rather than kaifang's choice.
    pub message_confirmed: bool,
    /// The code is in the seed document or the server's source.
    pub code_confirmed: bool,
}

macro_rules! row {
    ($code:expr, $zh:literal, $en:literal, $meaning:literal, $todo:literal, $class:ident, msg $mc:literal, code $cc:literal) => {
        CodeInfo {
            code: $code,
            zh: $zh,
            en: $en,
            hint: concat!($zh, " / ", $meaning, ". ", $todo),
            class: ErrorClass::$class,
            message_confirmed: $mc,
            code_confirmed: $cc,
        }
    };
}

/// The whole table.
pub const TABLE: &[CodeInfo] = &[
    row!(200, "成功码", "ok", "success", "Nothing to do.", Other, msg true, code true),
    row!(304, "未修改", "Not Modified", "not modified", "The resource did not change since the last call.", Other, msg false, code true),
    row!(400, "请求无效", "Bad Request", "invalid request",
        "The request is malformed; the sandbox also answers 400 when t_ is too far from the server's clock or p_ is not (t_ % 10000) * 3 + 2345: check the machine's clock and the t_ unit.",
        BadRequest, msg false, code true),
    row!(401, "未授权", "Unauthorized", "unauthorized",
        "The client is not authorized for this call: check client_id and client_secret.",
        Permission, msg false, code true),
    row!(500, "服务内部错误", "Internal Server Error", "internal server error",
        "The Zhiyun server failed; retry later.", Retryable, msg false, code true),
    row!(501, "不支持该客户端", "Client not supported", "this client is not supported",
        "The client is not allowed to use this API: ask the Zhiyun open platform to enable it.",
        BadRequest, msg false, code true),
    row!(601, "参数非法", "Illegal parameter", "illegal parameter",
        "A required query parameter (access_token, client_id, auth_code, t_, p_) is missing or malformed.",
        BadRequest, msg false, code true),
    row!(602, "内容为空", "Empty content", "empty content",
        "A required parameter is empty, or the server holds no data for this user.",
        BadRequest, msg false, code true),
    row!(100_002, "client_id 访问非法", "Client_id access is illegal", "client_id access is illegal",
        "The client_id query parameter must equal the HTTP Basic user name: check the configured client_id.",
        BadRequest, msg true, code true),
    row!(100_008, "该client_id 不存在", "The client_id  does not exist.", "this client_id does not exist",
        "The Basic user name is not a registered client: check client_id (10 digits, issued by the open platform).",
        BadRequest, msg true, code true),
    row!(100_009, "HTTP协议头认证非法", "http header authentication is illegal", "HTTP header authentication is illegal",
        "Every call needs `Authorization: Basic base64(client_id:client_secret)`; a proxy may have stripped it.",
        BadRequest, msg true, code true),
    row!(100_013, "client_secret 访问非法", "client_secret  access is illegal", "client_secret access is illegal",
        "The Basic password is not the client's secret: check client_secret.",
        BadRequest, msg true, code true),
    row!(100_014, "访问token已过期,过期时间一般为3个月", "access token expired, please log in again", "the user's access token expired (it lives about 3 months)",
        "Log in to the Zhiyun desktop client (致云桌面) again, copy the new access_token and update the configured access_token; retrying will not help.",
        Permission, msg false, code true),
    row!(100_018, "该授权码无权限访问", "The authorization code does not have permission to access", "the authorization code has no permission for this method",
        "The client's scope lacks this method (e.g. getCompanyInfo): ask the open platform to add it to the client's scope.",
        Permission, msg true, code true),
    row!(100_019, "授权码不存在,请重新授权", "Authorization code does not exist, please reauthorize", "the authorization code does not exist",
        "The cached auth_code is unknown to the server: it is renewed through authorize automatically.",
        TokenInvalid, msg true, code true),
    row!(100_020, "授权码已经过期,请重启授权", "authorization code expired, please reauthorize", "the authorization code expired",
        "The cached auth_code outlived its server-side lifetime: it is renewed through authorize automatically; if this repeats, lower auth_code_ttl_secs.",
        TokenInvalid, msg true, code true),
    row!(100_021, "授权客户端非法持有授权码", "Authorized client illegally holds authorization code", "the authorization code belongs to another client",
        "The auth_code was issued to another client_id: a token store shared between clients must key auth codes by client_id.",
        BadRequest, msg true, code true),
    row!(100_023, "授权用户非法持有授权码", "Authorized user illegally holds authorization code", "the authorization code belongs to another user",
        "The auth_code was issued for another access_token's user (the configured access_token changed): it is renewed through authorize automatically.",
        TokenInvalid, msg true, code true),
];

/// The row for `code`, if known.
pub fn lookup(code: i64) -> Option<&'static CodeInfo> {
    TABLE.iter().find(|row| row.code == code)
}

/// Classification for the envelope check (`code` as text).
pub fn classify(code: &str, _message: &str) -> Classified {
    match code.trim().parse::<i64>().ok().and_then(lookup) {
        Some(info) => Classified::new(info.class).hint(info.hint),
        None => Classified::new(ErrorClass::Other),
    }
}

/// `true` when the error says the configured `access_token` expired (100014): the user must log
/// in to the Zhiyun desktop client again and the configuration must be updated.
pub fn is_access_token_expired(err: &Error) -> bool {
    Code::of(err) == Some(Code::AccessTokenExpired)
}
