//! The secret-leak audit: unique markers (`LEAKMARKER-<kind>-<random hex>`) are configured into
//! the sandbox's tenants as every app secret, client secret, device and product secret,
//! password and configured access token, and every value the sandbox issues (access and refresh
//! tokens, codes, tickets, iotTokens, registered DeviceSecrets, MQTT passwords) is picked up and
//! treated as a marker too. Then every flow of every platform runs through both transports
//! (direct exchanges and the `TokenManager`s), plus the refusals (wrong secrets, revoked
//! tokens) and the transport failures (dropped connections, malformed and 5xx bodies), with
//! tracing at TRACE captured into a buffer.
//!
//! No marker may appear in: any captured log line; the `Debug` (and, where implemented,
//! `Display`) of every public value the flows construct or return (configs, apps, token
//! sources, tokens, secrets, requests, answers, errors of each kind); the sandbox journal (its
//! entries' `Debug` and the JSON `/__sandbox/journal` serves); the sandbox's `Config` and
//! module configs. Every finding is collected and the test fails listing them all.
//!
//! The CLI's output is audited in `crates/cli/tests/leak_audit.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::fmt::{Debug, Display};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaifang_e2e::runtime;
use kaifang_proto_core::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::lifecycle::{Plan, TokenSource};
use kaifang_proto_core::secret::{AccessToken, SecretString};
use kaifang_proto_core::token::Token;
use kaifang_proto_core::transport::TransportConfig;
use kaifang_sandbox::platforms::{device as sdev, ilab as silab, tf56 as stf56, tianyi as sty};
use kaifang_sandbox::platforms::{device::DeviceModule, ilab::IlabModule, zhiyun::ZhiyunModule};
use kaifang_sandbox::{BlockingSandbox, Config, FaultSpec, Sandbox};
use kaifang_transport_async::{AsyncClient, TokenManager as AsyncTokens};
use kaifang_transport_blocking::{BlockingClient, TokenManager as BlockingTokens};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// markers and findings

/// Every marker with its label, and every place one was found.
#[derive(Default)]
struct Audit {
    markers: Mutex<Vec<(String, String)>>,
    findings: Mutex<Vec<String>>,
}

fn random_hex() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}

impl Audit {
    /// A fresh marker of `kind`, registered.
    fn marker(&self, kind: &str) -> String {
        let m = format!("LEAKMARKER-{kind}-{}", random_hex());
        self.watch(kind, &m);
        m
    }

    /// Treats `value` (a token or code the sandbox issued) as a marker from now on.
    fn watch(&self, label: &str, value: &str) {
        // Very short values would match by accident; the sandbox issues long ones.
        assert!(value.len() >= 8, "{label}: `{value}` is too short to audit");
        let mut m = self.markers.lock().unwrap();
        if !m.iter().any(|(_, v)| v == value) {
            m.push((label.to_owned(), value.to_owned()));
        }
    }

    fn watch_token(&self, label: &str, t: &Token) {
        self.watch(&format!("{label} access token"), t.access.expose_secret());
        if let Some(r) = &t.refresh {
            self.watch(&format!("{label} refresh token"), r.expose_secret());
        }
    }

    /// The markers `text` contains.
    fn leaks_in(&self, text: &str) -> Vec<String> {
        self.markers
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, v)| text.contains(v.as_str()))
            .map(|(label, _)| label.clone())
            .collect()
    }

    /// Records a finding for every marker in `text`, shown at `place`.
    fn check(&self, place: &str, text: &str) {
        for label in self.leaks_in(text) {
            let excerpt: String = text.chars().take(300).collect();
            self.findings
                .lock()
                .unwrap()
                .push(format!("{label} in {place}: {excerpt}"));
        }
    }

    fn debug<T: Debug + ?Sized>(&self, place: &str, v: &T) {
        self.check(&format!("Debug of {place}"), &format!("{v:?}"));
        self.check(&format!("pretty Debug of {place}"), &format!("{v:#?}"));
    }

    fn both<T: Debug + Display + ?Sized>(&self, place: &str, v: &T) {
        self.debug(place, v);
        self.check(&format!("Display of {place}"), &v.to_string());
    }

    /// `Display`, `Debug` and the source chain of an error.
    fn error(&self, place: &str, e: &(dyn std::error::Error + 'static)) {
        self.both(place, e);
        let mut source = e.source();
        while let Some(s) = source {
            self.both(&format!("{place} (source)"), s);
            source = s.source();
        }
    }

    /// `r` must be an error; audits it.
    fn refused<T: Debug>(&self, place: &str, r: Result<T, Error>) -> Error {
        match r {
            Ok(v) => panic!("{place}: expected an error, got {v:?}"),
            Err(e) => {
                self.error(place, &e);
                e
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the captured log

/// The buffer every tracing event of the process is written to, at TRACE.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Shared(Arc::clone(&buf));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_target(true)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buf
    })
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// the sandbox with marker tenants

/// The platforms' default tenants as TOML, each default secret replaced by its marker.
struct Tenants {
    text: String,
    tianyi_seed: String,
    tianyi_platform: String,
    zhiyun_secret: String,
    zhiyun_token: String,
    device_secret: String,
    product_secret: String,
    tf56_public: String,
    tf56_code: String,
    tf56_password: String,
    ilab_seed: String,
    ilab_x: String,
}

/// Replaces every string equal to a key of `map` by its value, and drops nulls (TOML has none).
fn substitute(v: Value, map: &[(&str, &str)]) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Value::String(
            map.iter()
                .find(|(from, _)| *from == s)
                .map_or(s, |(_, to)| (*to).to_owned()),
        )),
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(|x| substitute(x, map)).collect(),
        )),
        Value::Object(o) => Some(Value::Object(
            o.into_iter()
                .filter_map(|(k, x)| substitute(x, map).map(|x| (k, x)))
                .collect(),
        )),
        other => Some(other),
    }
}

