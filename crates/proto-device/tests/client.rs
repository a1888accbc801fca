//! The client half through its public API: Aliyun's vectors, the seed's answer codes, byte-exact
//! requests (what QuecPython/CPython would send), hostile bodies, and secrets that never leak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kaifang_proto_core::context::{Context, FixedNonce, FrozenClock};
use kaifang_proto_core::exchange::{Exchange, run_with};
use kaifang_proto_core::{Error, ErrorClass};
use kaifang_proto_device::devicename::{DeviceNameAuth, parse_devicename_response};
use kaifang_proto_device::dynreg::{RegisterRequest, parse_register_response};
use kaifang_proto_device::exchange::{Authenticate, Provision, Register};
use kaifang_proto_device::modem::{
    NoResponse, RecordingModem, authenticate_with, provision_with, register_with,
};
use kaifang_proto_device::{
    AliyunCode, Connect, DeviceConfig, DeviceError, IccidError, ImeiError, JsonErrorKind,
    MqttOptions, PointAccess, ProvisionOutcome, ProvisionRequest, PythonJson, Qos, ResultCode,
    SecureMode, SignMethod, parse_response,
};
use proptest::prelude::*;
use serde_json::json;

const PK: &str = "a1csED27mp7";
const PS: &str = "VuULINCrtTAzCSzp";
const DN: &str = "AdvExample_dyn1";
const RANDOM: &str = "2HyP9O70q5t9VuX";
const DYN_SIGN: &str = "9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556";
const DYN_SECRET: &str = "ximd4xyeAjtHp5lsz3A5okefnJMYtQTP";
const DYN_OK: &str = r#"{"code":200,"data":{"deviceName":"AdvExample_dyn1","deviceSecret":"ximd4xyeAjtHp5lsz3A5okefnJMYtQTP","productKey":"a1csED27mp7"},"message":"success"}"#;

/// The seed's documented answer, with the Aliyun doc vector's device.
fn vector_answer(host: &str) -> String {
    format!(
        r#"{{"code":"00000","result":{{"device":{{"productKey":"pk","deviceName":"device","deviceSecret":"secret"}},"connect":{{"qos":1,"host":"{host}","cleanSession":1}}}}}}"#
    )
}

fn vector_options(method: SignMethod) -> MqttOptions {
    MqttOptions::new()
        .client_id("12345")
        .timestamp(789)
        .sign_method(method)
        .secure_mode(SecureMode::Tcp)
}

fn ctx(nonce: &str) -> Context {
    Context::new(
        Arc::new(FrozenClock::from_unix_millis(789)),
        Arc::new(FixedNonce::new(nonce)),
    )
}

// ------------------------------------------------------------------------------------------
// Aliyun vectors through the high-level API: answer bytes → DeviceConfig → MqttConnect.

#[test]
fn aliyun_mqtt_vectors_through_parse_response() {
    let config = parse_response(vector_answer("").as_bytes())
        .unwrap()
        .into_config()
        .unwrap();
    let cases = [
        (
            SignMethod::HmacSha1,
            "FAFD82A3D602B37FB0FA8B7892F24A477F851A14",
        ),
        (SignMethod::HmacMd5, "14b198324fe55e1d3c88f2e705e201ee"),
        (
            SignMethod::HmacSha256,
            "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57",
        ),
    ];
    for (method, password) in cases {
        let mqtt = config.mqtt_connect(&vector_options(method)).unwrap();
        assert!(
            mqtt.password.expose_secret().eq_ignore_ascii_case(password),
            "{method}"
        );
        assert_eq!(
            mqtt.client_id,
            format!("12345|securemode=3,signmethod={method},timestamp=789|")
        );
        assert_eq!(mqtt.username, "device&pk");
        assert_eq!(mqtt.host, "pk.iot-as-mqtt.cn-shanghai.aliyuncs.com");
        assert_eq!(mqtt.port, 1883);
        assert_eq!(mqtt.keep_alive, 300);
        assert!(mqtt.clean_session);
    }
}

