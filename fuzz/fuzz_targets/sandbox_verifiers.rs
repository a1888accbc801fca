//! Arbitrary requests into every server half's verifier, as the sandbox routes them: tianyi
//! `server::verify` (header, form, signature, decryption, time window) and its follow-up checks,
//! zhiyun `server::handle`, device `provision` / `register_device` / `auth_devicename`, tf56
//! `Tenant::handle` (token endpoint, authorize, gateway), iLab `IlabServer::handle`.
//!
//! Input: byte 0 picks the platform (and the device handler), the rest is a request in
//! HTTP/1 text form: `METHOD TARGET\n`, `name: value` lines, an empty line, the body. Real
//! requests built by the client halves seed the corpus.
//!
//! Invariants: no panic; every answer is one the matching client half can read (its parser
//! returns a value or a platform error, never a decode error); a tianyi request the client
//! half builds with an arbitrary auth code verifies, and its params decrypt to that code.
#![no_main]

use std::time::Duration;

use kaifang_fuzz::{NOW_MS, ctx};
use kaifang_proto_core::Error;
use kaifang_proto_core::context::from_unix_millis;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_device::server::registry::MemoryRegistry;
use kaifang_proto_device::server::{
    self as device, AuthServerOptions, DeviceRecord, ProductRecord, ProvisionPolicy,
};
use kaifang_proto_device::{Connect, Qos};
use kaifang_proto_ilab::Profile;
use kaifang_proto_ilab::server::{
    IlabServer, Incoming, MemoryStore as IlabMemory, ServerApp as IlabApp,
};
use kaifang_proto_tf56::server::{MemoryStore as Tf56Memory, Tenant};
use kaifang_proto_tianyi::server::{self as tianyi, ServerApp, VerifyOptions};
use kaifang_proto_tianyi::{AppKind, GetAccessToken, Grant, Tianyi, TianyiConfig};
use kaifang_proto_zhiyun::server::{self as zhiyun, ServerOptions, tenant};
use libfuzzer_sys::fuzz_target;

const TIANYI_APP: &str = "693299085757";
const TIANYI_SECRET: &str = "88bd97ee5e9949c2bc48efb6e6fa2207";

/// Reads `METHOD TARGET\nheaders\n\nbody` into a request; `None` when the method, target or a
/// header is not valid HTTP.
fn request(text: &[u8]) -> Option<http::Request<Vec<u8>>> {
    let split = text.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, &b""[..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut b = http::Request::builder().method(method).uri(target);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        b = b.header(name.trim(), value.trim());
    }
    b.body(body.to_vec()).ok()
}

fn tianyi_app() -> ServerApp {
    ServerApp {
        app_id: TIANYI_APP.into(),
        secret: SecretString::new(TIANYI_SECRET),
        name: "demo".into(),
        kind: AppKind::Standard,
        callback_domain: Some("http://192.168.140.1:8889".into()),
        enterprise_users: vec!["13800000000".into()],
    }
}

fn run_tianyi(req: &http::Request<Vec<u8>>, code: &str) {
    let find = |id: &str| (id == TIANYI_APP).then(tianyi_app);
    match tianyi::verify(
        req.headers(),
        req.body(),
        NOW_MS,
        find,
        VerifyOptions::default(),
    ) {
        Ok((app, v)) => {
            assert_eq!(v.app_id, TIANYI_APP);
            assert!((NOW_MS - v.timestamp).abs() <= VerifyOptions::default().timestamp_window_ms);
            if let Some(cb) = v.params.get("callbackUrl") {
                let _ = tianyi::check_callback(&app, cb);
            }
            if let Some(g) = v.params.get("grantType") {
                let _ = tianyi::check_grant(&app, g);
            }
            let _ = tianyi::check_enterprise_user(&app, &v.params);
        }
        Err(refusal) => {
            let resp = refusal.to_response();
            let body: serde_json::Value =
                serde_json::from_slice(resp.body()).expect("a refusal is JSON");
            assert!(
                body.get("code").or_else(|| body.get("CODE")).is_some(),
                "{body}"
            );
        }
    }
    // The client half's request with an arbitrary auth code verifies.
    let app = Tianyi::new(TianyiConfig::new(TIANYI_APP, TIANYI_SECRET)).expect("valid config");
    if let Ok(get) = GetAccessToken::new(&app, &Grant::AuthCode(SecretString::new(code))) {
        let built = get.build(&ctx()).expect("builds");
        let (_, v) = tianyi::verify(
            built.headers(),
            built.body(),
            NOW_MS,
            |id| (id == TIANYI_APP).then(tianyi_app),
            VerifyOptions::default(),
        )
        .unwrap_or_else(|r| panic!("own request refused: {r:?} for code {code:?}"));
        assert!(
            v.params.keys().any(|k| v.params.get(k) == Some(code)),
            "code lost: {:?}",
            v.params
        );
    }
}