fn section<C: serde::Serialize>(name: &str, config: &C, map: &[(&str, &str)]) -> String {
    let v = substitute(serde_json::to_value(config).unwrap(), map).unwrap();
    let mut platforms = serde_json::Map::new();
    platforms.insert(name.to_owned(), v);
    toml::to_string(&json!({ "platforms": platforms })).unwrap()
}

impl Tenants {
    fn new(a: &Audit) -> Self {
        use kaifang_proto_tf56::server as tf56;
        use kaifang_proto_zhiyun::server::tenant as zy;
        let t = Tenants {
            text: String::new(),
            tianyi_seed: a.marker("tianyi-app-secret"),
            tianyi_platform: a.marker("tianyi-platform-app-secret"),
            zhiyun_secret: a.marker("zhiyun-client-secret"),
            zhiyun_token: a.marker("zhiyun-configured-access-token"),
            device_secret: a.marker("device-secret"),
            product_secret: a.marker("product-secret"),
            tf56_public: a.marker("tf56-client-secret"),
            tf56_code: a.marker("tf56-code-client-secret"),
            tf56_password: a.marker("tf56-password"),
            ilab_seed: a.marker("ilab-secret"),
            ilab_x: a.marker("ilabx-secret"),
        };
        let no_callback = a.marker("tianyi-nocallback-app-secret");
        let zhiyun_token2 = a.marker("zhiyun-configured-access-token-2");
        let jwt_key = a.marker("ilab-jwt-key");
        let mut text = String::from("[sandbox]\nseed = 4242\n");
        text += &section(
            "tianyi",
            &sty::TianyiSandboxConfig::default(),
            &[
                (sty::SEED_APP_SECRET, &t.tianyi_seed),
                (sty::PLATFORM_APP_SECRET, &t.tianyi_platform),
                (sty::NO_CALLBACK_APP_SECRET, &no_callback),
            ],
        );
        text += &section(
            "zhiyun",
            &kaifang_sandbox::platforms::zhiyun::ZhiyunSandboxConfig::default(),
            &[
                (zy::CLIENT_SECRET, &t.zhiyun_secret),
                (zy::ACCESS_TOKENS[0], &t.zhiyun_token),
                (zy::ACCESS_TOKENS[1], &zhiyun_token2),
            ],
        );
        text += &section(
            "device",
            &sdev::DeviceSandboxConfig::default(),
            &[
                (sdev::DEVICE_SECRET, &t.device_secret),
                (sdev::DYN_PRODUCT_SECRET, &t.product_secret),
            ],
        );
        // tf56's config serializes its secrets redacted: set them by client id and user name.
        let mut tf56_config = serde_json::to_value(stf56::Tf56Config::default()).unwrap();
        for c in tf56_config["clients"].as_array_mut().unwrap() {
            c["secret"] = match c["client_id"].as_str().unwrap() {
                tf56::PUBLIC_CLIENT_ID => t.tf56_public.clone(),
                tf56::CODE_CLIENT_ID => t.tf56_code.clone(),
                _ => a.marker("tf56-other-client-secret"),
            }
            .into();
        }
        for u in tf56_config["users"].as_array_mut().unwrap() {
            u["password"] = match u["username"].as_str().unwrap() {
                tf56::DEMO_USERNAME => t.tf56_password.clone(),
                _ => a.marker("tf56-other-password"),
            }
            .into();
        }
        // (Its `Serialize` spells the default style `oauth`, its `Deserialize` wants `o_auth`:
        // leave the default out.)
        tf56_config
            .as_object_mut()
            .unwrap()
            .remove("invalid_token_style");
        text += &section("tf56", &tf56_config, &[]);
        text += &section(
            "ilab",
            &silab::IlabSandboxConfig::default(),
            &[
                (silab::SEED_SECRET, &t.ilab_seed),
                (silab::ILABX_SECRET, &t.ilab_x),
                (silab::DEFAULT_JWT_KEY, &jwt_key),
            ],
        );
        for (from, to) in [
            (sty::SEED_APP_SECRET, &t.tianyi_seed),
            (zy::CLIENT_SECRET, &t.zhiyun_secret),
            (sdev::DEVICE_SECRET, &t.device_secret),
            (tf56::PUBLIC_CLIENT_SECRET, &t.tf56_public),
            (tf56::DEMO_PASSWORD, &t.tf56_password),
            (silab::DEFAULT_JWT_KEY, &jwt_key),
        ] {
            assert!(!text.contains(from), "{from} was not replaced");
            assert!(text.contains(to.as_str()), "{to} missing from the config");
        }
        Tenants { text, ..t }
    }
}