#[test]
fn mqtt_host_port_region_keepalive_and_defaults() {
    let config = parse_response(vector_answer("mqtt.example.com:8883").as_bytes())
        .unwrap()
        .into_config()
        .unwrap();
    let mqtt = config.mqtt_connect(&MqttOptions::new()).unwrap();
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("mqtt.example.com", 8883));
    // Defaults: clientId pk.dn, TLS, hmacsha256, no timestamp.
    assert_eq!(
        mqtt.client_id,
        "pk.device|securemode=2,signmethod=hmacsha256|"
    );

    let config = DeviceConfig::with_device_secret("pk", "device", "secret").unwrap();
    let mqtt = config
        .mqtt_connect(&MqttOptions::new().region("cn-beijing").keep_alive(60))
        .unwrap();
    assert_eq!(mqtt.host, "pk.iot-as-mqtt.cn-beijing.aliyuncs.com");
    assert_eq!(mqtt.keep_alive, 60);
    for bad in [59, 1201, 0] {
        assert_eq!(
            config.mqtt_connect(&MqttOptions::new().keep_alive(bad)),
            Err(DeviceError::KeepAlive { seconds: bad })
        );
    }
    assert!(matches!(
        config.mqtt_connect(&MqttOptions::new().region("cn.evil.com/")),
        Err(DeviceError::Input {
            field: "region",
            ..
        })
    ));
    for bad_id in ["", "a|b", "a,b", "a b", &"x".repeat(65)] {
        assert!(matches!(
            config.mqtt_connect(&MqttOptions::new().client_id(bad_id)),
            Err(DeviceError::Input {
                field: "clientId",
                ..
            })
        ));
    }
    // 一型一密 before registration.
    let dynamic = DeviceConfig::with_product_secret(PK, DN, PS).unwrap();
    assert_eq!(
        dynamic.mqtt_connect(&MqttOptions::new()),
        Err(DeviceError::NeedsRegistration)
    );
}

// ------------------------------------------------------------------------------------------
// The answer: codes, shapes, quirks.

