//! The four endpoints (see the order table in the module docs of [`crate::server`]).

use http::StatusCode;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::secret::SecretString;
use serde::Serialize;

use super::mint::{self, Minted, TokenSpec};
use super::state::{IlabStore, LineageRecord, StoredUpload, TokenKind, TokenRecord, UploadContent};
use super::{IlabServer, Incoming, Refusal, ServerApp, json_response};
use crate::app::SCOPE_CALLBACK_SCORE;
use crate::auth::signature;
use crate::codes::{self, Endpoint};
use crate::upload::{Attachment, DataUpload, check_filename};

/// The token answer, keys in the seed's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenAnswer {
    /// 0.
    pub code: i64,
    /// `调用成功，返回所需数据`.
    pub msg: String,
    /// The access token.
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Lifetime − 1 s (86,399).
    pub expires_in: i64,
    /// `callback:score`.
    pub scope: String,
    /// The user.
    pub un: String,
    /// The display name.
    pub dis: String,
    /// Unix ms, as a string.
    pub create_time: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub create_time_display: String,
    /// Unix ms, as a string.
    pub expires_time: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub expires_time_display: String,
    /// The access token's id.
    pub jti: String,
}

impl TokenAnswer {
    /// The answer for freshly minted tokens.
    pub fn from_minted(m: &Minted, access_ttl_secs: i64) -> Self {
        let c = &m.claims;
        TokenAnswer {
            code: codes::SUCCESS,
            msg: c.msg.clone(),
            access_token: m.access.clone(),
            token_type: "bearer".to_owned(),
            refresh_token: m.refresh.clone(),
            expires_in: access_ttl_secs - 1,
            scope: c.scope.join(" "),
            un: c.un.clone(),
            dis: c.dis.clone(),
            create_time: c.create_time.to_string(),
            create_time_display: c.create_time_display.clone(),
            expires_time: c.expires_time.to_string(),
            expires_time_display: c.expires_time_display.clone(),
            jti: c.jti.clone(),
        }
    }

    /// The HTTP answer.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        json_response(StatusCode::OK, self)
    }
}

#[derive(Serialize)]
struct UploadOk {
    code: i64,
    msg: &'static str,
}

fn upload_ok() -> http::Response<Vec<u8>> {
    json_response(
        StatusCode::OK,
        &UploadOk {
            code: codes::SUCCESS,
            msg: "成功",
        },
    )
}

/// Constant-time equality of two ASCII strings (the length is not hidden).
fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn signed_by(app: &ServerApp, value: &str, sent: &str) -> bool {
    ct_eq(
        &signature(value, &app.appid, app.secret.expose_secret()),
        sent,
    )
}

