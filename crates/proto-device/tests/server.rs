//! The server half, alone and against the client half through an in-process "modem" that routes
//! each POST to the server function a real router would call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};
use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock, SeqNonce};
use kaifang_proto_device::devicename::DeviceNameAuth;
use kaifang_proto_device::modem::{HttpPost, authenticate_with, provision_with, register_with};
use kaifang_proto_device::server::registry::{JsonFileRegistry, MemoryRegistry, RegistryData};
use kaifang_proto_device::server::{
    self, AuthServerOptions, DeviceRecord, DeviceRegistry, ProductRecord, ProvisionPolicy,
};
use kaifang_proto_device::{
    AliyunCode, AuthMode, Connect, DeviceError, MqttOptions, ProvisionRequest, Qos, ResultCode,
    SignMethod, codes, parse_response,
};
use serde_json::{Value, json};

const IMEI: &str = "490154203237518";
const IMEI_DYN: &str = "352099001761481";
const ICCID: &str = "89860012345678901234";
const PK: &str = "a1csED27mp7";
const PS: &str = "VuULINCrtTAzCSzp";
const DN: &str = "AdvExample_dyn1";
const RANDOM: &str = "2HyP9O70q5t9VuX";
const DYN_SIGN: &str = "9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556";

fn registry() -> MemoryRegistry {
    MemoryRegistry::new()
        .with_device(
            DeviceRecord::new("pk", "device", Some("secret".into()))
                .key("imei", IMEI)
                .key("sn", "SN-1")
                .connect(Connect {
                    qos: Qos::AtLeastOnce,
                    host: Some("pk.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883".into()),
                    clean_session: true,
                }),
        )
        .with_device(
            DeviceRecord::new(PK, DN, None)
                .key("iccid", ICCID)
                .key("imei", IMEI_DYN),
        )
        .with_device(DeviceRecord::new("nopk", "orphan", None).key("imei", "867400031234564"))
        .with_product(ProductRecord::dynamic(PK, PS))
}

fn headers(content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    h
}

fn json_headers() -> HeaderMap {
    headers("application/json")
}

fn form_headers() -> HeaderMap {
    headers("application/x-www-form-urlencoded")
}

fn ctx(nonce: Arc<dyn kaifang_proto_core::context::Nonce>) -> Context {
    Context::new(
        Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000)),
        nonce,
    )
}

fn body_json(resp: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(resp.body()).unwrap()
}

// ------------------------------------------------------------------------------------------
// Provisioning.

#[test]
fn provisioning_success_in_the_seed_format() {
    let reg = registry();
    let body = ProvisionRequest::new().imei(IMEI).unwrap().to_json();
    let answer = server::provision(&json_headers(), &body, &reg, &ProvisionPolicy::default());
    let resp = answer.to_response();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    assert_eq!(
        body_json(&resp),
        json!({"code": "00000", "result": {
            "device": {"productKey": "pk", "deviceName": "device", "deviceSecret": "secret"},
            "connect": {"qos": 1, "host": "pk.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883", "cleanSession": 1}}})
    );
    let config = parse_response(resp.body()).unwrap().into_config().unwrap();
    assert_eq!(config.auth_mode(), AuthMode::DeviceSecret);

    // 一型一密: matched by ICCID (IMEI checked first and unknown is fine when another key matches).
    let body = ProvisionRequest::new()
        .imei("867400031234572")
        .unwrap()
        .iccid(ICCID)
        .unwrap()
        .to_json();
    let resp =
        server::provision(&json_headers(), &body, &reg, &ProvisionPolicy::default()).to_response();
    let v = body_json(&resp);
    assert_eq!(v["result"]["device"]["productSecret"], PS);
    assert_eq!(v["result"]["device"]["deviceSecret"], "");
    let config = parse_response(resp.body()).unwrap().into_config().unwrap();
    assert_eq!(config.auth_mode(), AuthMode::ProductSecret);

    // Any key field, with a charset parameter on the content type, IMEI not required.
    let policy = ProvisionPolicy {
        require_imei: false,
        ..ProvisionPolicy::default()
    };
    let body = br#"{"sn": "SN-1"}"#;
    let a = server::provision(
        &headers("Application/JSON; charset=utf-8"),
        body,
        &reg,
        &policy,
    );
    assert_eq!(a.code, codes::SUCCESS);
}