#[test]
fn every_result_code() {
    let ok = parse_response(vector_answer("").as_bytes()).unwrap();
    assert_eq!(ok.code(), ResultCode::Success);

    let cases = [
        (r#"{"code":"77777"}"#, ResultCode::RequestFailed),
        (r#"{"code":"99999"}"#, ResultCode::NoCode),
        (r#"{}"#, ResultCode::NoCode),
        (r#"{"result":{}}"#, ResultCode::NoCode),
        (
            r#"{"code":"10001","message":"unknown device"}"#,
            ResultCode::Other("10001".into()),
        ),
        (r#"{"code":0}"#, ResultCode::Other("0".into())),
        (r#"{"code":null}"#, ResultCode::Other("null".into())),
        (r#"{"code":"0000"}"#, ResultCode::Other("0000".into())),
        // A bad result does not matter when the code is not "00000" (the seed never reads it).
        (r#"{"code":"1","result":42}"#, ResultCode::Other("1".into())),
    ];
    for (body, code) in cases {
        let outcome = parse_response(body.as_bytes()).unwrap();
        assert_eq!(outcome.code(), code, "{body}");
        assert!(matches!(outcome, ProvisionOutcome::NotProvisioned { .. }));
    }
    let refused = parse_response(br#"{"code":"10001","message":"unknown device"}"#).unwrap();
    assert_eq!(
        refused.into_config(),
        Err(DeviceError::Refused {
            code: ResultCode::Other("10001".into()),
            message: Some("unknown device".into())
        })
    );
    assert_eq!(ResultCode::Other("10001".into()).to_string(), "10001");
    assert_eq!(ResultCode::NoCode.as_str(), "99999");
    assert_eq!(ResultCode::RequestFailed.as_str(), "77777");
}

#[test]
fn point_access_keeps_the_seeds_semantics() {
    let mut point = PointAccess::new();
    assert_eq!(point.connect, Connect::seed_initial());
    let mut modem = RecordingModem::new();
    modem.fail();
    let req = ProvisionRequest::new().imei("490154203237518").unwrap();
    assert_eq!(
        point
            .request_with(&mut modem, "http://h/p", &req, &[])
            .unwrap(),
        ResultCode::RequestFailed
    );
    modem.respond(200, br#"{"code":"4242"}"#);
    assert_eq!(
        point
            .request_with(&mut modem, "http://h/p", &req, &[])
            .unwrap(),
        ResultCode::Other("4242".into())
    );
    assert!(point.device_config.is_none());
    // The seed raises on a non-JSON body; so do we (typed).
    modem.respond(502, b"<html>Bad Gateway</html>");
    assert!(matches!(
        point.request_with(&mut modem, "http://h/p", &req, &[]),
        Err(DeviceError::Json(_))
    ));
    modem.respond(200, vector_answer("h:1").as_bytes());
    assert_eq!(
        point
            .request_with(&mut modem, "http://h/p", &req, &[("X-Token", "t")])
            .unwrap(),
        ResultCode::Success
    );
    assert_eq!(point.device_config.as_ref().unwrap().product_key, "pk");
    assert_eq!(
        modem.requests()[3].headers,
        vec![("X-Token".into(), "t".into())]
    );
}

#[test]
fn answer_shapes_are_validated() {
    let ok = |connect: &str, device: &str| {
        format!(r#"{{"code":"00000","result":{{"device":{device},"connect":{connect}}}}}"#)
    };
    let dev = r#"{"productKey":"pk","deviceName":"dn","deviceSecret":"s"}"#;
    let config = |body: String| parse_response(body.as_bytes()).map(|o| o.into_config());

    // Defaults when connect fields are absent; booleans accepted for cleanSession.
    let c = config(ok("{}", dev)).unwrap().unwrap();
    assert_eq!(c.connect, Connect::default());
    assert_eq!(c.connect.qos, Qos::AtMostOnce);
    let c = config(ok(r#"{"qos":0,"cleanSession":true,"host":null}"#, dev))
        .unwrap()
        .unwrap();
    assert!(c.connect.clean_session);
    // productSecret only (一型一密), deviceSecret "" means none.
    let c = config(ok(
        "{}",
        r#"{"productKey":"pk","deviceName":"dn","deviceSecret":"","productSecret":"ps"}"#,
    ))
    .unwrap()
    .unwrap();
    assert!(c.device_secret.is_none());
    assert_eq!(c.product_secret.unwrap().expose_secret(), "ps");

    let shape = |body: String| match parse_response(body.as_bytes()) {
        Err(DeviceError::Shape { path, .. }) => path,
        other => panic!("expected a shape error, got {other:?}"),
    };
    assert_eq!(shape(ok(r#"{"qos":2}"#, dev)), "result.connect.qos");
    assert_eq!(shape(ok(r#"{"qos":"1"}"#, dev)), "result.connect.qos");
    assert_eq!(
        shape(ok(r#"{"cleanSession":2}"#, dev)),
        "result.connect.cleanSession"
    );
    assert_eq!(shape(ok(r#"{"host":1}"#, dev)), "result.connect.host");
    assert_eq!(
        shape(ok("{}", r#"{"deviceName":"dn","deviceSecret":"s"}"#)),
        "result.device.productKey"
    );
    assert_eq!(
        shape(ok(
            "{}",
            r#"{"productKey":"","deviceName":"dn","deviceSecret":"s"}"#
        )),
        "result.device.productKey"
    );
    assert_eq!(
        shape(ok("{}", r#"{"productKey":"pk","deviceSecret":"s"}"#)),
        "result.device.deviceName"
    );
    assert_eq!(
        shape(ok("{}", r#"{"productKey":"pk","deviceName":"dn"}"#)),
        "result.device.deviceSecret"
    );
    assert_eq!(
        shape(r#"{"code":"00000","result":{"device":{},"connect":{}}}"#.into()),
        "result.device.productKey"
    );
    assert_eq!(
        shape(format!(r#"{{"code":"00000","result":{{"device":{dev}}}}}"#)),
        "result.connect"
    );
    assert_eq!(shape(r#"{"code":"00000"}"#.into()), "result");
    assert_eq!(shape(r#"{"code":"00000","result":[]}"#.into()), "result");
    assert_eq!(shape("[1,2]".into()), ".");
    assert_eq!(shape("\"00000\"".into()), ".");
}

#[test]
fn non_json_truncated_and_huge_bodies_are_typed_errors() {
    let kind = |body: &[u8]| match parse_response(body) {
        Err(DeviceError::Json(e)) => e.kind,
        other => panic!("expected a JSON error, got {other:?}"),
    };
    assert_eq!(kind(b""), JsonErrorKind::Eof);
    assert_eq!(kind(b"<html>502</html>"), JsonErrorKind::Syntax);
    let full = vector_answer("");
    assert_eq!(kind(&full.as_bytes()[..full.len() / 2]), JsonErrorKind::Eof);
    assert_eq!(
        kind(b"{\"code\":\"00000\"} trailing"),
        JsonErrorKind::Syntax
    );
    assert_eq!(kind(&[0xff, 0xfe]), JsonErrorKind::Syntax);
    // Deep nesting hits serde_json's recursion limit, not the stack.
    let deep = "[".repeat(10_000);
    assert!(parse_response(deep.as_bytes()).is_err());
    let huge = format!(r#"{{"code":"1","pad":"{}"}}"#, "x".repeat(70_000));
    assert!(matches!(
        parse_response(huge.as_bytes()),
        Err(DeviceError::TooLarge { limit: 65_536, .. })
    ));
    let err = parse_response(b"{\"deviceSecret\":\"SECRET-MARKER\"").unwrap_err();
    assert!(!err.to_string().contains("SECRET-MARKER"));
}

proptest! {
    #[test]
    fn parse_response_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_response(&body);
        let _ = parse_register_response(&body);
        let _ = parse_devicename_response(&body);
        let _ = ProvisionRequest::from_json(&body);
    }

    #[test]
    fn truncations_of_a_valid_answer_never_panic(cut in 0usize..200) {
        let full = vector_answer("host:1883");
        let cut = cut.min(full.len());
        let outcome = parse_response(&full.as_bytes()[..cut]);
        if cut < full.len() {
            prop_assert!(outcome.is_err());
        }
    }

    #[test]
    fn json_shaped_noise_never_panics(
        code in prop_oneof![Just("\"00000\"".to_owned()), any::<i64>().prop_map(|n| n.to_string()), "\"[0-9]{0,6}\""],
        qos in any::<i64>(), clean in any::<i64>(), host in "[ -~]{0,20}", pk in "[a-zA-Z0-9]{0,5}",
    ) {
        let body = json!({"code": serde_json::from_str::<serde_json::Value>(&code).unwrap(),
            "result": {"device": {"productKey": pk, "deviceName": "d", "deviceSecret": "s"},
                       "connect": {"qos": qos, "host": host, "cleanSession": clean}}});
        if let Ok(ProvisionOutcome::Provisioned(config)) = parse_response(body.to_string().as_bytes()) {
            let _ = config.mqtt_connect(&MqttOptions::new());
        }
    }

    #[test]
    fn valid_imeis_roundtrip(payload in "[0-9]{14}") {
        let check = kaifang_proto_device::ids::luhn_check_digit(payload.as_bytes());
        let imei = format!("{payload}{check}");
        prop_assert!(ProvisionRequest::new().imei(&imei).is_ok());
        let wrong = format!("{payload}{}", (check + 1) % 10);
        let is_check_digit_error = matches!(
            ProvisionRequest::new().imei(&wrong),
            Err(DeviceError::Imei(ImeiError::CheckDigit { .. }))
        );
        prop_assert!(is_check_digit_error);
    }

    #[test]
    fn python_json_strings_roundtrip(s in any::<String>()) {
        // Whatever the text, both layouts are valid JSON that decodes to the same string.
        for layout in [PythonJson::CPYTHON, PythonJson::MICROPYTHON] {
            let bytes = layout.to_vec(&serde_json::Value::String(s.clone()));
            let back: String = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &s);
        }
    }
}

// ------------------------------------------------------------------------------------------
// IMEI / ICCID.

#[test]
fn imei_and_iccid_validation() {
    assert!(ProvisionRequest::new().imei("490154203237518").is_ok());
    assert_eq!(
        ProvisionRequest::new().imei("49015420323751"),
        Err(DeviceError::Imei(ImeiError::Length { len: 14 }))
    );
    assert_eq!(
        ProvisionRequest::new().imei("4901542032375180"),
        Err(DeviceError::Imei(ImeiError::Length { len: 16 }))
    );
    assert_eq!(
        ProvisionRequest::new().imei("49015420323751X"),
        Err(DeviceError::Imei(ImeiError::NotADigit { index: 14 }))
    );
    assert_eq!(
        ProvisionRequest::new().imei("490154203237517"),
        Err(DeviceError::Imei(ImeiError::CheckDigit {
            expected: 8,
            found: 7
        }))
    );
    let req = ProvisionRequest::new()
        .iccid("8986001234567890123f")
        .unwrap();
    assert_eq!(req.get_str("iccid"), Some("8986001234567890123F"));
    assert_eq!(
        ProvisionRequest::new().iccid("898600123456789012"),
        Err(DeviceError::Iccid(IccidError::Length { len: 18 }))
    );
    assert_eq!(
        ProvisionRequest::new().iccid("8986001234567890123FF"),
        Err(DeviceError::Iccid(IccidError::Length { len: 21 }))
    );
    assert_eq!(
        ProvisionRequest::new().iccid("89860012345678901a3"),
        Err(DeviceError::Iccid(IccidError::NotADigit { index: 17 }))
    );
    let msg = DeviceError::<std::convert::Infallible>::Imei(ImeiError::CheckDigit {
        expected: 8,
        found: 7,
    })
    .to_string();
    assert_eq!(
        msg,
        "invalid IMEI: IMEI check digit is 7, but the Luhn digit of the first 14 is 8"
    );
}

// ------------------------------------------------------------------------------------------
// Byte-exact requests.

/// `json.dumps(data)` of CPython 3.11 for the dict built in `python_request()` (see the test).
const PY_CPYTHON: &str = r#"{"imei": "352099001761481", "iccid": "89860012345678901234", "name": "\u8bbe\u5907 \"1\"\\/\n\t\u0001\u007f\ud83d\ude00\u00e9", "n": -42, "big": 18446744073709551615, "f": [1.0, 0.1, 1e+16, 1e-05, 2.5e-07, 123456.789, -0.0], "ok": true, "none": null, "nested": {"a": [false, {}], "b": 1, "c": []}}"#;

/// `json.dumps(data, ensure_ascii=False)` (MicroPython's layout for non-ASCII text).
const PY_UTF8: &str = "{\"imei\": \"352099001761481\", \"iccid\": \"89860012345678901234\", \"name\": \"设备 \\\"1\\\"\\\\/\\n\\t\\u0001\u{7f}😀é\", \"n\": -42, \"big\": 18446744073709551615, \"f\": [1.0, 0.1, 1e+16, 1e-05, 2.5e-07, 123456.789, -0.0], \"ok\": true, \"none\": null, \"nested\": {\"a\": [false, {}], \"b\": 1, \"c\": []}}";

/// The Python that produced the constants above:
///
/// ```python
/// data = {}
/// data["imei"] = "490154203237518"
/// data["iccid"] = "89860012345678901234"
/// data["name"] = "设备 \"1\"\\/\n\t\x01\x7f😀é"
/// data["n"] = -42
/// data["big"] = 18446744073709551615
/// data["f"] = [1.0, 0.1, 1e16, 1e-05, 2.5e-7, 123456.789, -0.0]
/// data["ok"] = True
/// data["none"] = None
/// data["nested"] = {"a": [False, {}], "b": 1, "c": []}
/// data["imei"] = "352099001761481"   # replaced in place: the key keeps its first position
/// json.dumps(data); json.dumps(data, ensure_ascii=False)
/// ```
fn python_request() -> ProvisionRequest {
    ProvisionRequest::new()
        .imei("490154203237518")
        .unwrap()
        .iccid("89860012345678901234")
        .unwrap()
        .field("name", "设备 \"1\"\\/\n\t\u{1}\u{7f}😀é")
        .field("n", -42)
        .field("big", u64::MAX)
        .field(
            "f",
            json!([1.0, 0.1, 1e16, 1e-05, 2.5e-7, 123456.789, -0.0]),
        )
        .field("ok", true)
        .field("none", serde_json::Value::Null)
        .field("nested", json!({"a": [false, {}], "b": 1, "c": []}))
        .imei("352099001761481")
        .unwrap()
}

#[test]
fn request_bytes_equal_pythons_json_dumps() {
    let req = python_request();
    assert_eq!(String::from_utf8(req.to_json()).unwrap(), PY_CPYTHON);
    assert_eq!(
        String::from_utf8(req.to_json_with(PythonJson::MICROPYTHON)).unwrap(),
        PY_UTF8
    );
    // The server half reads the keys back in order.
    let back = ProvisionRequest::from_json(PY_CPYTHON.as_bytes()).unwrap();
    assert_eq!(back, req);
    assert_eq!(
        back.fields().map(|(k, _)| k).collect::<Vec<_>>(),
        [
            "imei", "iccid", "name", "n", "big", "f", "ok", "none", "nested"
        ]
    );
    assert_eq!(ProvisionRequest::new().to_json(), b"{}");
    assert_eq!(
        serde_json::to_string(&req).unwrap().find("\"imei\""),
        Some(1)
    );
}

#[test]
fn the_modem_sees_what_requests_post_json_would_send() {
    // `request.post(url, json=data, headers={'Content-Type': 'application/json'})`
    let mut modem = RecordingModem::new();
    modem.respond(200, vector_answer("").as_bytes());
    let url = "https://iot.example.com/api/device/access";
    let config = provision_with(&mut modem, url, &python_request()).unwrap();
    assert_eq!(config.device_name, "device");
    let sent = &modem.requests()[0];
    assert_eq!(sent.url, url);
    assert_eq!(sent.content_type, "application/json");
    assert!(sent.headers.is_empty());
    assert_eq!(sent.body, PY_CPYTHON.as_bytes());

    // The std exchange sends the same bytes.
    let req = Provision::new(url, python_request())
        .header("Content-Type", "text/plain")
        .header("X-Trace", "1")
        .build(&ctx("n"))
        .unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri(), url);
    assert_eq!(req.headers()["content-type"], "application/json");
    assert_eq!(req.headers().get_all("content-type").iter().count(), 1);
    assert_eq!(req.headers()["x-trace"], "1");
    assert_eq!(req.body(), PY_CPYTHON.as_bytes());
}

#[test]
fn modem_errors_statuses_and_refusals() {
    let req = ProvisionRequest::new().imei("490154203237518").unwrap();
    let mut modem = RecordingModem::new();
    modem
        .fail()
        .respond(502, b"<html>Bad Gateway</html>")
        .respond(404, br#"{"code":"10001","message":"unknown device"}"#)
        .respond(200, b"{\"code\":\"00000\"");
    assert_eq!(
        provision_with(&mut modem, "u", &req),
        Err(DeviceError::Modem(NoResponse))
    );
    assert_eq!(
        provision_with(&mut modem, "u", &req),
        Err(DeviceError::HttpStatus { status: 502 })
    );
    assert_eq!(
        provision_with(&mut modem, "u", &req),
        Err(DeviceError::Refused {
            code: ResultCode::Other("10001".into()),
            message: Some("unknown device".into())
        })
    );
    assert!(matches!(
        provision_with(&mut modem, "u", &req),
        Err(DeviceError::Json(e)) if e.kind == JsonErrorKind::Eof
    ));
}

#[test]
fn dynamic_registration_request_bytes_and_answers() {
    let config = DeviceConfig::with_product_secret(PK, DN, PS).unwrap();
    let req = RegisterRequest::new(&config, RANDOM).unwrap();
    assert_eq!(req.sign().as_str(), DYN_SIGN);
    assert_eq!(
        req.body(),
        format!(
            "productKey={PK}&deviceName={DN}&random={RANDOM}&sign={DYN_SIGN}&signMethod=hmacsha256"
        )
    );
    assert_eq!(
        req.string_to_sign(),
        format!("deviceName{DN}productKey{PK}random{RANDOM}")
    );

    let mut modem = RecordingModem::new();
    modem.respond(200, DYN_OK.as_bytes()).respond(
        200,
        br#"{"code":6289,"message":"device is already active"}"#,
    );
    let host = "https://iot-auth.cn-shanghai.aliyuncs.com/";
    let registered = register_with(&mut modem, host, config.clone(), RANDOM).unwrap();
    assert_eq!(
        registered.device_secret.as_ref().unwrap().expose_secret(),
        DYN_SECRET
    );
    let sent = &modem.requests()[0];
    assert_eq!(
        sent.url,
        "https://iot-auth.cn-shanghai.aliyuncs.com/auth/register/device"
    );
    assert_eq!(sent.content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        sent.headers,
        vec![(
            "Accept".to_owned(),
            "text/xml,text/javascript,text/html,application/json".to_owned()
        )]
    );
    assert_eq!(sent.body, req.body().as_bytes());
    // Already registered: no request at all.
    let again = register_with(&mut modem, host, registered.clone(), RANDOM).unwrap();
    assert_eq!(again, registered);
    assert_eq!(modem.requests().len(), 1);
    // 6289.
    match register_with(&mut modem, host, config.clone(), RANDOM) {
        Err(DeviceError::Aliyun(e)) => {
            assert_eq!(e.code, AliyunCode::DeviceAlreadyActive);
            assert_eq!(e.message, "device is already active");
        }
        other => panic!("{other:?}"),
    }
    // Every documented code is typed.
    for (code, typed) in [
        (401, AliyunCode::RequestAuthError),
        (460, AliyunCode::ParamError),
        (500, AliyunCode::UnknownError),
        (5001, AliyunCode::DeviceNotFound),
        (6200, AliyunCode::AuthTypeMismatch),
        (6289, AliyunCode::DeviceAlreadyActive),
        (1234, AliyunCode::Other(1234)),
    ] {
        let body = format!(r#"{{"code":{code},"message":"m"}}"#);
        match parse_register_response(body.as_bytes()) {
            Err(DeviceError::Aliyun(e)) => assert_eq!(e.code, typed),
            other => panic!("{other:?}"),
        }
        assert_eq!(typed.code(), code);
    }
    // "200" as a string is accepted too; the answer for another device is refused.
    let other = DYN_OK.replace(DN, "someone_else").replace("200", "\"200\"");
    let parsed = parse_register_response(other.as_bytes()).unwrap();
    assert_eq!(
        config.clone().registered(parsed),
        Err(DeviceError::Mismatch {
            field: "deviceName"
        })
    );
    // Bad random and missing ProductSecret.
    for bad in ["", "has space", "ü", &"a".repeat(65)] {
        assert!(matches!(
            RegisterRequest::new(&config, bad),
            Err(DeviceError::Input {
                field: "random",
                ..
            })
        ));
    }
    let one_secret = DeviceConfig::with_device_secret("pk", "dn", "s").unwrap();
    assert_eq!(
        RegisterRequest::new(&one_secret, RANDOM),
        Err(DeviceError::NoProductSecret)
    );
}

#[test]
fn devicename_request_and_token_connect() {
    let config = DeviceConfig::with_device_secret("pk", "device", "secret").unwrap();
    let auth = DeviceNameAuth::new(&config, "12345", Some(789), SignMethod::HmacMd5).unwrap();
    assert_eq!(auth.sign().as_str(), "14b198324fe55e1d3c88f2e705e201ee");
    let no_ts = DeviceNameAuth::new(&config, "12345", None, SignMethod::HmacSha1).unwrap();
    assert!(!no_ts.body().contains("timestamp"));

    let answer = br#"{"code":200,"data":{"iotId":"42Ze0mk3556498a1AlTP","iotToken":"0d7fdeb9dc1f4344a2cc0d45edcb0bcb","resources":{"mqtt":{"host":"pk.iot-as-mqtt.cn-shanghai.aliyuncs.com","port":"1883"}}},"message":"success"}"#;
    let mut modem = RecordingModem::new();
    modem.respond(200, answer);
    let token = authenticate_with(&mut modem, "https://auth.local", &auth).unwrap();
    assert_eq!(
        modem.requests()[0].url,
        "https://auth.local/auth/devicename"
    );
    assert_eq!(modem.requests()[0].body, auth.body().as_bytes());
    let mqtt = token.mqtt_connect("12345", 1200, false).unwrap();
    assert_eq!(mqtt.username, "42Ze0mk3556498a1AlTP");
    assert_eq!(
        mqtt.password.expose_secret(),
        "0d7fdeb9dc1f4344a2cc0d45edcb0bcb"
    );
    assert_eq!(mqtt.port, 1883);
    let no_mqtt =
        parse_devicename_response(br#"{"code":200,"data":{"iotId":"i","iotToken":"t"}}"#).unwrap();
    assert!(matches!(
        no_mqtt.mqtt_connect("c", 300, true),
        Err(DeviceError::Shape { .. })
    ));
    for (body, path) in [
        (r#"{"code":200}"#, "data"),
        (r#"{"code":200,"data":{"iotToken":"t"}}"#, "data.iotId"),
        (
            r#"{"code":200,"data":{"iotId":"i","iotToken":"t","resources":{"mqtt":{"host":"h","port":0}}}}"#,
            "data.resources.mqtt.port",
        ),
        (r#"{"message":"x"}"#, "code"),
    ] {
        match parse_devicename_response(body.as_bytes()) {
            Err(DeviceError::Shape { path: p, .. }) => assert_eq!(p, path, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// std exchanges.

#[test]
fn exchanges_build_and_parse() {
    let ctx = ctx(RANDOM);
    let config = DeviceConfig::with_product_secret(PK, DN, PS).unwrap();
    let register = Register::new("https://iot-auth.cn-shanghai.aliyuncs.com", config.clone());
    let req = register.build(&ctx).unwrap();
    assert_eq!(
        req.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        req.headers()["accept"],
        "text/xml,text/javascript,text/html,application/json"
    );
    assert_eq!(
        req.body(),
        RegisterRequest::new(&config, RANDOM)
            .unwrap()
            .body()
            .as_bytes()
    );
    let explain = register.explain(&ctx).unwrap();
    assert_eq!(explain.get("sign"), Some(DYN_SIGN));
    assert!(!explain.to_text().contains(PS));

    let err = run_with(&register, &ctx, |_| {
        Ok(http::Response::new(
            br#"{"code":6289,"message":"device is already active"}"#.to_vec(),
        ))
    })
    .unwrap_err();
    let platform = err.platform().unwrap();
    assert_eq!(
        (platform.platform, platform.code.as_str()),
        ("aliyun-iot", "6289")
    );
    assert_eq!(platform.class, ErrorClass::BadRequest);

    let provision = Provision::new("http://h/p", ProvisionRequest::new());
    let err = run_with(&provision, &ctx, |_| {
        Ok(http::Response::new(
            br#"{"code":"10001","message":"unknown device"}"#.to_vec(),
        ))
    })
    .unwrap_err();
    assert_eq!(err.platform().unwrap().code, "10001");
    let err = run_with(&provision, &ctx, |_| {
        let mut r = http::Response::new(b"<html>oops</html>".to_vec());
        *r.status_mut() = http::StatusCode::BAD_GATEWAY;
        Ok(r)
    })
    .unwrap_err();
    assert!(matches!(err, Error::HttpStatus { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    let err = run_with(&provision, &ctx, |_| {
        Ok(http::Response::new(
            br#"{"code":"00000","result":{}}"#.to_vec(),
        ))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Decode { ref path, .. } if path == "result.device"));

    let authenticate = Authenticate::new(
        "https://auth.local",
        DeviceConfig::with_device_secret("pk", "device", "secret").unwrap(),
        "12345",
    )
    .sign_method(SignMethod::HmacSha1);
    let req = authenticate.build(&ctx).unwrap();
    assert_eq!(
        std::str::from_utf8(req.body()).unwrap(),
        "productKey=pk&deviceName=device&clientId=12345&timestamp=789\
         &sign=fafd82a3d602b37fb0fa8b7892f24a477f851a14&signmethod=hmacsha1&version=default&resources=mqtt"
    );
}

// ------------------------------------------------------------------------------------------
// Secrets never leak.

#[test]
fn secrets_never_appear_in_debug_display_or_errors() {
    const MARK: &str = "SECRETMARKER";
    let config = DeviceConfig::with_device_secret("pk", "dn", MARK).unwrap();
    let dynamic = DeviceConfig::with_product_secret("pk", "dn", MARK).unwrap();
    let mqtt = config.mqtt_connect(&MqttOptions::new()).unwrap();
    let register = RegisterRequest::new(&dynamic, RANDOM).unwrap();
    let auth = DeviceNameAuth::new(&config, "c", None, SignMethod::HmacSha256).unwrap();
    let mut modem = RecordingModem::new();
    modem.respond(200, DYN_OK.as_bytes());
    let _ = register_with(&mut modem, "h", dynamic.clone(), RANDOM);
    let token = parse_devicename_response(
        format!(r#"{{"code":200,"data":{{"iotId":"i","iotToken":"{MARK}"}}}}"#).as_bytes(),
    )
    .unwrap();
    let texts = [
        format!("{config:?}"),
        format!("{dynamic:?}"),
        format!("{mqtt:?}"),
        format!("{register:?}"),
        format!("{auth:?}"),
        format!("{modem:?}"),
        format!("{token:?}"),
        format!("{:?}", Register::new("h", dynamic.clone())),
        format!("{:?}", parse_response(format!(r#"{{"code":"00000","result":{{"device":{{"productKey":"p","deviceName":"d","deviceSecret":{MARK}}}}}}}"#).as_bytes())),
        parse_response(format!(r#"{{"code":"00000","result":{{"device":{{"productKey":"p","deviceName":"d","deviceSecret":7}},"connect":{{}}}},"x":"{MARK}"}}"#).as_bytes()).unwrap_err().to_string(),
        config.mqtt_connect(&MqttOptions::new().keep_alive(1)).unwrap_err().to_string(),
    ];
    for text in texts {
        assert!(!text.contains(MARK), "leaked: {text}");
    }
    assert!(format!("{config:?}").contains("[redacted]"));
}

#[test]
fn config_constructors_validate() {
    assert!(matches!(
        DeviceConfig::with_device_secret("", "dn", "s"),
        Err(DeviceError::Input {
            field: "productKey",
            ..
        })
    ));
    assert!(matches!(
        DeviceConfig::with_device_secret("pk", "", "s"),
        Err(DeviceError::Input {
            field: "deviceName",
            ..
        })
    ));
    assert!(matches!(
        DeviceConfig::with_device_secret("pk", "dn", ""),
        Err(DeviceError::Input {
            field: "deviceSecret",
            ..
        })
    ));
    let c = DeviceConfig::with_device_secret("pk", "dn", "s")
        .unwrap()
        .connect(Connect {
            qos: Qos::AtLeastOnce,
            host: Some("mqtts://broker.local".into()),
            clean_session: true,
        });
    let ep = c.mqtt_endpoint("cn-shanghai").unwrap();
    assert_eq!((ep.host.as_str(), ep.port), ("broker.local", 1883));
    for bad in ["http://x", "h:0", "h:99999", ":1883", "a/b"] {
        let c = c.clone().connect(Connect {
            host: Some(bad.into()),
            ..Connect::default()
        });
        assert!(c.mqtt_endpoint("cn-shanghai").is_err(), "{bad}");
    }
    assert_eq!(
        c.to_result_value(),
        json!({"device": {"productKey": "pk", "deviceName": "dn", "deviceSecret": "s"},
               "connect": {"qos": 1, "host": "mqtts://broker.local", "cleanSession": 1}})
    );
}
