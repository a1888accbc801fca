//! What an emulator must remember between requests, as plain data, and the [`IlabStore`] trait
//! through which the endpoint functions read and write it. [`MemoryStore`] is a complete
//! implementation (keep it in a `Mutex`); a sandbox may implement the trait over its own
//! registry instead.

use std::collections::HashMap;
use std::fmt;

use kaifang_proto_core::secret::SecretString;

use crate::upload::{Attachment, DataUpload};

/// A ticket the platform handed out (minted, or registered from a seed document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    /// The experiment (appid) the ticket was issued for.
    pub appid: String,
    /// The user (`un`).
    pub user_id: String,
    /// The user's display name (`dis`).
    pub dis: String,
    /// Expiry, Unix ms.
    pub expires_at_ms: i64,
    /// Redeemed already (a ticket works once).
    pub used: bool,
}

/// Which token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

/// A token the platform issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Access or refresh.
    pub kind: TokenKind,
    /// `client_id`.
    pub appid: String,
    /// `un`.
    pub un: String,
    /// `dis`.
    pub dis: String,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// `jti`.
    pub jti: String,
    /// `create_time`, Unix ms.
    pub created_at_ms: i64,
    /// Expiry (`exp` × 1000), Unix ms.
    pub expires_at_ms: i64,
    /// The lineage id (the original access token's `jti`): refresh counting is per lineage.
    pub lineage: String,
    /// `false` for tokens obtained by refresh (they cannot be refreshed).
    pub refreshable: bool,
    /// Revoked by a test control.
    pub revoked: bool,
}

/// A lineage: an original token and its refreshes.
#[derive(Clone, PartialEq, Eq)]
pub struct LineageRecord {
    /// Refreshes done (at most the configured maximum, 2).
    pub refreshes: u8,
    /// The lineage's most recent access token (the lenient refresh signature is accepted over
    /// it).
    pub current_access: SecretString,
}

impl fmt::Debug for LineageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineageRecord")
            .field("refreshes", &self.refreshes)
            .field("current_access", &self.current_access)
            .finish()
    }
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadContent {
    /// 数据回传.
    Data(DataUpload),
    /// 实验报告.
    Attachment(Attachment),
}

/// One accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// The app.
    pub appid: String,
    /// The token's user.
    pub un: String,
    /// `originId`.
    pub origin_id: String,
    /// When it was received, Unix ms.
    pub received_at_ms: i64,
    /// The record or the file.
    pub content: UploadContent,
}

/// The emulator's memory. Every method is a plain read or write; the endpoint functions decide.
pub trait IlabStore {
    /// The ticket `value` (decoded), if known.
    fn ticket(&self, value: &str) -> Option<TicketRecord>;
    /// Stores or replaces a ticket.
    fn put_ticket(&mut self, value: String, record: TicketRecord);
    /// The token `value`, if known.
    fn token(&self, value: &str) -> Option<TokenRecord>;
    /// Stores or replaces a token.
    fn put_token(&mut self, value: String, record: TokenRecord);
    /// The lineage `id`.
    fn lineage(&self, id: &str) -> Option<LineageRecord>;
    /// Stores or replaces a lineage.
    fn put_lineage(&mut self, id: String, record: LineageRecord);
    /// Whether a score upload with `origin_id` was accepted for this app and user.
    fn has_data_upload(&self, appid: &str, un: &str, origin_id: &str) -> bool;
    /// Stores an accepted upload.
    fn push_upload(&mut self, upload: StoredUpload);
}

/// An in-memory [`IlabStore`]. `Debug` shows counts only (the keys are secrets).
#[derive(Default, Clone)]
pub struct MemoryStore {
    tickets: HashMap<String, TicketRecord>,
    tokens: HashMap<String, TokenRecord>,
    lineages: HashMap<String, LineageRecord>,
    uploads: Vec<StoredUpload>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tickets", &self.tickets.len())
            .field("tokens", &self.tokens.len())
            .field("lineages", &self.lineages.len())
            .field("uploads", &self.uploads.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every accepted upload, oldest first.
    pub fn uploads(&self) -> &[StoredUpload] {
        &self.uploads
    }

    /// Marks a token revoked (test control); `false` when unknown.
    pub fn revoke(&mut self, value: &str) -> bool {
        match self.tokens.get_mut(value) {
            Some(rec) => {
                rec.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Forgets tickets and tokens that expired before `before_ms` (bounded memory).
    pub fn purge_expired(&mut self, before_ms: i64) {
        self.tickets.retain(|_, t| t.expires_at_ms >= before_ms);
        self.tokens.retain(|_, t| t.expires_at_ms >= before_ms);
    }
}

impl IlabStore for MemoryStore {
    fn ticket(&self, value: &str) -> Option<TicketRecord> {
        self.tickets.get(value).cloned()
    }
    fn put_ticket(&mut self, value: String, record: TicketRecord) {
        self.tickets.insert(value, record);
    }
    fn token(&self, value: &str) -> Option<TokenRecord> {
        self.tokens.get(value).cloned()
    }
    fn put_token(&mut self, value: String, record: TokenRecord) {
        self.tokens.insert(value, record);
    }
    fn lineage(&self, id: &str) -> Option<LineageRecord> {
        self.lineages.get(id).cloned()
    }
    fn put_lineage(&mut self, id: String, record: LineageRecord) {
        self.lineages.insert(id, record);
    }
    fn has_data_upload(&self, appid: &str, un: &str, origin_id: &str) -> bool {
        self.uploads.iter().any(|u| {
            matches!(u.content, UploadContent::Data(_))
                && u.appid == appid
                && u.un == un
                && u.origin_id == origin_id
        })
    }
    fn push_upload(&mut self, upload: StoredUpload) {
        self.uploads.push(upload);
    }
}