impl IlabServer {
    /// Ticket → token (see the order table in the module docs).
    pub fn token(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> http::Response<Vec<u8>> {
        match self.token_inner(store, ctx, req) {
            Ok(answer) => answer.to_response(),
            Err(refusal) => refusal.to_response(),
        }
    }

    fn token_inner(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> Result<TokenAnswer, Refusal> {
        let refuse = |code| Refusal::new(Endpoint::Token, code);
        let (Some(ticket), Some(appid), Some(sig)) = (
            req.param("ticket"),
            req.param("appid"),
            req.param("signature"),
        ) else {
            return Err(refuse(codes::PARAM_ERROR));
        };
        // The framework decoded the query once: `ticket` is what the client must have signed.
        let app = self
            .app(&appid)
            .filter(|app| signed_by(app, &ticket, &sig))
            .ok_or_else(|| refuse(codes::SIGNATURE_MISMATCH))?;
        let now = ctx.now_millis();
        let mut record = store
            .ticket(&ticket)
            .filter(|t| t.appid == app.appid)
            .ok_or_else(|| refuse(codes::TICKET_INVALID))?;
        if now >= record.expires_at_ms {
            return Err(refuse(codes::TICKET_EXPIRED));
        }
        if record.used {
            return Err(refuse(codes::TICKET_INVALID));
        }
        record.used = true;
        let (un, dis) = (record.user_id.clone(), record.dis.clone());
        store.put_ticket(ticket, record);
        let minted = self.mint_into(store, ctx, &app.appid, &un, &dis, None)?;
        Ok(TokenAnswer::from_minted(&minted, self.access_ttl_secs))
    }

    /// Mints tokens and records them: a new lineage (`lineage: None`) or a refresh in one.
    fn mint_into(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        appid: &str,
        un: &str,
        dis: &str,
        lineage: Option<(String, LineageRecord)>,
    ) -> Result<Minted, Refusal> {
        let spec = TokenSpec {
            profile: self.profile,
            appid,
            un,
            dis,
            now_ms: ctx.now_millis(),
            access_ttl_secs: self.access_ttl_secs,
            refresh_ttl_secs: self.refresh_ttl_secs,
        };
        let m = mint::tokens(&self.key, ctx, spec).map_err(|_| {
            Refusal::new(Endpoint::Token, codes::SYSTEM_ERROR).with_message("系统错误或非法操作")
        })?;
        let refreshable = lineage.is_none();
        let (lineage_id, mut record) = lineage.unwrap_or_else(|| {
            (
                m.claims.jti.clone(),
                LineageRecord {
                    refreshes: 0,
                    current_access: SecretString::new(""),
                },
            )
        });
        if !refreshable {
            record.refreshes = record.refreshes.saturating_add(1);
        }
        record.current_access = SecretString::new(m.access.clone());
        let base = TokenRecord {
            kind: TokenKind::Access,
            appid: appid.to_owned(),
            un: un.to_owned(),
            dis: dis.to_owned(),
            scope: m.claims.scope.clone(),
            jti: m.claims.jti.clone(),
            created_at_ms: m.claims.create_time,
            expires_at_ms: m.claims.exp.saturating_mul(1000),
            lineage: lineage_id.clone(),
            refreshable,
            revoked: false,
        };
        store.put_token(
            m.refresh.clone(),
            TokenRecord {
                kind: TokenKind::Refresh,
                jti: m.refresh_jti.clone(),
                expires_at_ms: m.refresh_expires_at_ms,
                ..base.clone()
            },
        );
        store.put_token(m.access.clone(), base);
        store.put_lineage(lineage_id, record);
        Ok(m)
    }

    /// Refresh (see the order table in the module docs). RONCOO sends the refresh token,
    /// iLab-x the access token.
    pub fn refresh(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> http::Response<Vec<u8>> {
        match self.refresh_inner(store, ctx, req) {
            Ok(answer) => answer.to_response(),
            Err(refusal) => refusal.to_response(),
        }
    }

    fn refresh_inner(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> Result<TokenAnswer, Refusal> {
        let refuse = |code| Refusal::new(Endpoint::Refresh, code);
        let paths = self.profile.paths();
        let (Some(value), Some(appid), Some(sig)) = (
            req.param(paths.refresh_param),
            req.param("appid"),
            req.param("signature"),
        ) else {
            return Err(refuse(codes::PARAM_ERROR));
        };
        let app = self
            .app(&appid)
            .ok_or_else(|| refuse(codes::SIGNATURE_MISMATCH))?;
        let record = store.token(&value);
        let lineage = record.as_ref().and_then(|r| store.lineage(&r.lineage));
        // The doc writes MD5(ACCESS_TOKEN + APPID + SECRET) next to a refresh_token parameter:
        // accept the signature over the value sent, and over the lineage's current access token.
        let lenient = lineage
            .as_ref()
            .is_some_and(|l| signed_by(app, l.current_access.expose_secret(), &sig));
        if !signed_by(app, &value, &sig) && !lenient {
            return Err(refuse(codes::SIGNATURE_MISMATCH));
        }
        let wanted = if paths.refresh_with_refresh_token {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        };
        let record = record
            .filter(|r| r.kind == wanted && r.appid == app.appid && !r.revoked)
            .ok_or_else(|| refuse(codes::REFRESH_INVALID))?;
        if ctx.now_millis() >= record.expires_at_ms {
            return Err(refuse(codes::REFRESH_EXPIRED));
        }
        if !record.refreshable {
            return Err(refuse(codes::REFRESH_NOT_ALLOWED));
        }
        let lineage = lineage.ok_or_else(|| refuse(codes::REFRESH_INVALID))?;
        if lineage.refreshes >= self.max_refreshes {
            return Err(refuse(codes::REFRESH_LIMIT));
        }
        let minted = self.mint_into(
            store,
            ctx,
            &record.appid,
            &record.un,
            &record.dis,
            Some((record.lineage.clone(), lineage)),
        )?;
        Ok(TokenAnswer::from_minted(&minted, self.access_ttl_secs))
    }

    /// 数据回传 (see the order table in the module docs).
    pub fn data_upload(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> http::Response<Vec<u8>> {
        match self.data_upload_inner(store, ctx, req) {
            Ok(()) => upload_ok(),
            Err(refusal) => refusal.to_response(),
        }
    }

    fn data_upload_inner(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> Result<(), Refusal> {
        let token = verify_access_token(store, req, ctx.now_millis())?;
        let param = |msg: String| {
            Refusal::new(Endpoint::Upload, codes::PARAM_ERROR)
                .with_message(format!("参数错误: {msg}"))
        };
        let json = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(param("Content-Type must be application/json".into()));
        }
        let (appid, upload) = DataUpload::from_json(req.body).map_err(|e| param(e.to_string()))?;
        if appid != token.appid {
            return Err(param(format!(
                "appid {appid:?} is not the token's experiment"
            )));
        }
        if upload.username != token.un {
            return Err(param(
                "username is not the token's user (send the token answer's un)".into(),
            ));
        }
        store.push_upload(StoredUpload {
            appid,
            un: token.un,
            origin_id: upload.origin_id.clone(),
            received_at_ms: ctx.now_millis(),
            content: UploadContent::Data(upload),
        });
        Ok(())
    }

    /// 实验报告上传 (see the order table in the module docs).
    pub fn attachment_upload(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> http::Response<Vec<u8>> {
        match self.attachment_inner(store, ctx, req) {
            Ok(()) => upload_ok(),
            Err(refusal) => refusal.to_response(),
        }
    }

    fn attachment_inner(
        &self,
        store: &mut dyn IlabStore,
        ctx: &Context,
        req: &Incoming<'_>,
    ) -> Result<(), Refusal> {
        let token = verify_access_token(store, req, ctx.now_millis())?;
        let param = |msg: &str| {
            Refusal::new(Endpoint::Upload, codes::PARAM_ERROR)
                .with_message(format!("参数错误: {msg}"))
        };
        let (Some(appid), Some(origin_id), Some(filename)) = (
            req.param("appid"),
            req.param("originId"),
            req.param("filename"),
        ) else {
            return Err(param("appid, originId and filename are required"));
        };
        if appid != token.appid {
            return Err(param("appid is not the token's experiment"));
        }
        check_filename(&filename).map_err(|e| param(&e.to_string()))?;
        if req.body.is_empty() {
            return Err(param("the body (the file's bytes) is empty"));
        }
        if !store.has_data_upload(&appid, &token.un, &origin_id) {
            return Err(param(
                "no data_upload with this originId: upload the score first, then the report",
            ));
        }
        let title = req.param("title").unwrap_or_else(|| filename.clone());
        let attachment = Attachment {
            origin_id: origin_id.clone(),
            filename,
            title,
            remarks: req.param("remarks").unwrap_or_default(),
            bytes: req.body.to_vec(),
        };
        store.push_upload(StoredUpload {
            appid,
            un: token.un,
            origin_id,
            received_at_ms: ctx.now_millis(),
            content: UploadContent::Attachment(attachment),
        });
        Ok(())
    }
}

/// The upload endpoints' token check: `access_token` present (1), known, an access token and
/// not revoked (3), not expired at `now_ms` (2), with the scope `callback:score` (4).
///
/// # Errors
/// The upload endpoint's [`Refusal`].
pub fn verify_access_token(
    store: &dyn IlabStore,
    req: &Incoming<'_>,
    now_ms: i64,
) -> Result<TokenRecord, Refusal> {
    let refuse = |code| Refusal::new(Endpoint::Upload, code);
    let value = req
        .param("access_token")
        .ok_or_else(|| refuse(codes::PARAM_ERROR).with_message("参数错误: access_token缺失"))?;
    let record = store
        .token(&value)
        .filter(|r| r.kind == TokenKind::Access && !r.revoked)
        .ok_or_else(|| refuse(codes::TOKEN_INVALID))?;
    if now_ms >= record.expires_at_ms {
        return Err(refuse(codes::TOKEN_EXPIRED));
    }
    if !record.scope.iter().any(|s| s == SCOPE_CALLBACK_SCORE) {
        return Err(refuse(codes::SCOPE_MISSING));
    }
    Ok(record)
}