fn sandbox(a: &Audit, tenants: &Tenants) -> BlockingSandbox {
    let config = Config::from_toml(&tenants.text, "leak-audit.toml").unwrap();
    a.debug("sandbox Config", &config);
    let builder = Sandbox::builder()
        .config(config)
        .module(sty::TianyiModule)
        .module(ZhiyunModule::default())
        .module(DeviceModule::default())
        .module(stf56::Tf56Module)
        .module(IlabModule::default());
    a.debug("sandbox Builder", &builder);
    let sb = builder.start_blocking().unwrap();
    a.debug("sandbox handle", &*sb);
    sb
}

// ---------------------------------------------------------------------------------------------
// the two transports

enum Via {
    Blocking(Arc<BlockingClient>, BlockingTokens),
    Async(Arc<AsyncClient>, AsyncTokens),
}

impl Via {
    fn both(a: &Audit) -> [(&'static str, Via); 2] {
        let b = Arc::new(BlockingClient::new(TransportConfig::default()).unwrap());
        let c = Arc::new(AsyncClient::new(TransportConfig::default()).unwrap());
        let vias = [
            (
                "blocking",
                Via::Blocking(Arc::clone(&b), BlockingTokens::new(b)),
            ),
            ("async", Via::Async(Arc::clone(&c), AsyncTokens::new(c))),
        ];
        for (name, v) in &vias {
            match v {
                Via::Blocking(c, m) => {
                    a.debug(&format!("{name} client"), c);
                    a.debug(&format!("{name} TokenManager"), m);
                }
                Via::Async(c, m) => {
                    a.debug(&format!("{name} client"), c);
                    a.debug(&format!("{name} TokenManager"), m);
                }
            }
        }
        vias
    }

    fn exec<E: Exchange + ?Sized>(&self, e: &E) -> Result<E::Output, Error> {
        match self {
            Via::Blocking(c, _) => c.execute(e),
            Via::Async(c, _) => runtime().block_on(c.execute(e)),
        }
    }

    fn token<S: TokenSource + 'static>(&self, s: &Arc<S>) -> Result<Arc<Token>, Error> {
        match self {
            Via::Blocking(_, m) => m.token(&**s),
            Via::Async(_, m) => runtime().block_on(m.token(s)),
        }
    }

    fn call<S, E, F>(&self, s: &Arc<S>, make: F) -> Result<E::Output, Error>
    where
        S: TokenSource + 'static,
        E: Exchange,
        F: FnMut(&Token) -> E,
    {
        match self {
            Via::Blocking(_, m) => m.call_with_token(&**s, make),
            Via::Async(_, m) => runtime().block_on(m.call_with_token(s, make)),
        }
    }

    fn expire(&self, s: &dyn TokenSource, t: &Token) {
        match self {
            Via::Blocking(_, m) => {
                m.expire(s.key(), t);
            }
            Via::Async(_, m) => {
                runtime().block_on(m.expire(s.key(), t));
            }
        }
    }
}

/// A grant or refresh through a source's own exchange, audited and watched.
fn grant(a: &Audit, via: &Via, place: &str, source: &dyn TokenSource, plan: &Plan) -> Token {
    a.debug(&format!("{place} plan"), plan);
    let t = via.exec(&*source.exchange(plan).unwrap()).unwrap();
    a.watch_token(place, &t);
    a.debug(&format!("{place} token"), &t);
    a.debug(&format!("{place} access"), &t.access);
    a.debug(&format!("{place} token key"), source.key());
    t
}

fn refresh_plan(t: &Token) -> Plan {
    Plan::UseRefreshToken(t.refresh.clone().expect("a refresh token"))
}

/// Runs `run` once under each kind of sandbox fault on `path` (a 503 with a body, a malformed
/// body, a truncated body, a dropped connection) and audits the error it returns.
fn faults_for(
    a: &Audit,
    sb: &BlockingSandbox,
    path: &str,
    place: &str,
    mut run: impl FnMut() -> Result<(), Error>,
) {
    type Make = fn(FaultSpec) -> FaultSpec;
    let kinds: [(&str, Make); 4] = [
        ("503", |f| f.status(503, "{\"error\":\"busy\"}")),
        ("malformed", FaultSpec::malformed),
        ("truncated", FaultSpec::truncated),
        ("drop", FaultSpec::drop_connection),
    ];
    for (label, make) in kinds {
        sb.add_fault(make(FaultSpec::new(path).count(1))).unwrap();
        a.refused(&format!("{place} under a {label} fault"), run());
        sb.clear_faults();
    }
}

// ---------------------------------------------------------------------------------------------
// the platforms

