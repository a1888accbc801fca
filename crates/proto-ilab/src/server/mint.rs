//! Minting tickets and tokens exactly as the platform shapes them.
//!
//! * RONCOO tickets: HS256 JWT, header `{"typ":"JWT","alg":"HS256"}`, payload
//!   `{"iss":"RONCOO","exp":<s>,"userId":"<un>"}`.
//! * RONCOO tokens: HS256 JWT, header `{"alg":"HS256","typ":"JWT"}`, the seed's claims in the
//!   seed's order ([`AccessClaims`], [`RefreshClaims`]).
//! * iLab-x tickets and tokens: opaque base64 with `+ / =` (as the real v2 values are), so
//!   clients must URL-encode them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_sign_core::mac::HmacSha256Key;
use serde::Serialize;

use crate::app::{Profile, SCOPE_CALLBACK_SCORE};
use crate::claims::b64url;
use crate::time::display;

/// The token endpoint's success message (also the `msg` claim).
pub const SUCCESS_MESSAGE: &str = "调用成功，返回所需数据";
/// The ticket issuer of the RONCOO clone.
pub const TICKET_ISSUER: &str = "RONCOO";

const TICKET_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;
const TOKEN_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// `base64url(header).base64url(payload).base64url(HMAC-SHA256(key, first two parts))`.
pub fn hs256_jwt(key: &HmacSha256Key, header_json: &str, payload_json: &[u8]) -> String {
    let mut out = b64url(header_json.as_bytes());
    out.push('.');
    out.push_str(&b64url(payload_json));
    let tag = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64url(&tag));
    out
}

/// Whether `jwt`'s signature is the HS256 of its first two parts under `key` (constant time).
pub fn hs256_verify(key: &HmacSha256Key, jwt: &str) -> bool {
    let Some((signed, sig)) = jwt.rsplit_once('.') else {
        return false;
    };
    if !signed.contains('.') {
        return false;
    }
    match crate::claims::b64_decode(sig) {
        Some(tag) => key.verify(signed.as_bytes(), &tag),
        None => false,
    }
}

#[derive(Serialize)]
struct TicketClaims<'a> {
    iss: &'a str,
    exp: i64,
    #[serde(rename = "userId")]
    user_id: &'a str,
}

/// A ticket value for `user_id`, expiring at `exp_s` (Unix seconds).
pub fn ticket(
    profile: Profile,
    key: &HmacSha256Key,
    ctx: &Context,
    user_id: &str,
    exp_s: i64,
) -> Result<String, Error> {
    match profile {
        Profile::Roncoo => {
            let payload = serde_json::to_vec(&TicketClaims {
                iss: TICKET_ISSUER,
                exp: exp_s,
                user_id,
            })
            .map_err(|e| Error::Config(e.to_string()))?;
            Ok(hs256_jwt(key, TICKET_HEADER, &payload))
        }
        // 82 random bytes: 112 base64 characters ending in `=`, like the real tickets.
        Profile::IlabX => Ok(STANDARD.encode(random::<82>(ctx)?)),
    }
}

/// The claims of an access token, in the seed's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    /// `调用成功，返回所需数据`.
    pub msg: String,
    /// 0.
    pub code: i64,
    /// Unix ms.
    pub create_time: i64,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub create_time_display: String,
    /// The user.
    pub user_name: String,
    /// `["ADMIN"]`.
    pub authorities: Vec<String>,
    /// The appid.
    pub client_id: String,
    /// The display name.
    pub dis: String,
    /// `["callback:score"]`.
    pub scope: Vec<String>,
    /// `yyyy-MM-dd HH:mm:ss` of `expires_time`.
    pub expires_time_display: String,
    /// The user.
    pub un: String,
    /// Unix seconds: create + lifetime.
    pub exp: i64,
    /// Token id (UUID).
    pub jti: String,
    /// Unix ms: create + lifetime − 1 s.
    pub expires_time: i64,
}

/// The claims of a refresh token, in the seed's order (`ati` after `scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshClaims {
    /// As [`AccessClaims::msg`].
    pub msg: String,
    /// 0.
    pub code: i64,
    /// As the access token's.
    pub create_time: i64,
    /// As the access token's.
    pub create_time_display: String,
    /// The user.
    pub user_name: String,
    /// `["ADMIN"]`.
    pub authorities: Vec<String>,
    /// The appid.
    pub client_id: String,
    /// The display name.
    pub dis: String,
    /// `["callback:score"]`.
    pub scope: Vec<String>,
    /// The access token's `jti`.
    pub ati: String,
    /// As the access token's.
    pub expires_time_display: String,
    /// The user.
    pub un: String,
    /// Unix seconds: create + refresh lifetime (30 days).
    pub exp: i64,
    /// Its own id.
    pub jti: String,
    /// The access token's `expires_time`.
    pub expires_time: i64,
}

