//! The server half: verify an incoming request the way Tianyi's server does, and build its
//! answers. The sandbox is made of these functions; anyone emulating Tianyi can use them.
//!
//! [`verify`] checks, in this order (each failure is the platform's answer, a [`Refusal`]):
//! 1. the `apiVersion: 2.0` header → 70012;
//! 2. the form's public fields present → 10002; a known `appId` → 30043;
//! 3. the HMAC over the *received* `params`, compared ignoring hex case → 10001;
//! 4. decryption of `params` (either hex case) → 10002;
//! 5. the timestamp within the window → 10003.
//!
//! Endpoint rules come after: [`check_callback`] (40104 / 40105), [`check_grant`] (30040),
//! [`check_enterprise_user`] (30045).

use std::fmt;

use http::header::CONTENT_TYPE;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use serde_json::{Value, json};

use crate::app::AppKind;
use crate::codes::{self, CodeInfo};
use crate::envelope::API_VERSION;
use crate::params::PrivateParams;

/// An app as the server knows it.
#[derive(Clone)]
pub struct ServerApp {
    /// `appId`.
    pub app_id: String,
    /// `appSecret`.
    pub secret: SecretString,
    /// Display name (login page).
    pub name: String,
    /// Standard or platform.
    pub kind: AppKind,
    /// 授权回调域名: `protocol://host[:port]`; `None` when not configured (→ 40104).
    pub callback_domain: Option<String>,
    /// Enterprise owners allowed for a platform app (empty: any non-empty value).
    pub enterprise_users: Vec<String>,
}

impl fmt::Debug for ServerApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerApp")
            .field("app_id", &self.app_id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("callback_domain", &self.callback_domain)
            .finish_non_exhaustive()
    }
}

/// The platform's refusal: a code and message, rendered as the real server renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// IP-whitelist refusals use upper-case `CODE` / `MSG` keys.
    pub upper_case_keys: bool,
}

impl Refusal {
    /// The refusal for `code` with the table's message.
    pub fn code(code: i64) -> Self {
        let message = codes::lookup(code).map_or("系统错误", |info: &CodeInfo| info.message);
        Refusal {
            code,
            message: message.to_owned(),
            upper_case_keys: code == codes::IP_WHITELIST,
        }
    }

    /// The same with a more specific message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        if self.upper_case_keys {
            json!({"CODE": self.code, "MSG": self.message})
        } else {
            json!({"code": self.code, "msg": self.message, "data": null})
        }
    }

    /// The HTTP response (status 200, as the platform answers errors).
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        json_response(&self.body())
    }
}

/// What a verified request carries.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `appId`.
    pub app_id: String,
    /// `clientType` as sent.
    pub client_type: String,
    /// `version` as sent.
    pub version: String,
    /// `timestamp` (ms).
    pub timestamp: i64,
    /// The decrypted private params.
    pub params: PrivateParams,
}

/// Verification settings.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// How far the timestamp may be from the server's clock, in ms (real value unknown;
    /// default 10 minutes).
    pub timestamp_window_ms: i64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timestamp_window_ms: 10 * 60 * 1000,
        }
    }
}

/// Verifies a request's header and form body (see the module docs for the order).
///
/// # Errors
/// The platform's [`Refusal`] for the first failed check.
pub fn verify<F>(
    headers: &http::HeaderMap,
    body: &[u8],
    now_ms: i64,
    find_app: F,
    opts: VerifyOptions,
) -> Result<(ServerApp, Verified), Refusal>
where
    F: FnOnce(&str) -> Option<ServerApp>,
{
    let header_ok = headers
        .get_all("apiversion")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.trim() == API_VERSION));
    if !header_ok {
        return Err(Refusal::code(codes::API_VERSION_MISSING));
    }
    let mut fields = Fields::default();
    for (k, v) in form_urlencoded::parse(body) {
        let slot = match k.as_ref() {
            "appId" => &mut fields.app_id,
            "clientType" => &mut fields.client_type,
            "params" => &mut fields.params,
            "timestamp" => &mut fields.timestamp,
            "version" => &mut fields.version,
            "signature" => &mut fields.signature,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.into_owned());
        }
    }
    let missing =
        |name: &str| Refusal::code(codes::BAD_PARAMS).with_message(format!("参数错误: 缺少{name}"));
    let app_id = fields.app_id.ok_or_else(|| missing("appId"))?;
    let app = find_app(&app_id).ok_or_else(|| Refusal::code(codes::APP_NOT_FOUND))?;
    let client_type = fields.client_type.ok_or_else(|| missing("clientType"))?;
    let params = fields.params.ok_or_else(|| missing("params"))?;
    let timestamp_text = fields.timestamp.ok_or_else(|| missing("timestamp"))?;
    let version = fields.version.ok_or_else(|| missing("version"))?;
    let signature = fields.signature.ok_or_else(|| missing("signature"))?;
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| Refusal::code(codes::BAD_PARAMS).with_message("参数错误: timestamp"))?;
    let client_type_num: u32 = client_type
        .parse()
        .map_err(|_| Refusal::code(codes::BAD_PARAMS).with_message("参数错误: clientType"))?;

    let signer = TianyiSigner::new(app.secret.expose_secret().as_bytes());
    let sts = StringToSign {
        app_id: &app_id,
        client_type: client_type_num,
        params: &params,
        timestamp: u64::try_from(timestamp).unwrap_or(0),
        version: &version,
    };
    // The string-to-sign uses the decimal forms; a client that sent `03` or `+3` signed other
    // text, so compare against what it sent when that differs.
    let signed_as_sent =
        client_type_num.to_string() == client_type && timestamp.to_string() == timestamp_text;
    if !signed_as_sent || !signer.verify(&sts, &signature) {
        return Err(Refusal::code(codes::SIGNATURE_MISMATCH));
    }
    let mut buf = vec![0u8; params.len() / 2 + 1];
    let plain = signer
        .decrypt_params_hex(&params, &mut buf)
        .map_err(|_| Refusal::code(codes::BAD_PARAMS).with_message("参数错误: params解密失败"))?;
    let plain = std::str::from_utf8(plain)
        .map_err(|_| Refusal::code(codes::BAD_PARAMS).with_message("参数错误: params不是UTF-8"))?;
    let params = PrivateParams::parse_plain(plain);
    if (now_ms - timestamp).abs() > opts.timestamp_window_ms {
        return Err(Refusal::code(codes::TIMESTAMP_EXPIRED));
    }
    Ok((
        app,
        Verified {
            app_id,
            client_type,
            version,
            timestamp,
            params,
        },
    ))
}