fn tianyi(a: &Audit, sb: &BlockingSandbox, t: &Tenants, name: &str, via: &Via) {
    use kaifang_proto_tianyi::{
        AuthPageRequest, GetAccessToken, Grant, LoginClientType, Tianyi, TianyiConfig, TianyiTokens,
    };
    let p = format!("tianyi/{name}");
    // A standard app: an authCode from the login, then a refresh and the business calls.
    let config =
        TianyiConfig::new(sty::SEED_APP_ID, t.tianyi_seed.as_str()).base_url(sb.base_url());
    a.debug(&format!("{p} config"), &config);
    let standard = Tianyi::new(config).unwrap();
    a.debug(&format!("{p} app"), &standard);
    let page = AuthPageRequest::new(
        &standard,
        &kaifang_proto_core::context::Context::system(),
        &format!("{}/callback", sty::SEED_CALLBACK_DOMAIN),
        LoginClientType::Web,
    );
    if let Ok(page) = page {
        a.debug(&format!("{p} auth page request"), &page);
        let answer = via.exec(&page).unwrap();
        a.debug(&format!("{p} auth page"), &answer);
    }
    let code = sb
        .mint(
            "tianyi",
            sty::AUTH_CODE,
            json!({"app_id": sty::SEED_APP_ID}),
        )
        .unwrap()["authCode"]
        .as_str()
        .unwrap()
        .to_owned();
    a.watch("tianyi authCode", &code);
    let login = Grant::AuthCode(SecretString::new(code.as_str()));
    a.debug(&format!("{p} grant"), &login);
    let request = GetAccessToken::new(&standard, &login).unwrap();
    a.debug(&format!("{p} GetAccessToken"), &request);
    let source = Arc::new(TianyiTokens::new(&standard).with_login(login));
    a.debug(&format!("{p} source"), &*source);
    let token = grant(a, via, &format!("{p} authCode"), &*source, &Plan::FullGrant);
    let again = a.refused(&format!("{p} replayed authCode"), via.exec(&request));
    a.debug(&format!("{p} platform error"), &again.platform());
    let token = grant(
        a,
        via,
        &format!("{p} refresh"),
        &*source,
        &refresh_plan(&token),
    );
    let regions = via
        .exec(&standard.regions(&token.access, "").unwrap())
        .unwrap();
    a.debug(&format!("{p} regions"), &regions);
    a.debug(
        &format!("{p} regions call"),
        &standard.regions(&token.access, "").unwrap(),
    );
    let page = via
        .exec(&standard.device_list(&token.access, "", 1, 10).unwrap())
        .unwrap();
    a.debug(&format!("{p} devices"), &page);

    // A platform app through the TokenManager, with a retry after revoke.
    let app = Tianyi::new(
        TianyiConfig::new(sty::PLATFORM_APP_ID, t.tianyi_platform.as_str())
            .platform(sty::PLATFORM_ENTERPRISE_USER)
            .base_url(sb.base_url()),
    )
    .unwrap();
    let source = Arc::new(TianyiTokens::new(&app));
    let regions = via
        .call(&source, |tk| app.regions(&tk.access, "").unwrap())
        .unwrap();
    a.debug(&format!("{p} managed regions"), &regions);
    let current = via.token(&source).unwrap();
    a.watch_token(&format!("{p} managed"), &current);
    sb.revoke(Some("tianyi"), current.access.expose_secret())
        .unwrap();
    via.call(&source, |tk| app.device_list(&tk.access, "", 1, 5).unwrap())
        .unwrap();
    let renewed = via.token(&source).unwrap();
    a.watch_token(&format!("{p} managed after revoke"), &renewed);
    let token = grant(a, via, &format!("{p} vcp_189"), &*source, &Plan::FullGrant);
    grant(
        a,
        via,
        &format!("{p} vcp refresh"),
        &*source,
        &refresh_plan(&token),
    );

    // Refusals: a wrong secret, an unknown token.
    let wrong = Tianyi::new(
        TianyiConfig::new(sty::PLATFORM_APP_ID, a.marker("tianyi-wrong-secret"))
            .platform(sty::PLATFORM_ENTERPRISE_USER)
            .base_url(sb.base_url()),
    )
    .unwrap();
    a.debug(&format!("{p} wrong app"), &wrong);
    let e = a.refused(
        &format!("{p} wrong secret"),
        via.exec(
            &*TianyiTokens::new(&wrong)
                .exchange(&Plan::FullGrant)
                .unwrap(),
        ),
    );
    assert!(e.platform().is_some(), "{e}");
    let bogus = SecretString::new(a.marker("tianyi-bogus-token"));
    a.refused(
        &format!("{p} unknown token"),
        via.exec(&app.regions(&bogus, "").unwrap()),
    );
    faults_for(a, sb, sty::ACCESS_TOKEN_PATH, &p, || {
        via.exec(&*TianyiTokens::new(&app).exchange(&Plan::FullGrant).unwrap())
            .map(drop)
    });
}

