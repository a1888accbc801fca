//! Properties: the client's requests pass the server's checks at any time in either `t_` unit,
//! and no input makes either half panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_zhiyun::request::Stamp;
use kaifang_proto_zhiyun::server::{self, Incoming, ServerOptions, checks, tenant};
use kaifang_proto_zhiyun::{Format, TimeUnit, UserInfo, Zhiyun, ZhiyunConfig, response};
use proptest::prelude::*;

proptest! {
    #[test]
    fn p_is_always_in_range(t in any::<u64>()) {
        let s = Stamp::from_t(t);
        prop_assert!((2345..=32342).contains(&s.p));
        prop_assert_eq!(s.p, (t % 10_000) * 3 + 2345);
    }

    #[test]
    fn client_requests_pass_the_server_at_any_time(
        millis in 100_000_000_000i64..4_000_000_000_000,
        seconds in any::<bool>(),
        xml in any::<bool>(),
        token in 0usize..2,
    ) {
        let unit = if seconds { TimeUnit::Seconds } else { TimeUnit::Millis };
        let format = if xml { Format::Xml } else { Format::Json };
        let app = Zhiyun::new(
            ZhiyunConfig::new("http://h", tenant::CLIENT_ID, tenant::CLIENT_SECRET, tenant::ACCESS_TOKENS[token])
                .time_unit(unit)
                .format(format),
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(millis as u64);
        let ctx = Context::new(Arc::new(FrozenClock::from_unix_millis(millis)), Arc::new(FixedNonce::new("n")));
        let mut state = tenant::seed_state(now, tenant::ACCESS_TOKEN_TTL);
        let opts = ServerOptions::default();

        let req = app.authorize().build(&ctx).unwrap();
        let incoming = Incoming::parse(&req).unwrap();
        let verified = server::verify(&state, &incoming, now, &opts).unwrap();
        let code = server::issue_auth_code(&mut state, &verified, now, &opts, b"e");
        prop_assert_eq!(code.len(), 40);

        let req = app.user_info(&code.as_str().into()).build(&ctx).unwrap();
        let resp = server::handle(&mut state, &req, now, &opts, b"e");
        let user: UserInfo = response::decode(&ctx, &resp).unwrap();
        prop_assert_eq!(user.nowtime, Some(millis / 1000));
    }

    #[test]
    fn server_never_panics(path in ".{0,60}", query in ".{0,200}", auth in proptest::option::of(".{0,80}")) {
        let mut state = tenant::seed_state(UNIX_EPOCH, tenant::ACCESS_TOKEN_TTL);
        let _ = checks::basic_credentials(auth.as_deref());
        let uri = format!("/apis/rest/{path}?{query}");
        if let Ok(uri) = uri.parse::<http::Uri>() {
            let mut req = http::Request::get(uri);
            if let Some(a) = &auth
                && let Ok(v) = http::HeaderValue::from_str(a)
            {
                req = req.header("authorization", v);
            }
            let req = req.body(()).unwrap();
            let resp = server::handle(&mut state, &req, UNIX_EPOCH, &ServerOptions::default(), b"");
            prop_assert!(!resp.body().is_empty());
        }
    }

    #[test]
    fn client_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), status in 100u16..600) {
        let mut resp = http::Response::new(body);
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        let _ = response::decode::<UserInfo>(&Context::system(), &resp);
    }

    #[test]
    fn xml_like_bodies_never_panic(inner in "(<[a-z_]{1,8}>|</[a-z_]{1,8}>|<[a-z]{1,3}/>|[a-z0-9 ]{0,5}|&amp;|<!--x-->){0,20}") {
        let body = format!("<response><code>200</code><message>ok</message><data>{inner}</data></response>");
        let _ = response::decode::<UserInfo>(&Context::system(), &http::Response::new(body.clone().into_bytes()));
        let _ = kaifang_proto_zhiyun::xml::redact_xml(&body);
    }
}