#[derive(Default)]
struct Fields {
    app_id: Option<String>,
    client_type: Option<String>,
    params: Option<String>,
    timestamp: Option<String>,
    version: Option<String>,
    signature: Option<String>,
}

/// The callback URL must be on the app's configured domain (protocol, host and port; the path
/// is free).
///
/// # Errors
/// 40104 when no domain is configured, 40105 when it differs or the URL is not absolute.
pub fn check_callback(app: &ServerApp, callback_url: &str) -> Result<(), Refusal> {
    let Some(domain) = app.callback_domain.as_deref().filter(|d| !d.is_empty()) else {
        return Err(Refusal::code(codes::CALLBACK_DOMAIN_EMPTY));
    };
    let origin = |s: &str| {
        url::Url::parse(s)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    };
    match (origin(callback_url), origin(domain)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(Refusal::code(codes::CALLBACK_ILLEGAL)),
    }
}

/// The grant type must fit the app type.
///
/// # Errors
/// 30040 on a mismatch, 10002 for an unknown grant type.
pub fn check_grant(app: &ServerApp, grant_type: &str) -> Result<(), Refusal> {
    let fits = match grant_type {
        "auth_code" | "189_code" => app.kind == AppKind::Standard,
        "vcp_189" | "refresh_vcp_token" => app.kind == AppKind::Platform,
        "refresh_token" => true,
        _ => return Err(Refusal::code(codes::BAD_PARAMS).with_message("参数错误: grantType")),
    };
    if fits {
        Ok(())
    } else {
        Err(Refusal::code(codes::GRANT_TYPE_MISMATCH))
    }
}

/// Platform apps must name their enterprise owner.
///
/// # Errors
/// 30045 when `enterpriseUser` is missing, empty, or not an owner of the app.
pub fn check_enterprise_user(app: &ServerApp, params: &PrivateParams) -> Result<(), Refusal> {
    if app.kind != AppKind::Platform {
        return Ok(());
    }
    match params.get("enterpriseUser").filter(|u| !u.is_empty()) {
        Some(user)
            if app.enterprise_users.is_empty()
                || app.enterprise_users.iter().any(|u| u == user) =>
        {
            Ok(())
        }
        _ => Err(Refusal::code(codes::ENTERPRISE_USER_MISSING)),
    }
}

/// A success answer `{"code":0,"msg":"成功","data":…}`. With version `v1.0` and `encrypt`,
/// `data` is sent as hex of XXTEA(app secret, JSON) as the platform does for sensitive data.
pub fn success(
    app: &ServerApp,
    version: &str,
    data: Value,
    encrypt: bool,
) -> http::Response<Vec<u8>> {
    let data = if encrypt && version == "v1.0" {
        let text = data.to_string();
        let signer = TianyiSigner::new(app.secret.expose_secret().as_bytes());
        let len = kaifang_sign_core::tianyi::params_hex_len(text.len()).unwrap_or(0);
        let mut buf = vec![0u8; len];
        match signer.encrypt_params_hex(text.as_bytes(), HexCase::Lower, &mut buf) {
            Ok(hex) => Value::String(hex.to_owned()),
            Err(_) => return Refusal::code(codes::BAD_PARAMS).to_response(),
        }
    } else {
        data
    };
    json_response(&json!({"code": codes::SUCCESS, "msg": "成功", "data": data}))
}

/// The token answer's `data`.
pub fn token_data(access: &str, refresh: &str, expires_in: u64, refresh_expires_in: u64) -> Value {
    json!({
        "accessToken": access,
        "refreshToken": refresh,
        "expiresIn": expires_in,
        "refreshExpiresIn": refresh_expires_in,
    })
}

/// Where the login page sends the browser: `callbackUrl` plus `authCode`, `errorCode=0` and the
/// unchanged `state`; on refusal no code and `errorCode` non-zero.
pub fn callback_redirect(callback_url: &str, auth_code: Option<&str>, state: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    match auth_code {
        Some(code) => query
            .append_pair("authCode", code)
            .append_pair("errorCode", "0"),
        None => query.append_pair("errorCode", "1"),
    };
    query.append_pair("state", state);
    let sep = if callback_url.contains('?') { '&' } else { '?' };
    format!("{callback_url}{sep}{}", query.finish())
}

fn json_response(body: &Value) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(body.to_string().into_bytes());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}
