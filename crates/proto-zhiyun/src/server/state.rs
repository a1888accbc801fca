//! What the server knows: clients, users' access tokens, issued auth codes, user and company
//! data. The caller owns it ([`ServerState`]); [`MemoryState`] is a plain in-memory one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::SystemTime;

use kaifang_proto_core::secret::SecretString;

use crate::model::{CompanyInfo, UserInfo};

/// A client as the server knows it (`auth_clients`).
#[derive(Clone)]
pub struct ServerClient {
    /// `client_id` (10 digits in the wild).
    pub client_id: String,
    /// `client_secret`.
    pub secret: SecretString,
    /// Methods its auth codes may call (`auth_clients.scope`, comma-separated on the wire:
    /// `getUserInfo,getCompanyInfo`).
    pub scope: Vec<String>,
}

impl ServerClient {
    /// A client with a comma-separated scope.
    pub fn new(
        client_id: impl Into<String>,
        secret: impl Into<String>,
        scope: &str,
    ) -> ServerClient {
        ServerClient {
            client_id: client_id.into(),
            secret: SecretString::new(secret),
            scope: split_scope(scope),
        }
    }
}

impl fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerClient")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Splits a comma-separated scope, trimming spaces and dropping empty parts.
pub fn split_scope(scope: &str) -> Vec<String> {
    scope
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A user's access token (what `UserTokenModel::getUidByToken` reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The user it belongs to.
    pub user_id: String,
    /// When it stops working (about 3 months after the desktop login).
    pub expires_at: SystemTime,
}

/// An issued auth code (`auth_authorization_codes`: code, client_id, user_id, expires, scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The user whose access token was traded.
    pub user_id: String,
    /// When it expires (`now > expires` → 100020).
    pub expires_at: SystemTime,
    /// The client's scope at issue time.
    pub scope: Vec<String>,
}

/// The server's state, kept by the caller (the sandbox keeps it behind its own lock).
/// Lookups return owned values so implementations may read from anywhere.
pub trait ServerState {
    /// The client with this id.
    fn client(&self, client_id: &str) -> Option<ServerClient>;
    /// The record of a user's access token (`None`: unknown).
    fn access_token(&self, access_token: &str) -> Option<AccessTokenRecord>;
    /// The record of an auth code (`None`: never issued, or purged).
    fn auth_code(&self, auth_code: &str) -> Option<AuthCodeRecord>;
    /// Stores a newly issued auth code.
    fn save_auth_code(&mut self, auth_code: &str, record: AuthCodeRecord);
    /// The user's details (`nowtime` is filled in by the server half).
    fn user_info(&self, user_id: &str) -> Option<UserInfo>;
    /// The user's company (`nowtime` is filled in by the server half).
    fn company_info(&self, user_id: &str) -> Option<CompanyInfo>;
}

/// A plain in-memory [`ServerState`]. `Debug` shows ids and counts, never tokens or codes.
#[derive(Clone, Default)]
pub struct MemoryState {
    /// Clients by id.
    pub clients: BTreeMap<String, ServerClient>,
    /// Users' access tokens.
    pub tokens: HashMap<String, AccessTokenRecord>,
    /// Issued auth codes.
    pub codes: HashMap<String, AuthCodeRecord>,
    /// Users by id.
    pub users: BTreeMap<String, UserInfo>,
    /// Companies by user id.
    pub companies: BTreeMap<String, CompanyInfo>,
}

impl fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryState")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .field("codes", &self.codes.len())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("companies", &self.companies.len())
            .finish()
    }
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a client.
    pub fn add_client(&mut self, client: ServerClient) -> &mut Self {
        self.clients.insert(client.client_id.clone(), client);
        self
    }

    /// Adds a user's access token.
    pub fn add_token(
        &mut self,
        access_token: impl Into<String>,
        user_id: impl Into<String>,
        expires_at: SystemTime,
    ) -> &mut Self {
        self.tokens.insert(
            access_token.into(),
            AccessTokenRecord {
                user_id: user_id.into(),
                expires_at,
            },
        );
        self
    }

    /// Adds a user and their company.
    pub fn add_user(
        &mut self,
        user_id: impl Into<String>,
        user: UserInfo,
        company: Option<CompanyInfo>,
    ) -> &mut Self {
        let user_id = user_id.into();
        if let Some(company) = company {
            self.companies.insert(user_id.clone(), company);
        }
        self.users.insert(user_id, user);
        self
    }

    /// Forgets an access token (a revoked login). Returns whether it was known.
    pub fn revoke_token(&mut self, access_token: &str) -> bool {
        self.tokens.remove(access_token).is_some()
    }

    /// Forgets every issued auth code.
    pub fn clear_codes(&mut self) {
        self.codes.clear();
    }
}

impl ServerState for MemoryState {
    fn client(&self, client_id: &str) -> Option<ServerClient> {
        self.clients.get(client_id).cloned()
    }

    fn access_token(&self, access_token: &str) -> Option<AccessTokenRecord> {
        self.tokens.get(access_token).cloned()
    }

    fn auth_code(&self, auth_code: &str) -> Option<AuthCodeRecord> {
        self.codes.get(auth_code).cloned()
    }

    fn save_auth_code(&mut self, auth_code: &str, record: AuthCodeRecord) {
        self.codes.insert(auth_code.to_owned(), record);
    }

    fn user_info(&self, user_id: &str) -> Option<UserInfo> {
        self.users.get(user_id).cloned()
    }

    fn company_info(&self, user_id: &str) -> Option<CompanyInfo> {
        self.companies.get(user_id).cloned()
    }
}

impl<S: ServerState + ?Sized> ServerState for &mut S {
    fn client(&self, client_id: &str) -> Option<ServerClient> {
        (**self).client(client_id)
    }
    fn access_token(&self, access_token: &str) -> Option<AccessTokenRecord> {
        (**self).access_token(access_token)
    }
    fn auth_code(&self, auth_code: &str) -> Option<AuthCodeRecord> {
        (**self).auth_code(auth_code)
    }
    fn save_auth_code(&mut self, auth_code: &str, record: AuthCodeRecord) {
        (**self).save_auth_code(auth_code, record);
    }
    fn user_info(&self, user_id: &str) -> Option<UserInfo> {
        (**self).user_info(user_id)
    }
    fn company_info(&self, user_id: &str) -> Option<CompanyInfo> {
        (**self).company_info(user_id)
    }
}
