//! What the server knows: clients, users, lifetimes and behaviour switches. The default tenant
//! holds the credentials printed in public sources, so their example code works against the
//! sandbox with only the host changed.

use std::fmt;

use kaifang_proto_core::secret::SecretString;
use serde::Deserialize;

use crate::oauth::GrantType;

/// The public client's id (`sdgs.main.GetToken`) `[C]`.
pub const PUBLIC_CLIENT_ID: &str = "7";
/// The public client's secret (`sdgs.main.GetToken`) `[C]`.
pub const PUBLIC_CLIENT_SECRET: &str = "7fad9d6b20e849219d6888b25e3f40db";
/// The seed's authorization-code client id `[C]`.
pub const CODE_CLIENT_ID: &str = "1";
/// Its secret: not public, chosen by kaifang `[I]`.
pub const CODE_CLIENT_SECRET: &str = "3f1e0c9a7b5d4e2f8a6c4b2d0e9f7a5c";
/// Its registered redirect URI `[C: seed]`.
pub const CODE_CLIENT_REDIRECT_URI: &str = "http://test.tf56.com";
/// The scope of the `client_credentials` example `[C: seed]`.
pub const PUBLIC_CLIENT_SCOPE: &str = "商铺 good-list op-truck open-demo";
/// The scope of the authorization-code example `[C: seed]`.
pub const CODE_CLIENT_SCOPE: &str = "all";
/// The scope that stands for every scope `[I]`.
pub const SCOPE_ALL: &str = "all";
/// The demo user of the password grant `[I]`.
pub const DEMO_USERNAME: &str = "demo";
/// The demo user's password `[I]`.
pub const DEMO_PASSWORD: &str = "demo123456";

/// A client as the server knows it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub secret: SecretString,
    /// Display name (login page).
    #[serde(default)]
    pub name: String,
    /// The registered redirect URI; the authorization-code flow needs one (exact match).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The scopes the client may have; `all` allows any scope.
    #[serde(default)]
    pub scope: Vec<String>,
    /// The grant types the client may use (`refresh_token` included when refresh tokens may be
    /// used).
    #[serde(default = "all_grants")]
    pub grants: Vec<GrantType>,
}

fn all_grants() -> Vec<GrantType> {
    GrantType::ALL.to_vec()
}

impl fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerClient")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("name", &self.name)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("grants", &self.grants)
            .finish()
    }
}

impl ServerClient {
    /// `true` when the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// A user of the password grant and of `queryUserInfo`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerUser {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: SecretString,
    /// Id (`userId`).
    #[serde(default)]
    pub user_id: String,
    /// Real name (`realname`).
    #[serde(default)]
    pub realname: String,
    /// Mobile number.
    #[serde(default)]
    pub mobile: String,
}

impl fmt::Debug for ServerUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerUser")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifetimes {
    /// Access tokens of `client_credentials`: 1,800 s `[C: seed]`.
    pub client_credentials: u64,
    /// Access tokens of `authorization_code`: 25,200 s `[C: seed]`.
    pub authorization_code: u64,
    /// Access tokens of `password`: 25,200 s, like the other user grant `[I]`.
    pub password: u64,
    /// Refresh tokens: 7 days, "longer than the access token" `[C]` / the value `[I]`.
    pub refresh_token: u64,
    /// Authorization codes: 10 minutes `[I]`.
    pub code: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            client_credentials: 1_800,
            authorization_code: 25_200,
            password: 25_200,
            refresh_token: 7 * 86_400,
            code: 600,
        }
    }
}

impl Lifetimes {
    /// The access-token lifetime of tokens first obtained with `grant` (a refreshed token keeps
    /// the lifetime of its original grant).
    pub const fn access(&self, grant: GrantType) -> u64 {
        match grant {
            GrantType::ClientCredentials => self.client_credentials,
            GrantType::AuthorizationCode | GrantType::RefreshToken => self.authorization_code,
            GrantType::Password => self.password,
        }
    }
}

