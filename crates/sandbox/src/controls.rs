//! The control endpoints under `/__sandbox/` (JSON in, JSON out; 4xx with
//! `{"error": code, "message": text}` for bad values). Each mirrors a method of
//! [`SandboxHandle`](crate::SandboxHandle).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::faults::FaultSpec;
use crate::server::State;

type St = AxState<Arc<State>>;

/// Longest lifetime override accepted (ten years).
const MAX_LIFETIME_SECS: u64 = 10 * 366 * 86_400;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/__sandbox/health", get(health))
        .route("/__sandbox/tenants", get(tenants))
        .route("/__sandbox/clock", get(clock))
        .route("/__sandbox/clock/freeze", post(clock_freeze))
        .route("/__sandbox/clock/offset", post(clock_offset))
        .route("/__sandbox/clock/advance", post(clock_advance))
        .route("/__sandbox/clock/unfreeze", post(clock_unfreeze))
        .route("/__sandbox/lifetimes", get(lifetimes).put(set_lifetime))
        .route("/__sandbox/mint", post(mint))
        .route("/__sandbox/inspect/{platform}/{kind}", get(inspect))
        .route("/__sandbox/revoke", post(revoke))
        .route("/__sandbox/tokens", get(tokens))
        .route("/__sandbox/tokens/purge", post(tokens_purge))
        .route(
            "/__sandbox/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/__sandbox/faults/{id}",
            axum::routing::delete(remove_fault),
        )
        .route("/__sandbox/journal", get(journal).delete(clear_journal))
        .route("/__sandbox/counters", get(counters).delete(clear_counters))
        .route("/__sandbox/reset", post(reset))
        .route(crate::login::DECISION_PATH, post(login_decision))
        .with_state(state)
}

/// Parses a JSON body (an empty body is `{}`), naming the bad field on error.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ControlError::BadRequest(format!("invalid JSON body: {inner}"))
        } else {
            ControlError::BadRequest(format!("invalid JSON body: {path}: {inner}"))
        }
    })
}

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn done(r: Result<Value, ControlError>) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

async fn health(AxState(s): St) -> Response {
    let modules: Vec<Value> = s
        .modules
        .iter()
        .map(|m| json!({"name": m.name(), "mint_kinds": m.mint_kinds(), "inspect_kinds": m.inspect_kinds()}))
        .collect();
    ok(json!({
        "ok": true,
        "modules": modules,
        "tokens": s.tokens.len(),
        "journal_capacity": s.journal.capacity(),
        "seed": s.rng.seed(),
    }))
}

async fn tenants(AxState(s): St) -> Response {
    ok(s.tenants())
}

fn clock_json(s: &State) -> Value {
    serde_json::to_value(s.clock.state()).unwrap_or(Value::Null)
}