fn zhiyun(a: &Audit, sb: &BlockingSandbox, t: &Tenants, name: &str, via: &Via) {
    use kaifang_proto_zhiyun::server::tenant;
    use kaifang_proto_zhiyun::{Format, Zhiyun, ZhiyunAuthCodes, ZhiyunConfig};
    let p = format!("zhiyun/{name}");
    for format in [Format::Json, Format::Xml] {
        let config = ZhiyunConfig::new(
            sb.base_url(),
            tenant::CLIENT_ID,
            t.zhiyun_secret.as_str(),
            t.zhiyun_token.as_str(),
        )
        .format(format);
        a.debug(&format!("{p} config"), &config);
        let app = Zhiyun::new(config).unwrap();
        a.debug(&format!("{p} app"), &app);
        a.debug(&format!("{p} authorize"), &app.authorize());
        let code = via.exec(&app.authorize()).unwrap();
        a.watch("zhiyun auth_code", code.expose_secret());
        a.debug(&format!("{p} code"), &code);
        a.debug(&format!("{p} user_info call"), &app.user_info(&code));
        let user = via.exec(&app.user_info(&code)).unwrap();
        a.debug(&format!("{p} user"), &user);
        let company = via.exec(&app.company_info(&code)).unwrap();
        a.debug(&format!("{p} company"), &company);

        let source = Arc::new(ZhiyunAuthCodes::new(&app));
        a.debug(&format!("{p} source"), &*source);
        let user = via.call(&source, |tk| app.user_info(&tk.access)).unwrap();
        a.debug(&format!("{p} managed user"), &user);
        let current = via.token(&source).unwrap();
        a.watch_token(&format!("{p} managed"), &current);
        sb.revoke(Some("zhiyun"), current.access.expose_secret())
            .unwrap();
        via.call(&source, |tk| app.company_info(&tk.access))
            .unwrap();
        a.watch_token(
            &format!("{p} managed after revoke"),
            &via.token(&source).unwrap(),
        );
        grant(a, via, &format!("{p} grant"), &*source, &Plan::FullGrant);

        let wrong = Zhiyun::new(ZhiyunConfig::new(
            sb.base_url(),
            tenant::CLIENT_ID,
            a.marker("zhiyun-wrong-secret"),
            t.zhiyun_token.as_str(),
        ))
        .unwrap();
        a.refused(&format!("{p} wrong secret"), via.exec(&wrong.authorize()));
        let wrong_token = Zhiyun::new(ZhiyunConfig::new(
            sb.base_url(),
            tenant::CLIENT_ID,
            t.zhiyun_secret.as_str(),
            a.marker("zhiyun-wrong-token"),
        ))
        .unwrap();
        a.refused(
            &format!("{p} wrong token"),
            via.exec(&wrong_token.authorize()),
        );
        let bogus = SecretString::new(a.marker("zhiyun-bogus-code"));
        a.refused(
            &format!("{p} unknown code"),
            via.exec(&app.user_info(&bogus)),
        );
        let path = format!(
            "/apis/rest/authService/authorize/{}",
            if format == Format::Json {
                "json"
            } else {
                "xml"
            }
        );
        faults_for(a, sb, &path, &p, || via.exec(&app.authorize()).map(drop));
    }
}

fn device(a: &Audit, sb: &BlockingSandbox, t: &Tenants, name: &str, via: &Via) {
    use kaifang_proto_device::exchange::{Authenticate, Provision, Register};
    use kaifang_proto_device::{DeviceConfig, MqttOptions, ProvisionRequest};
    let p = format!("device/{name}");
    let url = sb.url(sdev::PROVISION_PATH);
    let base = sb.base_url().to_owned();

    // 一机一密: provisioning hands out the DeviceSecret; MQTT and /auth/devicename use it.
    let req = ProvisionRequest::new()
        .imei(sdev::DEVICE_IMEI)
        .and_then(|q| q.iccid(sdev::DEVICE_ICCID))
        .unwrap();
    a.debug(&format!("{p} provision request"), &req);
    let provision = Provision::new(url.as_str(), req);
    a.debug(&format!("{p} Provision"), &provision);
    let one = via.exec(&provision).unwrap();
    assert_eq!(
        one.device_secret.as_ref().map(|s| s.expose_secret()),
        Some(t.device_secret.as_str())
    );
    a.debug(&format!("{p} device config"), &one);
    let mqtt = one
        .mqtt_connect(&MqttOptions::new().client_id(sdev::DEVICE_IMEI))
        .unwrap();
    a.watch("device MQTT password", mqtt.password.expose_secret());
    a.debug(&format!("{p} mqtt connect"), &mqtt);
    let auth = Authenticate::new(base.as_str(), one.clone(), sdev::DEVICE_IMEI);
    a.debug(&format!("{p} Authenticate"), &auth);
    let token = via.exec(&auth).unwrap();
    a.watch("device iotToken", token.iot_token.expose_secret());
    a.debug(&format!("{p} device token"), &token);
    if let Ok(m) = token.mqtt_connect("client-1", 60, true) {
        a.debug(&format!("{p} token mqtt connect"), &m);
    }

    // 一型一密: the ProductSecret, then dynamic registration hands out a DeviceSecret.
    let minted = sb
        .mint("device", "device", json!({"dynamic": true}))
        .unwrap();
    let imei = minted["imei"].as_str().unwrap().to_owned();
    let req = ProvisionRequest::new().imei(imei.as_str()).unwrap();
    let dynamic = via.exec(&Provision::new(url.as_str(), req)).unwrap();
    a.debug(&format!("{p} dynamic config"), &dynamic);
    let register = Register::new(base.as_str(), dynamic.clone());
    a.debug(&format!("{p} Register"), &register);
    let registered = via.exec(&register).unwrap();
    let secret = registered.device_secret.as_ref().unwrap().expose_secret();
    a.watch("registered DeviceSecret", secret);
    a.debug(&format!("{p} registered"), &registered);
    let mqtt = registered.mqtt_connect(&MqttOptions::new()).unwrap();
    a.watch("registered MQTT password", mqtt.password.expose_secret());
    a.debug(&format!("{p} registered mqtt"), &mqtt);
    sb.mint(
        "device",
        "activation",
        json!({"productKey": registered.product_key, "deviceName": registered.device_name}),
    )
    .unwrap();
    a.refused(
        &format!("{p} registration once active"),
        via.exec(&Register::new(base.as_str(), dynamic.clone())),
    );

    // Refusals: a wrong DeviceSecret, a wrong ProductSecret.
    let wrong = DeviceConfig::with_device_secret(
        sdev::DEVICE_PRODUCT_KEY,
        sdev::DEVICE_NAME,
        a.marker("device-wrong-secret").as_str(),
    )
    .unwrap();
    a.debug(&format!("{p} wrong config"), &wrong);
    a.refused(
        &format!("{p} wrong DeviceSecret"),
        via.exec(&Authenticate::new(base.as_str(), wrong, "client-1")),
    );
    let mut wrong_product = dynamic.clone();
    wrong_product.product_secret = Some(a.marker("product-wrong-secret").as_str().into());
    a.refused(
        &format!("{p} wrong ProductSecret"),
        via.exec(&Register::new(base.as_str(), wrong_product)),
    );
    faults_for(a, sb, sdev::PROVISION_PATH, &p, || {
        let req = ProvisionRequest::new().imei(sdev::DEVICE_IMEI).unwrap();
        via.exec(&Provision::new(url.as_str(), req)).map(drop)
    });
    faults_for(a, sb, "/auth/devicename", &p, || {
        via.exec(&Authenticate::new(base.as_str(), one.clone(), "client-1"))
            .map(drop)
    });
}

