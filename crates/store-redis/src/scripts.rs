//! The Lua scripts of the store, and the pure halves of every operation (the arguments built
//! from a token, the reply read back), shared by [`RedisStore`](crate::RedisStore) and
//! [`AsyncRedisStore`](crate::AsyncRedisStore) so that both speak exactly one protocol.
//!
//! Scripts run atomically on the server. They are sent with `EVALSHA` and re-sent with `EVAL`
//! when the server does not know them (after a restart), by the `redis` crate's `Script`.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaifang_proto_core::Error;
use kaifang_proto_core::lifecycle::{Fence, StoredToken};
use kaifang_proto_core::token::{Fingerprint, Token};
use redis::{Cmd, Script, ScriptInvocation};
use zeroize::Zeroizing;

use crate::error::{Op, corrupt};
use crate::keys::Keys;

/// Set-if-newer. `KEYS[1]` the token hash; `ARGV`: version, issued-at (Unix ms), fingerprint,
/// token JSON, TTL (ms). Writes (replacing every field, `inv` reset) only if `(version,
/// issued-at)` is greater than the stored pair, then sets the TTL. Returns 1 if it wrote.
pub const SET_IF_NEWER: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'iat')
if cur[1] then
  local v, nv = tonumber(cur[1]), tonumber(ARGV[1])
  if nv < v or (nv == v and tonumber(ARGV[2]) <= tonumber(cur[2])) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'iat', ARGV[2], 'fp', ARGV[3], 'inv', '0', 'tok', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// Compare-and-expire. `KEYS[1]` the token hash; `ARGV[1]` a fingerprint. Marks the token
/// rejected (`inv` = 1) if it is still the one with that fingerprint. Returns 1 if it did.
pub const EXPIRE_IF: &str = r"
if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] and redis.call('HGET', KEYS[1], 'inv') == '0' then
  redis.call('HSET', KEYS[1], 'inv', '1')
  return 1
end
return 0
";

/// The fenced lock. `KEYS`: the lock, the fence counter, the token hash; `ARGV`: owner, lease
/// (ms). If the lock is free, takes the next fence (kept above the stored token's version, so
/// a lost counter cannot make new writers lose to an old token), sets the lock to
/// `"{fence} {owner}"` with the lease as `PX`, and returns the fence; 0 if the lock is held.
pub const TRY_LOCK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local f = redis.call('INCR', KEYS[2])
local v = tonumber(redis.call('HGET', KEYS[3], 'v') or '0')
if f <= v then
  f = v + 1
  redis.call('SET', KEYS[2], string.format('%d', f))
end
redis.call('SET', KEYS[1], string.format('%d', f) .. ' ' .. ARGV[1], 'PX', ARGV[2])
return f
";

/// Compare-and-delete. `KEYS[1]` the lock; `ARGV[1]` the value the holder set. Deletes the
/// lock only if it still holds that value. Returns 1 if it did.
pub const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

struct Scripts {
    set_if_newer: Script,
    expire_if: Script,
    try_lock: Script,
    unlock: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    set_if_newer: Script::new(SET_IF_NEWER),
    expire_if: Script::new(EXPIRE_IF),
    try_lock: Script::new(TRY_LOCK),
    unlock: Script::new(UNLOCK),
});

/// The fields `get` reads, in order.
const GET_FIELDS: [&str; 3] = ["v", "inv", "tok"];

/// `HMGET token v inv tok`.
pub(crate) fn get(keys: &Keys) -> Cmd {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(keys.token()).arg(&GET_FIELDS[..]);
    cmd
}

/// The reply of [`get`]: no token, or the stored one.
pub(crate) fn read_get(reply: Vec<Option<Vec<u8>>>) -> Result<Option<StoredToken>, Error> {
    let mut fields = reply.into_iter();
    let (Some(version), Some(inv), Some(tok)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(corrupt(Op::Get, "short HMGET reply"));
    };
    let (version, tok) = match (version, tok) {
        (None, None) => return Ok(None),
        (Some(v), Some(t)) => (v, Zeroizing::new(t)),
        _ => return Err(corrupt(Op::Get, "stored token hash is incomplete")),
    };
    let version = std::str::from_utf8(&version)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| corrupt(Op::Get, "stored version is not a number"))?;
    let token = Token::from_stored_json(&tok)
        .map_err(|_| corrupt(Op::Get, "stored token is not a token's JSON"))?;
    Ok(Some(StoredToken {
        token: Arc::new(token),
        version,
        invalidated: inv.as_deref() == Some(b"1"),
    }))
}

