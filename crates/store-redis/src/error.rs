//! Redis failures as [`Error::Store`], and which of them mean "drop this connection".

use kaifang_proto_core::Error;
use redis::RedisError;

/// The store operation that failed, named in the message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Connect,
    Get,
    SetIfNewer,
    ExpireIf,
    TryLock,
    Unlock,
    Ping,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Get => "get",
            Self::SetIfNewer => "set-if-newer",
            Self::ExpireIf => "expire-if",
            Self::TryLock => "try-lock",
            Self::Unlock => "unlock",
            Self::Ping => "ping",
        }
    }
}

/// `redis {op}: {what}` with the URL's password, if any, replaced. Redis's own messages hold
/// no token (the scripts' arguments are never echoed), but a password could appear in a
/// connection error in some configurations: it is removed whatever the message.
pub(crate) fn store_error(op: Op, e: &RedisError, password: Option<&str>) -> Error {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connection_refusal() {
        "connection refused"
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost"
    } else {
        "failed"
    };
    Error::Store(scrub(format!("redis {}: {kind}: {e}", op.name()), password))
}

/// A store error that is not Redis's: a malformed stored value.
pub(crate) fn corrupt(op: Op, what: &str) -> Error {
    Error::Store(format!("redis {}: {what}", op.name()))
}

fn scrub(message: String, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => message.replace(p, "[redacted]"),
        _ => message,
    }
}

/// Whether the connection that produced `e` must be dropped (the next operation reconnects).
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// Whether `e` is what an old connection to a server that has since restarted (or a connection
/// cut by the network) produces on its next use, as opposed to a timeout: then the command did
/// not run and one retry on a new connection is safe.
pub(crate) fn is_stale(e: &RedisError) -> bool {
    (e.is_io_error() || e.is_connection_dropped()) && !e.is_timeout()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_never_the_password() {
        let e = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused talking to :hunter2@",
        ));
        let Error::Store(m) = store_error(Op::Get, &e, Some("hunter2")) else {
            panic!("not a store error");
        };
        assert!(m.starts_with("redis get: "), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(breaks_connection(&e));
    }
}