fn tf56(a: &Audit, sb: &BlockingSandbox, t: &Tenants, name: &str, via: &Via) {
    use kaifang_proto_tf56::server::{
        CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, DEMO_USERNAME, PUBLIC_CLIENT_ID,
    };
    use kaifang_proto_tf56::{ClientAuth, Grant, Tf56, Tf56Config, Tf56Tokens, TokenRequest};
    let p = format!("tf56/{name}");
    let access = |t: &Token| AccessToken::from(t.access.clone());
    for auth in [
        ClientAuth::QueryParams,
        ClientAuth::FormBody,
        ClientAuth::BasicAuth,
    ] {
        let p = format!("{p} {auth:?}");
        let config = Tf56Config::new(PUBLIC_CLIENT_ID, t.tf56_public.as_str())
            .base_url(sb.base_url())
            .client_auth(auth);
        a.debug(&format!("{p} config"), &config);
        let app = Tf56::new(config).unwrap();
        a.debug(&format!("{p} app"), &app);

        let cc = Arc::new(Tf56Tokens::client_credentials(&app));
        a.debug(&format!("{p} cc source"), &*cc);
        let public = grant(
            a,
            via,
            &format!("{p} client_credentials"),
            &*cc,
            &Plan::FullGrant,
        );
        a.debug(
            &format!("{p} sayHello call"),
            &app.say_hello(&access(&public)),
        );
        let hello = via.exec(&app.say_hello(&access(&public))).unwrap();
        a.debug(&format!("{p} hello"), &hello);
        let hello = via.call(&cc, |tk| app.say_hello(&access(tk))).unwrap();
        a.debug(&format!("{p} managed hello"), &hello);
        let current = via.token(&cc).unwrap();
        a.watch_token(&format!("{p} managed"), &current);
        sb.revoke(Some("tf56"), current.access.expose_secret())
            .unwrap();
        via.call(&cc, |tk| app.say_hello(&access(tk))).unwrap();
        a.watch_token(
            &format!("{p} managed after revoke"),
            &via.token(&cc).unwrap(),
        );

        let password = SecretString::new(t.tf56_password.as_str());
        let grant_pw = Grant::Password {
            username: DEMO_USERNAME.into(),
            password: password.clone(),
        };
        a.debug(&format!("{p} password grant"), &grant_pw);
        let req = TokenRequest::new(&app, grant_pw).unwrap();
        a.debug(&format!("{p} TokenRequest"), &req);
        let pw = Arc::new(Tf56Tokens::password(&app, DEMO_USERNAME, password));
        a.debug(&format!("{p} password source"), &*pw);
        let first = grant(a, via, &format!("{p} password"), &*pw, &Plan::FullGrant);
        let user = grant(a, via, &format!("{p} refresh"), &*pw, &refresh_plan(&first));
        let me = via.exec(&app.query_user_info(&access(&user))).unwrap();
        a.debug(&format!("{p} user info"), &me);
        let me = via
            .call(&pw, |tk| app.query_user_info(&access(tk)))
            .unwrap();
        a.debug(&format!("{p} managed user info"), &me);
        let current = via.token(&pw).unwrap();
        a.watch_token(&format!("{p} managed password"), &current);
        via.expire(&*pw, &current);
        a.watch_token(
            &format!("{p} managed password renewed"),
            &via.token(&pw).unwrap(),
        );
        a.refused(
            &format!("{p} used refresh token"),
            via.exec(&*pw.exchange(&refresh_plan(&first)).unwrap()),
        );

        let wrong = Tf56::new(
            Tf56Config::new(PUBLIC_CLIENT_ID, a.marker("tf56-wrong-secret"))
                .base_url(sb.base_url())
                .client_auth(auth),
        )
        .unwrap();
        a.refused(
            &format!("{p} wrong secret"),
            via.exec(
                &*Tf56Tokens::client_credentials(&wrong)
                    .exchange(&Plan::FullGrant)
                    .unwrap(),
            ),
        );
        let wrong_pw = Tf56Tokens::password(
            &app,
            DEMO_USERNAME,
            SecretString::new(a.marker("tf56-wrong-password")),
        );
        a.refused(
            &format!("{p} wrong password"),
            via.exec(&*wrong_pw.exchange(&Plan::FullGrant).unwrap()),
        );
        let bogus = AccessToken::new(a.marker("tf56-bogus-token"));
        a.refused(
            &format!("{p} unknown token"),
            via.exec(&app.say_hello(&bogus)),
        );
        faults_for(a, sb, "/openGateway/oauth/token", &p, || {
            via.exec(&*pw.exchange(&Plan::FullGrant).unwrap()).map(drop)
        });
    }

    // authorization_code: a minted code, then a replay.
    let web = Tf56::new(
        Tf56Config::new(CODE_CLIENT_ID, t.tf56_code.as_str())
            .base_url(sb.base_url())
            .redirect_uri(CODE_CLIENT_REDIRECT_URI),
    )
    .unwrap();
    let code = sb
        .mint(
            "tf56",
            "code",
            json!({"client_id": CODE_CLIENT_ID, "user": DEMO_USERNAME}),
        )
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    a.watch("tf56 code", &code);
    let source = Tf56Tokens::authorization_code(&web).with_code(code.as_str());
    a.debug(&format!("{p} code source"), &source);
    let token = grant(
        a,
        via,
        &format!("{p} authorization_code"),
        &source,
        &Plan::FullGrant,
    );
    grant(
        a,
        via,
        &format!("{p} code refresh"),
        &source,
        &refresh_plan(&token),
    );
    a.refused(
        &format!("{p} replayed code"),
        via.exec(
            &TokenRequest::new(
                &web,
                Grant::AuthorizationCode(SecretString::new(code.as_str())),
            )
            .unwrap(),
        ),
    );
}