/// How the gateway answers an API call whose token is missing, invalid, expired or revoked
/// (the real answer is not public `[I]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidTokenStyle {
    /// RFC 6750: HTTP 401 `{"error":"invalid_token","error_description":…}` with
    /// `WWW-Authenticate: Bearer error="invalid_token"` (Spring Security OAuth's behaviour).
    #[default]
    #[serde(rename = "oauth", alias = "o_auth")]
    OAuth,
    /// The business envelope in an HTTP 200: `{"result":"error","code":"401","msg":…,"data":null}`.
    Gateway,
}

/// One emulated gateway: its clients, users, lifetimes and switches. `Default` is the seed
/// tenant: client `7` (the public client, `client_credentials`, `password`, `refresh_token`,
/// scope `商铺 good-list op-truck open-demo`), client `1` (every grant, redirect URI
/// `http://test.tf56.com`, scope `all`) and the user `demo` / `demo123456`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tenant {
    /// The clients.
    pub clients: Vec<ServerClient>,
    /// The users.
    pub users: Vec<ServerUser>,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
    /// How API calls with a bad token are refused.
    pub invalid_token_style: InvalidTokenStyle,
    /// Whether refreshing revokes the access token issued with the old refresh token (Spring's
    /// `DefaultTokenServices` does) `[I]`. Default `true`.
    pub revoke_access_on_refresh: bool,
    /// The user [`Tenant::handle`] logs in on the authorize page (a non-interactive stand-in for
    /// the login page; the sandbox shows a real page instead). `None`: `handle` answers the
    /// authorize page with 501.
    pub auto_login_user: Option<String>,
}

impl Default for Tenant {
    fn default() -> Self {
        let split = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        Tenant {
            clients: vec![
                ServerClient {
                    client_id: PUBLIC_CLIENT_ID.into(),
                    secret: SecretString::new(PUBLIC_CLIENT_SECRET),
                    name: "tf56 public client".into(),
                    redirect_uri: None,
                    scope: split(PUBLIC_CLIENT_SCOPE),
                    grants: vec![
                        GrantType::ClientCredentials,
                        GrantType::Password,
                        GrantType::RefreshToken,
                    ],
                },
                ServerClient {
                    client_id: CODE_CLIENT_ID.into(),
                    secret: SecretString::new(CODE_CLIENT_SECRET),
                    name: "tf56 test app".into(),
                    redirect_uri: Some(CODE_CLIENT_REDIRECT_URI.into()),
                    scope: split(CODE_CLIENT_SCOPE),
                    grants: all_grants(),
                },
            ],
            users: vec![ServerUser {
                username: DEMO_USERNAME.into(),
                password: SecretString::new(DEMO_PASSWORD),
                user_id: "10001".into(),
                realname: "张三".into(),
                mobile: "13800000000".into(),
            }],
            lifetimes: Lifetimes::default(),
            invalid_token_style: InvalidTokenStyle::OAuth,
            revoke_access_on_refresh: true,
            auto_login_user: Some(DEMO_USERNAME.into()),
        }
    }
}

impl Tenant {
    /// The client with this id.
    pub fn client(&self, client_id: &str) -> Option<&ServerClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The user with this name.
    pub fn user(&self, username: &str) -> Option<&ServerUser> {
        self.users.iter().find(|u| u.username == username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox writes and documents `"oauth"`; serde's snake_case of `OAuth` would be
    /// `"o_auth"` (still accepted).
    #[test]
    fn invalid_token_style_reads_what_the_sandbox_writes() {
        for (text, style) in [
            ("\"oauth\"", InvalidTokenStyle::OAuth),
            ("\"o_auth\"", InvalidTokenStyle::OAuth),
            ("\"gateway\"", InvalidTokenStyle::Gateway),
        ] {
            assert_eq!(
                serde_json::from_str::<InvalidTokenStyle>(text).unwrap(),
                style
            );
        }
        assert!(serde_json::from_str::<InvalidTokenStyle>("\"bearer\"").is_err());
    }
}
