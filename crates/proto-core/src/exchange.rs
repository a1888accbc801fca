//! [`Exchange`]: the contract between platform crates and transports.
//!
//! A platform crate describes one API call as a value that can *build* an
//! `http::Request<Vec<u8>>` and *parse* the `http::Response<Vec<u8>>` that came back. A transport
//! (blocking or async) runs any exchange: `build`, send, read the body (with its size limit),
//! `parse`. Neither side knows the other.
//!
//! ```
//! use kaifang_proto_core::context::Context;
//! use kaifang_proto_core::error::Error;
//! use kaifang_proto_core::exchange::{Exchange, run_with};
//!
//! /// GET {base}/ping?nonce=…, answering the body as text.
//! struct Ping { base: String }
//!
//! impl Exchange for Ping {
//!     type Output = String;
//!
//!     fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
//!         let uri = format!("{}/ping?nonce={}", self.base, ctx.nonce(8)?);
//!         http::Request::get(uri).body(Vec::new()).map_err(|e| Error::Config(e.to_string()))
//!     }
//!
//!     fn parse(&self, _ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<String, Error> {
//!         Ok(String::from_utf8_lossy(resp.body()).into_owned())
//!     }
//! }
//!
//! // A fake transport: any closure from request to response.
//! let ctx = Context::system();
//! let out = run_with(&Ping { base: "http://127.0.0.1:1".into() }, &ctx, |req| {
//!     assert!(req.uri().to_string().starts_with("http://127.0.0.1:1/ping?nonce="));
//!     Ok(http::Response::new(b"pong".to_vec()))
//! });
//! assert_eq!(out.unwrap(), "pong");
//! ```

use crate::context::Context;
use crate::error::Error;
use crate::explain::Explain;

/// One request/response exchange with a platform, free of I/O.
///
/// Contract for implementors:
/// * [`build`](Exchange::build) returns a request with an **absolute** URI (the caller configured
///   the base URL), all headers, and the full body. Time and random values come from `ctx` only.
///   It must not fail for reasons a retry would fix.
/// * [`parse`](Exchange::parse) receives the response whatever its status; it decides which
///   statuses are errors (many platforms send errors inside 200 bodies and some send useful
///   bodies with 4xx). It must never put secrets into the error it returns.
/// * Both take `&self`, so a transport may call `build` again to retry (with a fresh timestamp
///   and nonce) and a value may be shared between threads.
///
/// The trait is object-safe for a given `Output`: `&dyn Exchange<Output = Token>` works.
pub trait Exchange {
    /// What a successful exchange produces.
    type Output;

    /// Builds the request to send.
    ///
    /// # Errors
    /// [`Error::Config`] (or another variant) when the inputs cannot form a valid request.
    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error>;

    /// Parses the complete response.
    ///
    /// # Errors
    /// [`Error::Platform`] for errors the platform reports, [`Error::HttpStatus`] for unexpected
    /// statuses, [`Error::Decode`] for bodies of the wrong shape.
    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Self::Output, Error>;

    /// How the request built at this `ctx` is signed, secrets elided. `None` when the exchange is
    /// not signed. Must compute the same values `build` would with the same `ctx`.
    fn explain(&self, ctx: &Context) -> Option<Explain> {
        let _ = ctx;
        None
    }

    /// A short stable name for spans and metrics (`tianyi.get_access_token`).
    fn name(&self) -> &'static str {
        "exchange"
    }

    /// `true` when sending the request twice has the same effect as once, so a transport may
    /// retry it after a transport error or a retryable status. Defaults to `false`.
    fn idempotent(&self) -> bool {
        false
    }
}

impl<E: Exchange + ?Sized> Exchange for &E {
    type Output = E::Output;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        (**self).build(ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
        (**self).parse(ctx, resp)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        (**self).explain(ctx)
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn idempotent(&self) -> bool {
        (**self).idempotent()
    }
}

impl<E: Exchange + ?Sized> Exchange for Box<E> {
    type Output = E::Output;

    fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        (**self).build(ctx)
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<Self::Output, Error> {
        (**self).parse(ctx, resp)
    }

    fn explain(&self, ctx: &Context) -> Option<Explain> {
        (**self).explain(ctx)
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn idempotent(&self) -> bool {
        (**self).idempotent()
    }
}

/// Runs an exchange through `send`, a function from request to response: the whole transport
/// contract in one line. Useful for tests, fakes and custom HTTP stacks (firmware modems).
///
/// # Errors
/// The first error of `build`, `send` or `parse`.
pub fn run_with<E, F>(exchange: &E, ctx: &Context, send: F) -> Result<E::Output, Error>
where
    E: Exchange + ?Sized,
    F: FnOnce(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error>,
{
    let req = exchange.build(ctx)?;
    let resp = send(req)?;
    exchange.parse(ctx, resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::context::{FixedNonce, FrozenClock};

    struct Echo;
    impl Exchange for Echo {
        type Output = usize;
        fn build(&self, ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
            http::Request::post(format!("http://h/x?t={}", ctx.now_millis()))
                .body(b"abc".to_vec())
                .map_err(|e| Error::Config(e.to_string()))
        }
        fn parse(&self, _: &Context, resp: http::Response<Vec<u8>>) -> Result<usize, Error> {
            Ok(resp.body().len())
        }
        fn name(&self) -> &'static str {
            "echo"
        }
    }

    #[test]
    fn object_safe_and_deterministic() {
        let ctx = Context::new(
            Arc::new(FrozenClock::from_unix_millis(5)),
            Arc::new(FixedNonce::new("n")),
        );
        let boxed: Box<dyn Exchange<Output = usize> + Send + Sync> = Box::new(Echo);
        assert_eq!(boxed.name(), "echo");
        assert!(boxed.explain(&ctx).is_none());
        let n = run_with(&boxed, &ctx, |req| {
            assert_eq!(req.uri(), "http://h/x?t=5");
            Ok(http::Response::new(req.into_body()))
        })
        .unwrap();
        assert_eq!(n, 3);
    }
}