fn ilab(a: &Audit, sb: &BlockingSandbox, t: &Tenants, name: &str, via: &Via) {
    use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
    use kaifang_proto_ilab::{
        AccessTokenRequest, Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig,
        IlabTokens, Profile, RefreshRequest, Ticket,
    };
    for (profile, appid, secret) in [
        (Profile::Roncoo, silab::SEED_APPID, t.ilab_seed.as_str()),
        (Profile::IlabX, silab::ILABX_APPID, t.ilab_x.as_str()),
    ] {
        let p = format!("ilab/{name} {profile:?}");
        let config = IlabConfig::new(sb.base_url(), appid, secret).profile(profile);
        a.debug(&format!("{p} config"), &config);
        let app = Ilab::new(config).unwrap();
        a.debug(&format!("{p} app"), &app);
        let mint = |a: &Audit| {
            let v = sb.mint("ilab", "ticket", json!({"appid": appid})).unwrap();
            let raw = v["ticket"].as_str().unwrap();
            let encoded = v["ticket_encoded"].as_str().unwrap();
            a.watch("ilab ticket", raw);
            a.watch("ilab ticket (encoded)", encoded);
            let ticket = Ticket::new(encoded).unwrap();
            a.debug(&format!("{p} ticket"), &ticket);
            ticket
        };
        let ticket = mint(a);
        let request = AccessTokenRequest::new(&app, ticket.clone());
        a.debug(&format!("{p} AccessTokenRequest"), &request);
        let source = Arc::new(IlabTokens::new(&app, ticket));
        a.debug(&format!("{p} source"), &*source);
        let token = grant(a, via, &format!("{p} ticket"), &*source, &Plan::FullGrant);
        let refresh =
            RefreshRequest::forced(&app, token.refresh.as_ref().unwrap_or(&token.access), 1);
        a.debug(&format!("{p} RefreshRequest"), &refresh);
        let token = grant(
            a,
            via,
            &format!("{p} refresh"),
            &*source,
            &refresh_plan(&token),
        );
        let un = token.extra["un"].as_str().unwrap_or_default().to_owned();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap());
        let origin = format!("leak-audit-{name}-{now}");
        let record = DataUpload::builder(&un, "电路虚拟仿真实验", &origin)
            .status(Status::Completed)
            .score(88)
            .times(now - 600_000, now)
            .step(
                StepRecord::builder("实验操作")
                    .times(now - 600_000, now)
                    .max_score(100)
                    .score(88),
            )
            .build()
            .unwrap();
        a.debug(&format!("{p} record"), &record);
        let upload = DataUploadRequest::new(&app, &token.access, &record);
        a.debug(&format!("{p} DataUploadRequest"), &upload);
        let receipt = via.exec(&upload).unwrap();
        a.debug(&format!("{p} receipt"), &receipt);
        let report = Attachment::new(&origin, "report.txt", b"leak audit\n".to_vec()).unwrap();
        let upload = AttachmentUpload::new(&app, &token.access, report);
        a.debug(&format!("{p} AttachmentUpload"), &upload);
        a.debug(
            &format!("{p} attachment receipt"),
            &via.exec(&upload).unwrap(),
        );

        // Through the manager, with a retry after revoke.
        let managed = Arc::new(IlabTokens::new(&app, mint(a)));
        let receipt = via
            .call(&managed, |tk| {
                DataUploadRequest::new(&app, &tk.access, &record)
            })
            .unwrap();
        a.debug(&format!("{p} managed receipt"), &receipt);
        let current = via.token(&managed).unwrap();
        a.watch_token(&format!("{p} managed"), &current);
        sb.revoke(Some("ilab"), current.access.expose_secret())
            .unwrap();
        // The manager refreshes (RONCOO) or learns that a new ticket is needed (iLab-x refreshes
        // with the revoked access token): either way, audited.
        match via.call(&managed, |tk| {
            DataUploadRequest::new(&app, &tk.access, &record)
        }) {
            Ok(_) => a.watch_token(
                &format!("{p} managed after revoke"),
                &via.token(&managed).unwrap(),
            ),
            Err(e) => a.error(&format!("{p} managed after revoke"), &e),
        }

        // Refusals.
        let wrong = Ilab::new(
            IlabConfig::new(sb.base_url(), appid, a.marker("ilab-wrong-secret")).profile(profile),
        )
        .unwrap();
        a.refused(
            &format!("{p} wrong secret"),
            via.exec(&AccessTokenRequest::new(&wrong, mint(a))),
        );
        a.refused(&format!("{p} used ticket"), via.exec(&request));
        let bogus = SecretString::new(a.marker("ilab-bogus-token"));
        a.refused(
            &format!("{p} unknown token"),
            via.exec(&DataUploadRequest::new(&app, &bogus, &record)),
        );
        let path = app.profile().paths().token.to_owned();
        faults_for(a, sb, &path, &p, || {
            via.exec(&AccessTokenRequest::new(&app, mint(a))).map(drop)
        });
    }
}