/// What one grant mints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
    /// The access claims (also what the answer reports).
    pub claims: AccessClaims,
    /// The refresh token's `jti`.
    pub refresh_jti: String,
    /// The refresh token's expiry, Unix ms.
    pub refresh_expires_at_ms: i64,
}

/// Inputs of [`tokens`].
#[derive(Debug, Clone, Copy)]
pub struct TokenSpec<'a> {
    /// Which platform's token format.
    pub profile: Profile,
    /// The appid.
    pub appid: &'a str,
    /// The user.
    pub un: &'a str,
    /// The display name.
    pub dis: &'a str,
    /// Creation time, Unix ms.
    pub now_ms: i64,
    /// Access-token lifetime, seconds (86,400).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime, seconds (30 days).
    pub refresh_ttl_secs: i64,
}

/// Mints an access and a refresh token with fresh `jti`s.
///
/// # Errors
/// [`Error::Config`] when the random source fails.
pub fn tokens(key: &HmacSha256Key, ctx: &Context, spec: TokenSpec<'_>) -> Result<Minted, Error> {
    let create = spec.now_ms;
    let create_s = create.div_euclid(1000);
    let expires_time = create.saturating_add((spec.access_ttl_secs - 1).max(0) * 1000);
    let jti = uuid(ctx)?;
    let refresh_jti = uuid(ctx)?;
    let claims = AccessClaims {
        msg: SUCCESS_MESSAGE.to_owned(),
        code: 0,
        create_time: create,
        create_time_display: display(create),
        user_name: spec.un.to_owned(),
        authorities: vec!["ADMIN".to_owned()],
        client_id: spec.appid.to_owned(),
        dis: spec.dis.to_owned(),
        scope: vec![SCOPE_CALLBACK_SCORE.to_owned()],
        expires_time_display: display(expires_time),
        un: spec.un.to_owned(),
        exp: create_s.saturating_add(spec.access_ttl_secs),
        jti,
        expires_time,
    };
    let refresh_claims = RefreshClaims {
        msg: claims.msg.clone(),
        code: 0,
        create_time: create,
        create_time_display: claims.create_time_display.clone(),
        user_name: claims.user_name.clone(),
        authorities: claims.authorities.clone(),
        client_id: claims.client_id.clone(),
        dis: claims.dis.clone(),
        scope: claims.scope.clone(),
        ati: claims.jti.clone(),
        expires_time_display: claims.expires_time_display.clone(),
        un: claims.un.clone(),
        exp: create_s.saturating_add(spec.refresh_ttl_secs),
        jti: refresh_jti.clone(),
        expires_time,
    };
    let (access, refresh) = match spec.profile {
        Profile::Roncoo => {
            let a = serde_json::to_vec(&claims).map_err(|e| Error::Config(e.to_string()))?;
            let r =
                serde_json::to_vec(&refresh_claims).map_err(|e| Error::Config(e.to_string()))?;
            (
                hs256_jwt(key, TOKEN_HEADER, &a),
                hs256_jwt(key, TOKEN_HEADER, &r),
            )
        }
        Profile::IlabX => (opaque(ctx)?, opaque(ctx)?),
    };
    Ok(Minted {
        access,
        refresh,
        refresh_expires_at_ms: refresh_claims.exp.saturating_mul(1000),
        claims,
        refresh_jti,
    })
}

/// An iLab-x style opaque token: `base64(16 bytes).base64(32 bytes)`, with `+ / =`.
fn opaque(ctx: &Context) -> Result<String, Error> {
    Ok(format!(
        "{}.{}",
        STANDARD.encode(random::<16>(ctx)?),
        STANDARD.encode(random::<32>(ctx)?)
    ))
}

fn random<const N: usize>(ctx: &Context) -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    ctx.nonce_source()
        .try_fill(&mut buf)
        .map_err(|e| Error::Config(format!("ilab server: {e}")))?;
    Ok(buf)
}

/// A random (version 4) UUID from the context's random source.
pub fn uuid(ctx: &Context) -> Result<String, Error> {
    let mut b = random::<16>(ctx)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}