fn run_zhiyun(req: &http::Request<Vec<u8>>) {
    let now = from_unix_millis(NOW_MS);
    let mut state = tenant::seed_state(now - Duration::from_secs(3600), tenant::ACCESS_TOKEN_TTL);
    let resp = zhiyun::handle(&mut state, req, now, &ServerOptions::default(), b"entropy");
    if resp.body().is_empty() {
        return;
    }
    match kaifang_proto_zhiyun::response::decode::<serde_json::Value>(&ctx(), &resp) {
        Ok(_) | Err(Error::Platform(_)) => {}
        Err(e) => panic!(
            "the client cannot read the server's answer: {e:?}\n{}",
            String::from_utf8_lossy(resp.body())
        ),
    }
}

fn registry() -> MemoryRegistry {
    MemoryRegistry::new()
        .with_device(
            DeviceRecord::new("pk", "device", Some("secret".into()))
                .key("imei", "490154203237518")
                .connect(Connect {
                    qos: Qos::AtLeastOnce,
                    host: Some("pk.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883".into()),
                    clean_session: true,
                }),
        )
        .with_device(
            DeviceRecord::new("a1csED27mp7", "AdvExample_dyn1", None)
                .key("iccid", "89860012345678901234")
                .key("imei", "352099001761481"),
        )
        .with_product(ProductRecord::dynamic("a1csED27mp7", "VuULINCrtTAzCSzp"))
}

fn run_device(which: u8, req: &http::Request<Vec<u8>>) {
    let ctx = ctx();
    let reg = registry();
    let opts = AuthServerOptions::default();
    match which % 3 {
        0 => {
            let answer =
                device::provision(req.headers(), req.body(), &reg, &ProvisionPolicy::default());
            let resp = answer.to_response();
            let outcome = kaifang_proto_device::parse_response(resp.body())
                .expect("the device can read every provisioning answer");
            assert_eq!(
                resp.status() == http::StatusCode::OK,
                matches!(
                    outcome,
                    kaifang_proto_device::ProvisionOutcome::Provisioned(_)
                ),
                "{outcome:?}"
            );
        }
        1 => {
            let answer = device::register_device(req.headers(), req.body(), &ctx, &reg, &opts);
            let resp = answer.to_response();
            let _: serde_json::Value = serde_json::from_slice(resp.body()).expect("JSON answer");
            let _ = kaifang_proto_device::dynreg::parse_register_response(resp.body());
        }
        _ => {
            let answer = device::auth_devicename(req.headers(), req.body(), &ctx, &reg, &opts);
            let resp = answer.to_response();
            let _: serde_json::Value = serde_json::from_slice(resp.body()).expect("JSON answer");
            let _ = kaifang_proto_device::devicename::parse_devicename_response(resp.body());
        }
    }
}

fn run_tf56(req: &http::Request<Vec<u8>>) {
    let tenant = Tenant::default();
    let mut store = Tf56Memory::new();
    let resp = tenant.handle(&mut store, &ctx(), req);
    if !resp.status().is_redirection() && !resp.body().is_empty() {
        let _: serde_json::Value = serde_json::from_slice(resp.body())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(resp.body())));
    }
}

fn run_ilab(profile: Profile, req: &http::Request<Vec<u8>>) {
    let ctx = ctx();
    let server = IlabServer::new(profile, b"sandbox-jwt-key").with_app(IlabApp::new(
        "1681600222748241929",
        "123456",
        "demo",
    ));
    let mut store = IlabMemory::new();
    let _ = server.mint_ticket(
        &mut store,
        &ctx,
        "1681600222748241929",
        "1701808169793138690",
        "张三",
    );
    if let Some(resp) = server.handle(&mut store, &ctx, &Incoming::from_request(req)) {
        match kaifang_proto_ilab::response::check(
            kaifang_proto_ilab::codes::Endpoint::Token,
            &ctx,
            &resp,
        ) {
            Ok(_) | Err(Error::Platform(_)) => {}
            Err(e) => panic!("the client cannot read the server's answer: {e:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(req) = request(rest) else {
        return;
    };
    match selector % 6 {
        0 => run_tianyi(&req, &String::from_utf8_lossy(req.body())),
        1 => run_zhiyun(&req),
        2 => run_device(selector / 6, &req),
        3 => run_tf56(&req),
        4 => run_ilab(Profile::Roncoo, &req),
        _ => run_ilab(Profile::IlabX, &req),
    }
});