// ---------------------------------------------------------------------------------------------
// the audit

#[test]
fn no_secret_or_token_leaks_into_logs_debug_errors_or_the_journal() {
    let logs = log();
    let a = Audit::default();
    let tenants = Tenants::new(&a);
    let sb = sandbox(&a, &tenants);
    for (name, via) in Via::both(&a) {
        tianyi(&a, &sb, &tenants, name, &via);
        zhiyun(&a, &sb, &tenants, name, &via);
        device(&a, &sb, &tenants, name, &via);
        tf56(&a, &sb, &tenants, name, &via);
        ilab(&a, &sb, &tenants, name, &via);
        match &via {
            Via::Blocking(_, m) => a.debug(&format!("{name} TokenManager after"), m),
            Via::Async(_, m) => a.debug(&format!("{name} TokenManager after"), m),
        }
    }

    // The sandbox's own views.
    let journal = sb.journal();
    assert!(
        journal.len() > 100,
        "the flows ran ({} requests)",
        journal.len()
    );
    for e in &journal {
        a.debug(&format!("journal entry {} {}", e.method, e.path), e);
    }
    a.check(
        "the journal as /__sandbox/journal serves it",
        &serde_json::to_string(&journal).unwrap(),
    );
    a.debug("sandbox counters", &sb.counters());
    a.debug("sandbox faults", &sb.faults());
    a.debug("sandbox lifetimes", &sb.token_lifetimes());
    a.debug("sandbox token registry", sb.tokens());
    a.debug(
        "the tianyi sandbox config",
        &Config::from_toml(&tenants.text, "x.toml")
            .unwrap()
            .section::<sty::TianyiSandboxConfig>("tianyi")
            .unwrap(),
    );
    let config = Config::from_toml(&tenants.text, "x.toml").unwrap();
    a.debug(
        "zhiyun sandbox config",
        &config
            .section::<kaifang_sandbox::platforms::zhiyun::ZhiyunSandboxConfig>("zhiyun")
            .unwrap(),
    );
    a.debug(
        "device sandbox config",
        &config
            .section::<sdev::DeviceSandboxConfig>("device")
            .unwrap(),
    );
    a.debug(
        "tf56 sandbox config",
        &config.section::<stf56::Tf56Config>("tf56").unwrap(),
    );
    a.debug(
        "ilab sandbox config",
        &config.section::<silab::IlabSandboxConfig>("ilab").unwrap(),
    );
    sb.shutdown();

    // Every log line.
    std::thread::sleep(Duration::from_millis(50));
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.lines().count() > 100 && text.contains("kaifang"),
        "tracing was captured ({} lines)",
        text.lines().count()
    );
    for line in text.lines() {
        a.check("a log line", line);
    }

    let markers = a.markers.lock().unwrap().len();
    let findings = a.findings.lock().unwrap();
    assert!(markers > 60, "{markers} markers");
    assert!(
        findings.is_empty(),
        "{} leak(s) of {markers} markers:\n{}",
        findings.len(),
        findings.join("\n")
    );
}

/// The audit itself finds a marker wherever it is (so a leak cannot slip through unseen).
#[test]
fn the_audit_sees_a_planted_marker() {
    let a = Audit::default();
    let m = a.marker("planted");
    a.check("a clean text", "nothing here");
    assert!(a.findings.lock().unwrap().is_empty());
    a.debug("a plain String", &m);
    a.error(
        "an error carrying it",
        &Error::Config(format!("bad value {m}")),
    );
    a.watch("issued token", "abcdefgh12345678");
    a.check("a log line", "token=abcdefgh12345678");
    let findings = a.findings.lock().unwrap();
    assert!(findings.len() >= 4, "{findings:?}");
    assert!(findings.iter().any(|f| f.starts_with("planted in Debug")));
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("issued token in a log line"))
    );
}