#[test]
fn provisioning_failures() {
    let reg = registry();
    let policy = ProvisionPolicy::default();
    let imei_body = ProvisionRequest::new().imei(IMEI).unwrap().to_json();
    let cases: Vec<(HeaderMap, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            headers("text/plain"),
            imei_body.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "10002",
            "Content-Type",
        ),
        (
            HeaderMap::new(),
            imei_body.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "10002",
            "Content-Type",
        ),
        (
            json_headers(),
            b"imei=1".to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "not valid JSON",
        ),
        (
            json_headers(),
            b"{\"imei\": \"4901".to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "not valid JSON",
        ),
        (
            json_headers(),
            b"[\"490154203237518\"]".to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "JSON object",
        ),
        (
            json_headers(),
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "imei is required",
        ),
        (
            json_headers(),
            br#"{"imei": 490154203237518}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "imei must be a string",
        ),
        (
            json_headers(),
            br#"{"imei": "490154203237517"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "check digit",
        ),
        (
            json_headers(),
            br#"{"imei": "490154203237518", "iccid": "123"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "10002",
            "invalid iccid",
        ),
        (
            json_headers(),
            br#"{"imei": "867400031234572"}"#.to_vec(),
            StatusCode::NOT_FOUND,
            "10001",
            "unknown device",
        ),
        (
            json_headers(),
            br#"{"imei": "867400031234564"}"#.to_vec(),
            StatusCode::CONFLICT,
            "10003",
            "no secret",
        ),
    ];
    for (h, body, status, code, needle) in cases {
        let answer = server::provision(&h, &body, &reg, &policy);
        let resp = answer.to_response();
        let v = body_json(&resp);
        let label = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(resp.status(), status, "{label}");
        assert_eq!(v["code"], code, "{label}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{label}: {v}"
        );
        assert!(v.get("result").is_none());
        // The client half reads every failure as the code, untouched.
        assert_eq!(
            parse_response(resp.body()).unwrap().code(),
            ResultCode::Other(code.into())
        );
    }
}

// ------------------------------------------------------------------------------------------
// Dynamic registration and /auth/devicename.

fn register_body(pk: &str, dn: &str, random: &str, sign: &str, method: &str) -> Vec<u8> {
    format!("productKey={pk}&deviceName={dn}&random={random}&sign={sign}&signMethod={method}")
        .into_bytes()
}

#[test]
fn dynamic_registration_reregister_then_6289() {
    let reg = registry();
    let opts = AuthServerOptions::default();
    let ctx = ctx(Arc::new(SeqNonce::new(7)));
    let body = register_body(PK, DN, RANDOM, DYN_SIGN, "hmacsha256");

    let first = server::register_device(&form_headers(), &body, &ctx, &reg, &opts);
    assert_eq!(first.code, AliyunCode::Success);
    let v = first.body();
    assert_eq!(v["code"], 200);
    assert_eq!(v["message"], "success");
    assert_eq!(v["data"]["productKey"], PK);
    assert_eq!(v["data"]["deviceName"], DN);
    let secret1 = v["data"]["deviceSecret"].as_str().unwrap().to_owned();
    assert_eq!(secret1.len(), 32);

    // Unactivated: register again (upper-case sign accepted), a new secret, the last one wins.
    let upper = register_body(PK, DN, RANDOM, &DYN_SIGN.to_uppercase(), "HmacSHA256");
    let second = server::register_device(&form_headers(), &upper, &ctx, &reg, &opts).body();
    let secret2 = second["data"]["deviceSecret"].as_str().unwrap().to_owned();
    assert_ne!(secret1, secret2);
    let stored = reg.device(PK, DN).unwrap().unwrap();
    assert_eq!(stored.device_secret.unwrap().expose_secret(), secret2);

    reg.record_activation(PK, DN).unwrap();
    let third = server::register_device(&form_headers(), &body, &ctx, &reg, &opts);
    assert_eq!(
        third.body(),
        json!({"code": 6289, "message": "device is already active"})
    );
    assert_eq!(third.to_response().status(), StatusCode::OK);
}

