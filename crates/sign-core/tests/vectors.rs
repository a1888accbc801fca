//! Every vector of the shared reference set, reproduced from this crate's own fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use kaifang_sign_core::aliyun::{self, MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use kaifang_sign_core::xxtea::{self, XxteaKey};
use kaifang_sign_core::{ilab, zhiyun};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn xxtea_matches_xxtea_py() {
    let fx = fixture("xxtea.json");
    let key = XxteaKey::new(s(&fx["key"]).as_bytes());
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let plain = s(&case["plain"]).as_bytes();
        assert_eq!(hex::encode(plain), s(&case["plain_utf8_hex"]));
        let mut out = vec![0u8; plain.len() + 8];
        let n = xxtea::encrypt_into(&key, plain, &mut out).unwrap();
        assert_eq!(
            n as u64,
            case["cipher_len"].as_u64().unwrap(),
            "{}",
            case["name"]
        );
        assert_eq!(
            hex::encode(&out[..n]),
            s(&case["cipher_hex"]),
            "{}",
            case["name"]
        );
        let mut back = vec![0u8; n];
        assert_eq!(
            xxtea::decrypt_into(&key, &out[..n], &mut back).unwrap(),
            plain
        );
    }
    for case in fx["key_variants"].as_array().unwrap() {
        let key = XxteaKey::new(s(&case["key"]).as_bytes());
        let mut out = [0u8; 12];
        let n = xxtea::encrypt_into(&key, s(&case["plain"]).as_bytes(), &mut out).unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            s(&case["cipher_hex"]),
            "key {:?}",
            case["key"]
        );
    }
}

#[test]
fn tianyi_envelope_every_variant() {
    let fx = fixture("tianyi.json");
    for case in fx["cases"].as_array().unwrap() {
        let signer = TianyiSigner::new(s(&case["app_secret"]).as_bytes());
        let case_hex = if case["params_upper"].as_bool().unwrap() {
            HexCase::Upper
        } else {
            HexCase::Lower
        };
        let plain = s(&case["params_plain"]).as_bytes();
        let mut buf = [0u8; 512];
        let params = signer
            .encrypt_params_hex(plain, case_hex, &mut buf)
            .unwrap()
            .to_owned();
        assert_eq!(params, s(&case["params_hex"]), "{}", case["name"]);
        let mut back = [0u8; 256];
        assert_eq!(
            signer.decrypt_params_hex(&params, &mut back).unwrap(),
            plain
        );
        let Some(sig) = case.get("signature") else {
            continue;
        };
        let sts = StringToSign {
            app_id: s(&case["app_id"]),
            client_type: case["client_type"].as_u64().unwrap() as u32,
            params: &params,
            timestamp: case["timestamp"].as_u64().unwrap(),
            version: s(&case["version"]),
        };
        assert_eq!(sts.to_string(), s(&case["string_to_sign"]));
        assert_eq!(sts.len(), s(&case["string_to_sign"]).len());
        assert_eq!(
            signer.sign(&sts, HexCase::Lower).as_str(),
            s(sig),
            "{}",
            case["name"]
        );
        assert_eq!(
            signer.sign(&sts, HexCase::Upper).as_str(),
            s(sig).to_uppercase()
        );
        assert!(signer.verify(&sts, &s(sig).to_uppercase()));
        if let Some(body) = case.get("form_body") {
            let built = format!(
                "signature={}&params={}&appId={}&version={}&clientType={}&timestamp={}",
                signer.sign(&sts, HexCase::Lower),
                params,
                sts.app_id,
                sts.version,
                sts.client_type,
                sts.timestamp
            );
            assert_eq!(built, s(body));
        }
    }
}

