//! Tianyi's error codes, what they mean, what to do, and how the token lifecycle treats them.
//!
//! Codes with `confirmed: true` were seen in public clients, demos or the official FAQ. The others
//! are the sandbox's choices for situations whose real code is not public (signature mismatch,
//! bad params, stale timestamp, invalid tokens); they are kept in one place so a correction is
//! one line.

use kaifang_proto_core::ErrorClass;
use kaifang_proto_core::envelope::Classified;

/// One row of the code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The numeric code.
    pub code: i64,
    /// The platform's message (Chinese, as the server sends it).
    pub message: &'static str,
    /// What the code means and what to do, in English.
    pub hint: &'static str,
    /// How the lifecycle treats it.
    pub class: ErrorClass,
    /// Seen in public sources (`true`) or chosen by kaifang's sandbox (`false`).
    pub confirmed: bool,
}

/// `code: 0`.
pub const SUCCESS: i64 = 0;
/// The `apiVersion: 2.0` header is missing (the server says the app does not exist).
pub const API_VERSION_MISSING: i64 = 70012;
/// The app does not exist.
pub const APP_NOT_FOUND: i64 = 30043;
/// The grant type does not match the app type.
pub const GRANT_TYPE_MISMATCH: i64 = 30040;
/// A platform app called without `enterpriseUser`.
pub const ENTERPRISE_USER_MISSING: i64 = 30045;
/// No callback domain configured in the portal.
pub const CALLBACK_DOMAIN_EMPTY: i64 = 40104;
/// The callback URL's domain is not the configured one.
pub const CALLBACK_ILLEGAL: i64 = 40105;
/// The signature does not match (sandbox choice).
pub const SIGNATURE_MISMATCH: i64 = 10001;
/// Missing or undecryptable parameters (sandbox choice).
pub const BAD_PARAMS: i64 = 10002;
/// The timestamp is outside the accepted window (sandbox choice).
pub const TIMESTAMP_EXPIRED: i64 = 10003;
/// The access token is unknown, expired or revoked (sandbox choice).
pub const ACCESS_TOKEN_INVALID: i64 = 30002;
/// The refresh token is unknown, expired or already used (sandbox choice).
pub const REFRESH_TOKEN_INVALID: i64 = 30003;
/// The authorization code is unknown, expired or already used (sandbox choice).
pub const AUTH_CODE_INVALID: i64 = 30004;
/// IP whitelist refusal (also sent with an upper-case `CODE` key).
pub const IP_WHITELIST: i64 = 20103;

/// The whole table.
pub const TABLE: &[CodeInfo] = &[
    row(
        70012,
        "应用不存在",
        "The server did not see the header `apiVersion: 2.0`; send it, and put the signed fields (appId, clientType, params, timestamp, version, signature) in the form body, not in the query or headers.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        30043,
        "应用不存在",
        "The appId is unknown: check the AppID of your application in the portal.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        30040,
        "授权类型与app类型不匹配",
        "The grantType does not fit the app: standard apps use auth_code / 189_code, platform apps use vcp_189.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        30045,
        "企业主应用授权为空",
        "Platform apps must send enterpriseUser (the enterprise owner's phone number) on every call, and the owner must be added in the portal.",
        ErrorClass::Permission,
        true,
    ),
    row(
        40104,
        "回调域名为空",
        "No callback domain is configured for the app: set 授权回调域名 in the portal (with the protocol, e.g. http://host:port).",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        40105,
        "回调地址非法",
        "The callbackUrl's domain differs from the configured callback domain (only protocol, host and port are compared).",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        30032,
        "应用无接口权限",
        "The app has no permission for this API: request it in the portal.",
        ErrorClass::Permission,
        true,
    ),
    row(
        30052,
        "商品未开通",
        "The product is not activated for this account.",
        ErrorClass::Permission,
        true,
    ),
    row(
        30201,
        "接口不支持",
        "This interface is not supported for the app or version.",
        ErrorClass::BadRequest,
        true,
    ),
    row(
        20103,
        "IP白名单校验失败",
        "The caller's egress IP is not whitelisted: add the IP from the error message to 服务器IP in the portal.",
        ErrorClass::Permission,
        true,
    ),
    row(
        30108,
        "IP白名单校验失败",
        "The caller's egress IP is not whitelisted: add it to 服务器IP in the portal.",
        ErrorClass::Permission,
        true,
    ),
    row(
        50004,
        "获取业务树目录列表异常",
        "The platform failed to read the region tree; retry later.",
        ErrorClass::Retryable,
        true,
    ),
    row(
        20001,
        "用户无设备权限",
        "The user has no permission on this device.",
        ErrorClass::Permission,
        true,
    ),
    row(
        30041,
        "设备信息查询失败",
        "The device query failed (seen on getDeviceInfoByDeviceCode); retry after a pause.",
        ErrorClass::Retryable,
        true,
    ),
    row(
        10001,
        "签名错误",
        "The signature does not match: HMAC-SHA256 with the whole appSecret over appId + clientType + params + timestamp + version, with params exactly as sent.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        10002,
        "参数错误",
        "The params could not be decrypted or a required field is missing: XXTEA with the first 16 bytes of appSecret, xxtea-py framing, hex.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        10003,
        "时间戳过期",
        "The timestamp (Unix milliseconds) is too far from the server's time: check the clock.",
        ErrorClass::BadRequest,
        false,
    ),
    row(
        30002,
        "accessToken无效或已过期",
        "The access token is invalid, expired or revoked: get a new one.",
        ErrorClass::TokenInvalid,
        false,
    ),
    row(
        30003,
        "refreshToken无效或已过期",
        "The refresh token is invalid, expired or already used: run the full grant again.",
        ErrorClass::TokenInvalid,
        false,
    ),
    row(
        30004,
        "authCode无效或已过期",
        "The authorization code is invalid, expired (5 minutes) or already used: log in again.",
        ErrorClass::BadRequest,
        false,
    ),
];

const fn row(
    code: i64,
    message: &'static str,
    hint: &'static str,
    class: ErrorClass,
    confirmed: bool,
) -> CodeInfo {
    CodeInfo {
        code,
        message,
        hint,
        class,
        confirmed,
    }
}

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