#[test]
fn dynamic_registration_refusals() {
    let reg = registry()
        .with_product(ProductRecord {
            product_key: "off".into(),
            product_secret: Some("ps".into()),
            dynamic_registration: false,
        })
        .with_device(DeviceRecord::new("off", "d", None));
    let opts = AuthServerOptions::default();
    let ctx = ctx(Arc::new(SeqNonce::new(1)));
    let sign_for = |pk: &str, dn: &str, ps: &str| {
        kaifang_sign_core::aliyun::register_sign(pk, dn, ps, RANDOM)
            .as_str()
            .to_owned()
    };
    let cases = [
        (
            form_headers(),
            register_body(PK, DN, RANDOM, DYN_SIGN, "hmacsha1"),
            460,
        ),
        (
            form_headers(),
            format!("productKey={PK}&deviceName={DN}&sign={DYN_SIGN}&signMethod=hmacsha256")
                .into_bytes(),
            460,
        ),
        (
            json_headers(),
            register_body(PK, DN, RANDOM, DYN_SIGN, "hmacsha256"),
            460,
        ),
        (
            form_headers(),
            register_body("nope", DN, RANDOM, DYN_SIGN, "hmacsha256"),
            5001,
        ),
        (
            form_headers(),
            register_body(
                "off",
                "d",
                RANDOM,
                &sign_for("off", "d", "ps"),
                "hmacsha256",
            ),
            6200,
        ),
        (
            form_headers(),
            register_body(PK, DN, "2HyP9O70q5t9VuY", DYN_SIGN, "hmacsha256"),
            401,
        ),
        (
            form_headers(),
            register_body(
                PK,
                "ghost",
                RANDOM,
                &sign_for(PK, "ghost", PS),
                "hmacsha256",
            ),
            5001,
        ),
    ];
    for (h, body, code) in cases {
        let answer = server::register_device(&h, &body, &ctx, &reg, &opts);
        assert_eq!(
            answer.code.code(),
            code,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(answer.body()["message"], answer.code.message());
    }
    // Nothing was issued.
    assert!(reg.device(PK, DN).unwrap().unwrap().device_secret.is_none());
}

#[test]
fn devicename_auth() {
    let reg = registry();
    let opts = AuthServerOptions::default();
    let ctx = ctx(Arc::new(FixedNonce::new("tok")));
    let config =
        kaifang_proto_device::DeviceConfig::with_device_secret("pk", "device", "secret").unwrap();
    for (method, ts) in [
        (SignMethod::HmacSha1, Some(789)),
        (SignMethod::HmacMd5, None),
        (SignMethod::HmacSha256, Some(1_700_000_000_000)),
    ] {
        let auth = DeviceNameAuth::new(&config, "12345", ts, method).unwrap();
        let answer =
            server::auth_devicename(&form_headers(), auth.body().as_bytes(), &ctx, &reg, &opts);
        let v = answer.body();
        assert_eq!(v["code"], 200, "{method}");
        assert_eq!(v["data"]["iotId"], server::iot_id("pk", "device"));
        assert_eq!(v["data"]["iotToken"].as_str().unwrap().len(), 32);
        assert_eq!(
            v["data"]["resources"]["mqtt"],
            json!({"host": "pk.iot-as-mqtt.cn-shanghai.aliyuncs.com", "port": 1883})
        );
    }
    assert!(reg.device("pk", "device").unwrap().unwrap().activated);

    let good = DeviceNameAuth::new(&config, "12345", Some(789), SignMethod::HmacSha1)
        .unwrap()
        .body();
    let wrong =
        kaifang_proto_device::DeviceConfig::with_device_secret("pk", "device", "wrong").unwrap();
    let cases = [
        (
            DeviceNameAuth::new(&wrong, "12345", Some(789), SignMethod::HmacSha1)
                .unwrap()
                .body(),
            401,
        ),
        (good.replace("timestamp=789", "timestamp=790"), 401),
        (good.replace("timestamp=789", "timestamp=0789"), 460),
        (good.replace("signmethod=hmacsha1", "signmethod=rsa"), 460),
        (good.replace("clientId=12345&", ""), 460),
        (good.replace("deviceName=device", "deviceName=ghost"), 5001),
        (
            DeviceNameAuth::new(
                &kaifang_proto_device::DeviceConfig::with_device_secret(PK, DN, "x").unwrap(),
                "c",
                None,
                SignMethod::HmacSha256,
            )
            .unwrap()
            .body(),
            6200,
        ),
    ];
    for (body, code) in cases {
        let answer = server::auth_devicename(&form_headers(), body.as_bytes(), &ctx, &reg, &opts);
        assert_eq!(answer.code.code(), code, "{body}");
    }
}

// ------------------------------------------------------------------------------------------
// End to end: the firmware flow against the server half, through `HttpPost`.

/// Routes each POST to the server function the real router would call.
struct ServerModem<'a> {
    registry: &'a MemoryRegistry,
    ctx: Context,
}

impl HttpPost for ServerModem<'_> {
    type Error = std::convert::Infallible;

    fn post(
        &mut self,
        url: &str,
        content_type: &str,
        _extra: &[(&str, &str)],
        body: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<u16, Self::Error> {
        let h = headers(content_type);
        let opts = AuthServerOptions::default();
        let resp = if url.ends_with("/auth/register/device") {
            server::register_device(&h, body, &self.ctx, self.registry, &opts).to_response()
        } else if url.ends_with("/auth/devicename") {
            server::auth_devicename(&h, body, &self.ctx, self.registry, &opts).to_response()
        } else {
            server::provision(&h, body, self.registry, &ProvisionPolicy::default()).to_response()
        };
        response.extend_from_slice(resp.body());
        Ok(resp.status().as_u16())
    }
}