#[test]
fn tianyi_rejects_tampered_or_foreign_params() {
    let signer = TianyiSigner::new(b"88bd97ee5e9949c2bc48efb6e6fa2207");
    let other = TianyiSigner::new(b"00000000000000000000000000000000");
    let mut buf = [0u8; 128];
    let params = signer
        .encrypt_params_hex(b"grantType=vcp_189", HexCase::Upper, &mut buf)
        .unwrap()
        .to_owned();
    let mut out = [0u8; 64];
    assert!(other.decrypt_params_hex(&params, &mut out).is_err());
    assert!(signer.decrypt_params_hex("zz", &mut out).is_err());
    assert!(signer.decrypt_params_hex("abc", &mut out).is_err());
}

#[test]
fn zhiyun_basic_and_check_values() {
    let fx = fixture("zhiyun.json");
    let mut buf = [0u8; 64];
    let auth = zhiyun::basic_authorization(s(&fx["client_id"]), s(&fx["client_secret"]), &mut buf)
        .unwrap();
    assert_eq!(auth, s(&fx["authorization"]));
    assert_eq!(auth.len(), zhiyun::basic_authorization_len(10, 16));
    for c in fx["check_values"].as_array().unwrap() {
        assert_eq!(
            zhiyun::check_value(c["t"].as_u64().unwrap()),
            c["p"].as_u64().unwrap()
        );
    }
    let mut small = [0u8; 10];
    assert!(zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut small).is_err());
}

#[test]
fn ilab_signatures_and_unquote() {
    let fx = fixture("ilab.json");
    for case in fx["cases"].as_array().unwrap() {
        let (t, a, k) = (s(&case["ticket"]), s(&case["appid"]), s(&case["secret"]));
        assert_eq!(
            ilab::signature(t, a, k).as_str(),
            s(&case["signature"]),
            "{}",
            case["name"]
        );
        let sts = s(&case["string_to_sign"]);
        let decoded = &sts[..sts.len() - a.len() - k.len()];
        assert_eq!(
            ilab::signature_decoded(decoded, a, k).as_str(),
            s(&case["signature"])
        );
        if let Some(bug) = case.get("signature_over_encoded_bug") {
            assert_eq!(ilab::signature_decoded(t, a, k).as_str(), s(bug));
            assert_ne!(s(bug), s(&case["signature"]));
        }
    }
    for case in fx["unquote"].as_array().unwrap() {
        let input = s(&case["input"]);
        let mut out = vec![0u8; input.len()];
        assert_eq!(
            ilab::unquote_into(input, &mut out).unwrap(),
            s(&case["python_unquote"]),
            "{input}"
        );
        let mut md5 = kaifang_sign_core::digest::Md5::new();
        ilab::unquote_each(input, |p| md5.update(p));
        assert_eq!(hex::encode(md5.finish()), s(&case["md5_hex"]));
    }
}

#[test]
fn aliyun_mqtt_and_register() {
    let fx = fixture("aliyun.json");
    for c in fx["mqtt"].as_array().unwrap() {
        let sign = MqttSign {
            product_key: s(&c["product_key"]),
            device_name: s(&c["device_name"]),
            device_secret: s(&c["device_secret"]),
            client_id: s(&c["client_id"]),
            timestamp: c["timestamp"].as_u64(),
            sign_method: SignMethod::parse(s(&c["sign_method"])).unwrap(),
            secure_mode: SecureMode::from_u8(c["secure_mode"].as_u64().unwrap() as u8).unwrap(),
        };
        let mut buf = vec![0u8; sign.buffer_len()];
        let creds = sign.credentials(&mut buf).unwrap();
        assert_eq!(creds.client_id, s(&c["mqtt_client_id"]));
        assert_eq!(creds.username, s(&c["username"]));
        assert_eq!(creds.password.as_str(), s(&c["password"]));
        let quoted_secret = format!("{:?}", s(&c["device_secret"]));
        assert!(!format!("{creds:?}{sign:?}").contains(&quoted_secret));
        assert!(!format!("{creds:?}").contains(s(&c["password"])));
    }
    let r = &fx["register"];
    let sign = aliyun::register_sign(
        s(&r["product_key"]),
        s(&r["device_name"]),
        s(&r["product_secret"]),
        s(&r["random"]),
    );
    assert_eq!(sign.as_str(), s(&r["sign"]));
}