async fn clock(AxState(s): St) -> Response {
    ok(clock_json(&s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreezeReq {
    at_ms: Option<i64>,
}

async fn clock_freeze(AxState(s): St, body: Bytes) -> Response {
    done(parse::<FreezeReq>(&body).map(|r| {
        match r.at_ms {
            Some(at) => s.clock.freeze_at_millis(at),
            None => s.clock.freeze(),
        }
        clock_json(&s)
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetReq {
    offset_ms: i64,
}

async fn clock_offset(AxState(s): St, body: Bytes) -> Response {
    done(parse::<OffsetReq>(&body).map(|r| {
        s.clock.set_offset_millis(r.offset_ms);
        clock_json(&s)
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceReq {
    ms: i64,
}

async fn clock_advance(AxState(s): St, body: Bytes) -> Response {
    done(parse::<AdvanceReq>(&body).and_then(|r| {
        let ms = u64::try_from(r.ms).map_err(|_| {
            ControlError::BadRequest(format!(
                "ms: must be >= 0 (use /__sandbox/clock/offset or freeze to go back), got {}",
                r.ms
            ))
        })?;
        s.clock.advance(Duration::from_millis(ms));
        Ok(clock_json(&s))
    }))
}

async fn clock_unfreeze(AxState(s): St) -> Response {
    s.clock.unfreeze();
    ok(clock_json(&s))
}

async fn lifetimes(AxState(s): St) -> Response {
    ok(serde_json::to_value(s.tokens.lifetimes()).unwrap_or(Value::Null))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LifetimeReq {
    platform: String,
    kind: String,
    seconds: Option<i64>,
}

async fn set_lifetime(AxState(s): St, body: Bytes) -> Response {
    done(parse::<LifetimeReq>(&body).and_then(|r| {
        let ttl = match r.seconds {
            None => None,
            Some(n) => {
                let secs = u64::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_LIFETIME_SECS)
                    .ok_or_else(|| {
                        ControlError::BadRequest(format!(
                            "seconds: must be within 0..={MAX_LIFETIME_SECS} (null clears), got {n}"
                        ))
                    })?;
                Some(Duration::from_secs(secs))
            }
        };
        s.set_lifetime(&r.platform, &r.kind, ttl)?;
        Ok(serde_json::to_value(s.tokens.lifetimes()).unwrap_or(Value::Null))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintReq {
    platform: String,
    kind: String,
    #[serde(default)]
    request: Value,
}

async fn mint(AxState(s): St, body: Bytes) -> Response {
    done(parse::<MintReq>(&body).and_then(|r| s.mint(&r.platform, &r.kind, r.request)))
}

async fn inspect(
    AxState(s): St,
    Path((platform, kind)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let filters: serde_json::Map<String, Value> = query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    done(s.inspect(&platform, &kind, Value::Object(filters)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeReq {
    token: String,
    platform: Option<String>,
}

async fn revoke(AxState(s): St, body: Bytes) -> Response {
    done(parse::<RevokeReq>(&body).and_then(|r| {
        let p = s.revoke(r.platform.as_deref(), &r.token)?;
        Ok(json!({"revoked": true, "platform": p}))
    }))
}

async fn tokens(AxState(s): St) -> Response {
    ok(json!({"count": s.tokens.len()}))
}

async fn tokens_purge(AxState(s): St) -> Response {
    ok(json!({"purged": s.tokens.purge_expired(), "count": s.tokens.len()}))
}

async fn faults(AxState(s): St) -> Response {
    ok(serde_json::to_value(s.faults.list()).unwrap_or(Value::Null))
}

async fn add_fault(AxState(s): St, body: Bytes) -> Response {
    done(parse::<FaultSpec>(&body).and_then(|spec| {
        let id = s.faults.add(spec)?;
        Ok(json!({"id": id}))
    }))
}

async fn clear_faults(AxState(s): St) -> Response {
    s.faults.clear();
    ok(json!({"cleared": true}))
}

async fn remove_fault(AxState(s): St, Path(id): Path<String>) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return ControlError::BadRequest(format!("fault id must be a number, got {id:?}"))
            .into_response();
    };
    if s.faults.remove(n) {
        ok(json!({"removed": n}))
    } else {
        ControlError::NotFound(format!("no fault with id {n}")).into_response()
    }
}

async fn journal(AxState(s): St, RawQuery(q): RawQuery) -> Response {
    let mut limit = None;
    let mut path = None;
    for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "limit" => match v.parse::<usize>() {
                Ok(n) => limit = Some(n),
                Err(_) => {
                    return ControlError::BadRequest(format!(
                        "limit: must be a non-negative integer, got {v:?}"
                    ))
                    .into_response();
                }
            },
            "path" => path = Some(v.into_owned()),
            other => {
                return ControlError::BadRequest(format!(
                    "unknown query parameter `{other}` (use `limit`, `path`)"
                ))
                .into_response();
            }
        }
    }
    let mut entries = s.journal.entries();
    if let Some(p) = path {
        entries.retain(|e| e.path == p);
    }
    if let Some(n) = limit {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    ok(json!({"capacity": s.journal.capacity(), "entries": entries}))
}

async fn clear_journal(AxState(s): St) -> Response {
    s.journal.clear();
    ok(json!({"cleared": true}))
}

async fn counters(AxState(s): St) -> Response {
    ok(serde_json::to_value(s.counters.snapshot()).unwrap_or(Value::Null))
}

async fn clear_counters(AxState(s): St) -> Response {
    s.counters.clear();
    ok(json!({"cleared": true}))
}

async fn reset(AxState(s): St) -> Response {
    s.reset();
    ok(json!({"reset": true}))
}

async fn login_decision(AxState(s): St, body: Bytes) -> Response {
    s.login.decide(&body)
}