#[test]
fn firmware_flow_against_the_server_half() {
    let reg = registry();
    let mut modem = ServerModem {
        registry: &reg,
        ctx: ctx(Arc::new(SeqNonce::new(42))),
    };
    let auth_host = "https://iot-auth.local";

    // 一型一密 device: provision → productSecret → register → MQTT.
    let request = ProvisionRequest::new().imei(IMEI_DYN).unwrap();
    let config = provision_with(&mut modem, "https://customer.local/provision", &request).unwrap();
    assert_eq!(config.auth_mode(), AuthMode::ProductSecret);
    let config = register_with(&mut modem, auth_host, config, RANDOM).unwrap();
    let secret = config.device_secret.clone().unwrap();
    assert_eq!(
        reg.device(PK, DN).unwrap().unwrap().device_secret,
        Some(secret)
    );
    let mqtt = config
        .mqtt_connect(&MqttOptions::new().client_id(IMEI_DYN).timestamp(1))
        .unwrap();
    assert_eq!(
        mqtt.host,
        "a1csED27mp7.iot-as-mqtt.cn-shanghai.aliyuncs.com"
    );

    // Token login activates it; registering again is then 6289.
    let auth = DeviceNameAuth::new(&config, IMEI_DYN, Some(1), SignMethod::HmacSha256).unwrap();
    let token = authenticate_with(&mut modem, auth_host, &auth).unwrap();
    assert_eq!(token.iot_id, server::iot_id(PK, DN));
    let mut stale = config.clone();
    stale.device_secret = None;
    match register_with(&mut modem, auth_host, stale, RANDOM) {
        Err(DeviceError::Aliyun(e)) => assert_eq!(e.code, AliyunCode::DeviceAlreadyActive),
        other => panic!("{other:?}"),
    }

    // Unknown device: the provisioning refusal is typed.
    let unknown = ProvisionRequest::new().imei("867400031234572").unwrap();
    assert_eq!(
        provision_with(&mut modem, "https://customer.local/provision", &unknown),
        Err(DeviceError::Refused {
            code: ResultCode::Other("10001".into()),
            message: Some("unknown device".into())
        })
    );
}

// ------------------------------------------------------------------------------------------
// The JSON-file registry.

#[test]
fn json_file_registry_loads_and_saves() {
    let dir = std::env::temp_dir().join(format!(
        "kaifang-proto-device-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({
            "devices": [
                {"productKey": "pk", "deviceName": "device", "deviceSecret": "secret",
                 "keys": {"imei": IMEI}, "connect": {"qos": 1, "host": "", "cleanSession": 1}},
                {"productKey": PK, "deviceName": DN, "keys": {"iccid": ICCID}}
            ],
            "products": [{"productKey": PK, "productSecret": PS, "dynamicRegistration": true}]
        }))
        .unwrap(),
    )
    .unwrap();
    let reg = JsonFileRegistry::open(&path).unwrap();
    let device = reg.find_by_field("imei", IMEI).unwrap().unwrap();
    assert_eq!(device.connect.qos, Qos::AtLeastOnce);
    assert!(device.connect.clean_session && device.connect.host.is_none());

    let ctx = ctx(Arc::new(SeqNonce::new(3)));
    let answer = server::register_device(
        &form_headers(),
        &register_body(PK, DN, RANDOM, DYN_SIGN, "hmacsha256"),
        &ctx,
        &reg,
        &AuthServerOptions::default(),
    );
    let issued = answer.body()["data"]["deviceSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    reg.record_activation(PK, DN).unwrap();

    // Reopen: the secret and the activation were saved.
    let reopened = JsonFileRegistry::open(&path).unwrap();
    let device = reopened.device(PK, DN).unwrap().unwrap();
    assert_eq!(device.device_secret.unwrap().expose_secret(), issued);
    assert!(device.activated);
    let data: RegistryData = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(data.products.len(), 1);
    assert!(!format!("{data:?}").contains(PS));

    // A missing file is an empty registry; a bad one is a clear error.
    assert!(
        JsonFileRegistry::open(dir.join("missing.json"))
            .unwrap()
            .find_by_field("imei", IMEI)
            .unwrap()
            .is_none()
    );
    std::fs::write(dir.join("bad.json"), b"{\"devices\": [}").unwrap();
    let err = JsonFileRegistry::open(dir.join("bad.json")).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    std::fs::write(
        dir.join("badqos.json"),
        br#"{"devices":[{"productKey":"p","deviceName":"d","connect":{"qos":2}}]}"#,
    )
    .unwrap();
    assert!(JsonFileRegistry::open(dir.join("badqos.json")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
