//! Building each platform's client from [`crate::config::Settings`] (being written).
