//! The state the server keeps between requests: issued codes, access tokens and refresh tokens.
//!
//! The server functions never own state: they take a [`Store`]. [`MemoryStore`] is the plain
//! in-memory one (tests, single-process emulators); the sandbox implements [`Store`] over its
//! token registry. Records are plain serde data, so a store may keep them as JSON. Every time is
//! absolute Unix milliseconds; the server functions compare them with the request's `now`
//! (a store does not need to expire anything itself, but may forget entries once expired).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::oauth::GrantType;

/// An issued authorization code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was issued for (the token request must repeat it).
    pub redirect_uri: String,
    /// The user who logged in.
    pub username: String,
    /// The granted scope.
    pub scope: Vec<String>,
    /// Issue time.
    pub issued_at_ms: i64,
    /// Expiry.
    pub expires_at_ms: i64,
}

/// An issued access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The user, for user grants.
    pub username: Option<String>,
    /// The granted scope.
    pub scope: Vec<String>,
    /// The grant that first produced it (a refreshed token keeps its original grant).
    pub grant: GrantType,
    /// Issue time.
    pub issued_at_ms: i64,
    /// Expiry.
    pub expires_at_ms: i64,
}

/// An issued refresh token. `Debug` hides the access token it points to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub username: Option<String>,
    /// The granted scope.
    pub scope: Vec<String>,
    /// The grant that first produced the token family.
    pub grant: GrantType,
    /// The access token issued with it (revoked on refresh when the tenant says so).
    pub access_token: String,
    /// Issue time.
    pub issued_at_ms: i64,
    /// Expiry.
    pub expires_at_ms: i64,
}

impl fmt::Debug for RefreshRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRecord")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("scope", &self.scope)
            .field("grant", &self.grant)
            .field("access_token", &"[redacted]")
            .field("issued_at_ms", &self.issued_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Where the server keeps what it issued. Single-use values (codes, rotated refresh tokens) are
/// *taken*: `take_*` removes and returns, so a replay finds nothing.
pub trait Store {
    /// Keeps an authorization code.
    fn put_code(&mut self, code: &str, record: CodeRecord);
    /// Removes and returns an authorization code.
    fn take_code(&mut self, code: &str) -> Option<CodeRecord>;
    /// Keeps an access token.
    fn put_access(&mut self, token: &str, record: AccessRecord);
    /// Looks an access token up (expired ones may still be returned: the caller checks).
    fn access(&self, token: &str) -> Option<AccessRecord>;
    /// Forgets an access token; `true` when it was known.
    fn revoke_access(&mut self, token: &str) -> bool;
    /// Keeps a refresh token.
    fn put_refresh(&mut self, token: &str, record: RefreshRecord);
    /// Removes and returns a refresh token.
    fn take_refresh(&mut self, token: &str) -> Option<RefreshRecord>;
}

impl<S: Store + ?Sized> Store for &mut S {
    fn put_code(&mut self, code: &str, record: CodeRecord) {
        (**self).put_code(code, record);
    }
    fn take_code(&mut self, code: &str) -> Option<CodeRecord> {
        (**self).take_code(code)
    }
    fn put_access(&mut self, token: &str, record: AccessRecord) {
        (**self).put_access(token, record);
    }
    fn access(&self, token: &str) -> Option<AccessRecord> {
        (**self).access(token)
    }
    fn revoke_access(&mut self, token: &str) -> bool {
        (**self).revoke_access(token)
    }
    fn put_refresh(&mut self, token: &str, record: RefreshRecord) {
        (**self).put_refresh(token, record);
    }
    fn take_refresh(&mut self, token: &str) -> Option<RefreshRecord> {
        (**self).take_refresh(token)
    }
}

/// A [`Store`] in three hash maps. `Debug` shows counts only.
#[derive(Default, Clone)]
pub struct MemoryStore {
    codes: HashMap<String, CodeRecord>,
    access: HashMap<String, AccessRecord>,
    refresh: HashMap<String, RefreshRecord>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("codes", &self.codes.len())
            .field("access_tokens", &self.access.len())
            .field("refresh_tokens", &self.refresh.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything that expired before `now_ms`; returns how many entries went.
    pub fn purge_expired(&mut self, now_ms: i64) -> usize {
        let before = self.len();
        self.codes.retain(|_, r| r.expires_at_ms > now_ms);
        self.access.retain(|_, r| r.expires_at_ms > now_ms);
        self.refresh.retain(|_, r| r.expires_at_ms > now_ms);
        before - self.len()
    }

    /// Revokes every access and refresh token of a client; returns how many went.
    pub fn revoke_client(&mut self, client_id: &str) -> usize {
        let before = self.len();
        self.access.retain(|_, r| r.client_id != client_id);
        self.refresh.retain(|_, r| r.client_id != client_id);
        before - self.len()
    }

    /// Entries kept (codes, access tokens and refresh tokens).
    pub fn len(&self) -> usize {
        self.codes.len() + self.access.len() + self.refresh.len()
    }

    /// `true` when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store for MemoryStore {
    fn put_code(&mut self, code: &str, record: CodeRecord) {
        self.codes.insert(code.to_owned(), record);
    }
    fn take_code(&mut self, code: &str) -> Option<CodeRecord> {
        self.codes.remove(code)
    }
    fn put_access(&mut self, token: &str, record: AccessRecord) {
        self.access.insert(token.to_owned(), record);
    }
    fn access(&self, token: &str) -> Option<AccessRecord> {
        self.access.get(token).cloned()
    }
    fn revoke_access(&mut self, token: &str) -> bool {
        self.access.remove(token).is_some()
    }
    fn put_refresh(&mut self, token: &str, record: RefreshRecord) {
        self.refresh.insert(token.to_owned(), record);
    }
    fn take_refresh(&mut self, token: &str) -> Option<RefreshRecord> {
        self.refresh.remove(token)
    }
}
