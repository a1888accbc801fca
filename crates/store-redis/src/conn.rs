//! What both stores hold: the configuration, the parsed client, the URL's password (to scrub
//! from errors) and the one connection, made on first use.

use core::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use kaifang_proto_core::Error;

use crate::config::RedisStoreConfig;

pub(crate) struct Conn<C> {
    pub(crate) config: RedisStoreConfig,
    pub(crate) password: Option<String>,
    pub(crate) client: redis::Client,
    slot: Mutex<Option<C>>,
}

impl<C> Conn<C> {
    /// Parses the URL; does not connect.
    pub(crate) fn open(config: RedisStoreConfig) -> Result<Self, Error> {
        let (client, password) = config.client()?;
        Ok(Self {
            config,
            password,
            client,
            slot: Mutex::new(None),
        })
    }

    /// The connection slot. Every use replaces or clones the `Option` whole (the blocking store
    /// runs one command under it), so a panic elsewhere cannot leave it half-written.
    pub(crate) fn slot(&self) -> MutexGuard<'_, Option<C>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Debug` of a store named `name`: the redacted configuration and whether it is connected.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("config", &self.config)
            .field("connected", &self.slot().is_some())
            .finish()
    }
}
