//! The form and query parsers: tianyi `PrivateParams::parse_plain`, `parse_callback` (tianyi and
//! tf56), zhiyun `server::Query::parse` and `checks::basic_credentials`, tf56
//! `server::parse_basic` (its own base64 decoder), `server::route`/`entry_method`, zhiyun
//! `Endpoint::route`, iLab `Incoming::param`, proto-core `redact::query`/`form`/`url` and
//! `error::parse_retry_after`.
//!
//! Input: the whole input as text (lossy UTF-8); its first line also serves as a user name and
//! the rest as a password for the Basic round trips.
//!
//! Invariants: no panic; `parse_plain` is stable under `to_plain`; a zhiyun query re-serialized
//! parses to the same values; Basic credentials encoded by sign-core decode back in both server
//! halves; `redact::query` keeps every `&`-separated piece.
#![no_main]

use kaifang_fuzz::{NOW_MS, ctx};
use kaifang_proto_core::{error::parse_retry_after, redact};
use kaifang_proto_ilab::server::Incoming;
use kaifang_proto_tianyi::PrivateParams;
use kaifang_proto_zhiyun::server::{Query, checks};
use kaifang_sign_core::zhiyun::{basic_authorization, basic_authorization_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;

    // Tianyi private params: parse, render, parse again.
    let params = PrivateParams::parse_plain(text);
    let again = PrivateParams::parse_plain(&params.to_plain());
    let pairs = |p: &PrivateParams| {
        p.keys()
            .map(|k| (k.to_owned(), p.get(k).map(str::to_owned)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(&params),
        pairs(&again),
        "parse_plain is not stable under to_plain"
    );
    let _ = params.to_elided();

    // Callbacks.
    let _ = kaifang_proto_tianyi::parse_callback(text, "abcdefghijklmnop");
    let _ = kaifang_proto_tf56::parse_callback(text, "abcdefghijklmnop");

    // Zhiyun query: re-serialize the last value of each name and parse again.
    let q = Query::parse(text);
    let names: Vec<String> =
        form_urlencoded::parse(text.strip_prefix('?').unwrap_or(text).as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for name in &names {
        ser.append_pair(name, q.get(name).expect("a parsed name has a value"));
    }
    let q2 = Query::parse(&ser.finish());
    for name in &names {
        assert_eq!(q2.get(name), q.get(name));
    }
    let _ = format!("{q:?}");

    // Basic credentials: arbitrary headers, then the round trip.
    let _ = checks::basic_credentials(Some(text));
    let _ = kaifang_proto_tf56::server::parse_basic(text);
    let (user, password) = text.split_once('\n').unwrap_or((text, ""));
    if !user.is_empty() && !user.contains(':') {
        let mut buf = vec![0u8; basic_authorization_len(user.len(), password.len())];
        let header = basic_authorization(user, password, &mut buf).expect("sized buffer");
        assert_eq!(
            checks::basic_credentials(Some(header)),
            Some((user.to_owned(), password.to_owned())),
            "zhiyun does not read back {header}"
        );
        let tf = kaifang_proto_tf56::server::parse_basic(header)
            .expect("Basic")
            .expect("well formed");
        assert_eq!(
            (tf.id.as_str(), tf.secret.expose_secret()),
            (user, password)
        );
    }

    // Routing.
    let _ = kaifang_proto_zhiyun::Endpoint::route(text);
    let _ = kaifang_proto_tf56::server::route(text);
    let _ = kaifang_proto_tf56::server::entry_method(text);

    // iLab's query parameters.
    let headers = http::HeaderMap::new();
    let incoming = Incoming {
        method: &http::Method::GET,
        path: "/",
        query: text,
        headers: &headers,
        body: b"",
    };
    for name in ["ticket", "appid", "signature", "access_token", "token"] {
        if let Some(v) = incoming.param(name) {
            assert!(!v.is_empty());
        }
    }

    // Redaction keeps the shape.
    let red = redact::query(text);
    assert_eq!(red.split('&').count(), text.split('&').count(), "{red}");
    let _ = redact::form(data);
    let _ = redact::url(text);
    let _ = redact::text(text);

    let _ = parse_retry_after(text, ctx().now());
    let _ = NOW_MS;
});
