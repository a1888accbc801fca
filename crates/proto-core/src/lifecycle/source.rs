//! [`TokenSource`]: how a platform crate tells a transport to obtain a token for a [`Plan`].

use super::key::TokenKey;
use super::slot::Plan;
use crate::error::Error;
use crate::exchange::Exchange;
use crate::token::Token;

/// A boxed exchange producing a token.
pub type TokenExchange<'a> = Box<dyn Exchange<Output = Token> + Send + Sync + 'a>;

/// Obtains tokens for one [`TokenKey`]: the platform crate's grant logic, run by a transport.
///
/// ```
/// use kaifang_proto_core::lifecycle::{Plan, TokenExchange, TokenKey, TokenSource};
/// use kaifang_proto_core::error::Error;
///
/// struct Demo { key: TokenKey }
/// impl TokenSource for Demo {
///     fn key(&self) -> &TokenKey { &self.key }
///     fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error> {
///         match plan {
///             Plan::UseRefreshToken(_refresh) => Err(Error::Config("build the refresh exchange here".into())),
///             Plan::FullGrant => Err(Error::Config("build the full grant here".into())),
///         }
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync {
    /// Which token this source produces.
    fn key(&self) -> &TokenKey;

    /// The exchange that carries out `plan`. A source without a refresh grant answers
    /// [`Plan::UseRefreshToken`] with its full grant.
    ///
    /// # Errors
    /// [`Error::Config`] when the exchange cannot be built.
    fn exchange(&self, plan: &Plan) -> Result<TokenExchange<'_>, Error>;
}