/// The invocation of [`SET_IF_NEWER`] for `stored` at `now`, or `None` when the token's life
/// (its access token's, or its refresh token's when longer) is already over: nothing to share.
pub(crate) fn set_if_newer(
    keys: &Keys,
    stored: &StoredToken,
    now: SystemTime,
) -> Option<ScriptInvocation<'static>> {
    let token = &stored.token;
    let mut end = token.expires_at;
    if token.refresh.is_some()
        && let Some(r) = token.refresh_expires_at
    {
        end = end.max(r);
    }
    let ttl = end.duration_since(now).ok().filter(|d| !d.is_zero())?;
    let mut inv = SCRIPTS.set_if_newer.prepare_invoke();
    inv.key(keys.token())
        .arg(stored.version)
        .arg(unix_ms(token.issued_at))
        .arg(token.fingerprint().to_hex())
        .arg(&token.to_json_exposing_secrets()[..])
        .arg(millis_at_least_one(ttl));
    Some(inv)
}

/// The invocation of [`EXPIRE_IF`].
pub(crate) fn expire_if(keys: &Keys, fingerprint: &Fingerprint) -> ScriptInvocation<'static> {
    let mut inv = SCRIPTS.expire_if.prepare_invoke();
    inv.key(keys.token()).arg(fingerprint.to_hex());
    inv
}

/// The invocation of [`TRY_LOCK`].
pub(crate) fn try_lock(keys: &Keys, lease: Duration, owner: &str) -> ScriptInvocation<'static> {
    let mut inv = SCRIPTS.try_lock.prepare_invoke();
    inv.key(keys.lock())
        .key(keys.fence())
        .key(keys.token())
        .arg(owner)
        .arg(millis_at_least_one(lease));
    inv
}

/// The reply of [`try_lock`]: the fence, or `None` while another instance holds the lock.
pub(crate) fn read_try_lock(
    fence: i64,
    owner: &str,
    lease: Duration,
    now: SystemTime,
) -> Result<Option<Fence>, Error> {
    match u64::try_from(fence) {
        Ok(0) => Ok(None),
        Ok(token) => Ok(Some(Fence {
            token,
            owner: owner.to_owned(),
            expires_at: now.checked_add(lease).unwrap_or(now),
        })),
        Err(_) => Err(corrupt(Op::TryLock, "negative fence")),
    }
}

/// The invocation of [`UNLOCK`] for `fence`.
pub(crate) fn unlock(keys: &Keys, fence: &Fence) -> ScriptInvocation<'static> {
    let mut inv = SCRIPTS.unlock.prepare_invoke();
    inv.key(keys.lock())
        .arg(format!("{} {}", fence.token, fence.owner));
    inv
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

/// Whole milliseconds, at least 1 (`PX 0` is an error).
fn millis_at_least_one(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaifang_proto_core::lifecycle::TokenKey;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn set_if_newer_carries_version_issue_time_and_life() {
        let keys = Keys::new("p", &TokenKey::new("x", "app", "access"));
        let token = Token::from_expires_in("secret-access", t0(), 100);
        let stored = StoredToken::new(Arc::new(token.clone()), 7);
        assert!(set_if_newer(&keys, &stored, t0() + Duration::from_secs(40)).is_some());
        // Past its life: nothing to write.
        assert!(set_if_newer(&keys, &stored, t0() + Duration::from_secs(100)).is_none());
        // A refresh token that outlives the access token extends the life.
        let long = token.with_refresh("r", Some(1000));
        let stored = StoredToken::new(Arc::new(long), 7);
        assert!(set_if_newer(&keys, &stored, t0() + Duration::from_secs(500)).is_some());
    }

    #[test]
    fn get_replies_are_read_or_refused() {
        assert_eq!(read_get(vec![None, None, None]).unwrap(), None);
        let token = Token::from_expires_in("a", t0(), 100);
        let json = token.to_json_exposing_secrets().to_vec();
        let got = read_get(vec![
            Some(b"3".to_vec()),
            Some(b"1".to_vec()),
            Some(json.clone()),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((got.version, got.invalidated), (3, true));
        assert_eq!(*got.token, token);
        for bad in [
            vec![Some(b"x".to_vec()), Some(b"0".to_vec()), Some(json.clone())],
            vec![Some(b"1".to_vec()), Some(b"0".to_vec()), None],
            vec![
                Some(b"1".to_vec()),
                Some(b"0".to_vec()),
                Some(b"{".to_vec()),
            ],
            vec![None],
        ] {
            let e = read_get(bad).unwrap_err();
            assert!(matches!(e, Error::Store(_)), "{e}");
        }
    }

    #[test]
    fn lock_replies() {
        let lease = Duration::from_secs(5);
        assert_eq!(read_try_lock(0, "me", lease, t0()).unwrap(), None);
        let f = read_try_lock(9, "me", lease, t0()).unwrap().unwrap();
        assert_eq!((f.token, f.expires_at), (9, t0() + lease));
        assert!(read_try_lock(-1, "me", lease, t0()).is_err());
    }
}
