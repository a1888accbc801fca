//! `kaifang sign ...` and `kaifang xxtea ...` against the sign-core fixtures' known vectors, their
//! bad-input exit codes, secrets from the environment, and that no secret is ever echoed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use kaifang::sign::xxtea::{self, XxteaKey};
use serde_json::Value;

/// Every variable a secret flag reads, removed so that the caller's environment cannot leak in.
const SECRET_VARS: [&str; 6] = [
    "KAIFANG_TIANYI_APP_SECRET",
    "KAIFANG_ZHIYUN_CLIENT_SECRET",
    "KAIFANG_ILAB_SECRET",
    "KAIFANG_DEVICE_SECRET",
    "KAIFANG_PRODUCT_SECRET",
    "KAIFANG_XXTEA_KEY",
];

const TIANYI_APP_ID: &str = "693299085757";
const TIANYI_SECRET: &str = "88bd97ee5e9949c2bc48efb6e6fa2207";
const TIANYI_PARAMS: &str =
    "callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
const TIANYI_PARAMS_HEX: &str = "e7f042fd76937d76ba2cd63de2de44252a197afaad647ba9721514439866aee816a40057235799c1fe2fa1b452378cdbb2a7f4dba3eb9d794815e7eb72fff452c2ce1862d46f66cbc55fe6c1d9a90d7dd8fa6bdb51b2a658";
const TIANYI_SIGNATURE: &str = "7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376";
const TIANYI_BODY: &str = "signature=7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376&params=e7f042fd76937d76ba2cd63de2de44252a197afaad647ba9721514439866aee816a40057235799c1fe2fa1b452378cdbb2a7f4dba3eb9d794815e7eb72fff452c2ce1862d46f66cbc55fe6c1d9a90d7dd8fa6bdb51b2a658&appId=693299085757&version=2.0&clientType=3&timestamp=1700000000000";
/// The fixture's upper-case-params vector (its signature is given in lower case).
const TIANYI_SIGNATURE_OVER_UPPER: &str =
    "ee6f5ee69f3f6f568d7756b94c6ffa5aa490380c8e76d798791c99155301bf23";

const ILAB_TICKET: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
const ILAB_TICKET_V2: &str = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D";

/// A secret that cannot appear by chance in any output (for the no-echo checks).
const CANARY: &str = "Canary-S3cr3t-q7Zx";

fn kaifang() -> Command {
    let mut cmd = Command::cargo_bin("kaifang").unwrap();
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    run_cmd(kaifang().args(args))
}

fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json_of(args: &[&str]) -> Value {
    let r = run(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// Asserts exit code 2, a stderr naming `needle`, and no panic.
fn assert_bad_input(args: &[&str], needle: &str) -> Run {
    let r = run(args);
    assert_eq!(
        r.code, 2,
        "{args:?}: stdout {} stderr {}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.contains(needle),
        "{args:?}: stderr lacks {needle:?}: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    r
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn tianyi_args<'a>(secret: Option<&'a str>, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sign",
        "tianyi",
        "--app-id",
        TIANYI_APP_ID,
        "--client-type",
        "3",
        "--version",
        "2.0",
        "--timestamp",
        "1700000000000",
        "--params",
        TIANYI_PARAMS,
    ];
    if let Some(s) = secret {
        args.extend(["--app-secret", s]);
    }
    args.extend(extra);
    args
}

// ---- Tianyi ----

#[test]
fn tianyi_seed_vector() {
    let v = json_of(&tianyi_args(Some(TIANYI_SECRET), &["--json"]));
    assert_eq!(keys(&v), ["body", "params", "signature", "string_to_sign"]);
    assert_eq!(v["params"], TIANYI_PARAMS_HEX);
    assert_eq!(v["signature"], TIANYI_SIGNATURE);
    assert_eq!(
        v["string_to_sign"],
        format!("{TIANYI_APP_ID}3{TIANYI_PARAMS_HEX}17000000000002.0")
    );
    assert_eq!(v["body"], TIANYI_BODY);
}

#[test]
fn tianyi_upper_case() {
    let v = json_of(&tianyi_args(Some(TIANYI_SECRET), &["--upper", "--json"]));
    assert_eq!(v["params"], TIANYI_PARAMS_HEX.to_uppercase());
    assert_eq!(v["signature"], TIANYI_SIGNATURE_OVER_UPPER.to_uppercase());
}

#[test]
fn tianyi_explain_json_keeps_the_fields_and_adds_every_piece() {
    let v = json_of(&tianyi_args(Some(TIANYI_SECRET), &["--json", "--explain"]));
    assert_eq!(
        keys(&v),
        ["body", "explain", "params", "signature", "string_to_sign"]
    );
    let ex = &v["explain"];
    assert_eq!(ex["params_plain"], TIANYI_PARAMS);
    assert_eq!(ex["ciphertext_len"], 88);
    assert_eq!(ex["params_hex_len"], 176);
    assert_eq!(ex["hmac_key_len"], 32);
    assert_eq!(ex["xxtea_key_len"], 16);
    let parts = ex["string_to_sign_parts"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["appId", "clientType", "params", "timestamp", "version"]
    );
    assert_eq!(parts[0]["value"], TIANYI_APP_ID);
    assert_eq!(parts[0]["len"], 12);
    assert_eq!(parts[2]["len"], 176);
    assert_eq!(parts[3]["value"], "1700000000000");
    assert_eq!(ex["string_to_sign_len"], 12 + 1 + 176 + 13 + 3);
}

#[test]
fn tianyi_text_listing() {
    let r = run(&tianyi_args(Some(TIANYI_SECRET), &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert_eq!(lines[0], format!("params: {TIANYI_PARAMS_HEX}"));
    assert_eq!(lines[1], format!("signature: {TIANYI_SIGNATURE}"));
    assert!(lines[2].starts_with("string_to_sign: 6932990857573e7f0"));
    assert_eq!(lines[3], format!("body: {TIANYI_BODY}"));

    let r = run(&tianyi_args(Some(TIANYI_SECRET), &["--explain"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("params_plain: {TIANYI_PARAMS}\n"))
    );
    assert!(
        r.stdout
            .contains("string_to_sign_parts[0]: appId (12 bytes): 693299085757\n")
    );
    assert!(r.stdout.contains("hmac_key_len: 32\n"));
}

#[test]
fn tianyi_secret_from_the_environment() {
    let v = json_of_cmd(
        kaifang()
            .args(tianyi_args(None, &["--json"]))
            .env("KAIFANG_TIANYI_APP_SECRET", TIANYI_SECRET),
    );
    assert_eq!(v["signature"], TIANYI_SIGNATURE);
}

fn json_of_cmd(cmd: &mut Command) -> Value {
    let r = run_cmd(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn tianyi_bad_input() {
    // Missing secret (no flag, no variable).
    assert_bad_input(&tianyi_args(None, &["--json"]), "--app-secret");
    let mut args = tianyi_args(Some(TIANYI_SECRET), &[]);
    args[9] = "soon";
    assert_bad_input(&args, "--timestamp");
    let mut args = tianyi_args(Some(TIANYI_SECRET), &[]);
    args[5] = "pc";
    assert_bad_input(&args, "--client-type");
    let mut args = tianyi_args(Some(TIANYI_SECRET), &[]);
    args[11] = "a=1&&b";
    assert_bad_input(&args, "--params");
    assert_bad_input(
        &tianyi_args(Some(TIANYI_SECRET), &["--app-id", "x"]),
        "--app-id",
    );
    assert_bad_input(&tianyi_args(Some(""), &[]), "--app-secret");
}

// ---- Zhiyun ----

fn zhiyun_args(secret: &str) -> Vec<&str> {
    vec![
        "sign",
        "zhiyun",
        "--client-id",
        "1102084294",
        "--client-secret",
        secret,
        "--timestamp",
        "1422339152058",
        "--json",
    ]
}

#[test]
fn zhiyun_seed_vector() {
    let v = json_of(&zhiyun_args("aku8hCyXBd9SqYkT"));
    assert_eq!(keys(&v), ["authorization", "p_"]);
    assert_eq!(v["p_"], 8519);
    assert_eq!(
        v["authorization"],
        "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU"
    );
    let mut args = zhiyun_args("aku8hCyXBd9SqYkT");
    args.push("--explain");
    let ex = &json_of(&args)["explain"];
    assert_eq!(ex["t_mod_10000"], 2058);
    assert_eq!(ex["credentials_len"], 10 + 1 + 16);
}

#[test]
fn zhiyun_other_check_values() {
    for (t, p) in [
        ("1700000000000", 2345),
        ("1700000009999", 32342),
        ("1522404566", 16043),
    ] {
        let mut args = zhiyun_args("aku8hCyXBd9SqYkT");
        args[7] = t;
        assert_eq!(json_of(&args)["p_"], p, "t_ = {t}");
    }
}

#[test]
fn zhiyun_secret_from_the_environment() {
    let v = json_of_cmd(
        kaifang()
            .args([
                "sign",
                "zhiyun",
                "--client-id",
                "1102084294",
                "--timestamp",
                "1422339152058",
                "--json",
            ])
            .env("KAIFANG_ZHIYUN_CLIENT_SECRET", "aku8hCyXBd9SqYkT"),
    );
    assert_eq!(
        v["authorization"],
        "Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU"
    );
}

#[test]
fn zhiyun_bad_input() {
    let mut args = zhiyun_args("aku8hCyXBd9SqYkT");
    args[7] = "12:30";
    assert_bad_input(&args, "--timestamp");
    let mut args = zhiyun_args("aku8hCyXBd9SqYkT");
    args[7] = "-1";
    let r = run(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_bad_input(
        &["sign", "zhiyun", "--client-secret", "x", "--timestamp", "1"],
        "--client-id",
    );
}

// ---- iLab ----

#[test]
fn ilab_seed_vector() {
    let v = json_of(&[
        "sign",
        "ilab",
        "--ticket",
        ILAB_TICKET,
        "--app-id",
        "1681600222748241929",
        "--secret",
        "123456",
        "--json",
    ]);
    assert_eq!(keys(&v), ["signature"]);
    assert_eq!(v["signature"], "6CC426EF80A31C5E7BDE10F6F5772DE5");
}

#[test]
fn ilab_encoded_ticket_is_decoded() {
    let v = json_of(&[
        "sign",
        "ilab",
        "--ticket",
        ILAB_TICKET_V2,
        "--app-id",
        "105348",
        "--secret",
        "secret",
        "--json",
        "--explain",
    ]);
    assert_eq!(v["signature"], "A420ABC82AB3B07C347F7F02A6B28FD2");
    let ex = &v["explain"];
    assert_eq!(
        ex["ticket_decoded"],
        "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5+1UFkxS7PclakS5u3P6cXwrv8+7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ="
    );
    assert_eq!(ex["md5_input_len"], 108 + 6 + 6);
    assert_eq!(
        ex["signature_if_ticket_not_decoded"],
        "C2CF942B96009601A49947F09CB40914"
    );
}

#[test]
fn ilab_secret_from_the_environment_and_bad_input() {
    let v = json_of_cmd(
        kaifang()
            .args([
                "sign",
                "ilab",
                "--ticket",
                ILAB_TICKET,
                "--app-id",
                "1681600222748241929",
                "--json",
            ])
            .env("KAIFANG_ILAB_SECRET", "123456"),
    );
    assert_eq!(v["signature"], "6CC426EF80A31C5E7BDE10F6F5772DE5");
    assert_bad_input(
        &["sign", "ilab", "--app-id", "1", "--secret", "s"],
        "--ticket",
    );
    assert_bad_input(
        &["sign", "ilab", "--ticket", "t", "--app-id", "1"],
        "--secret",
    );
}

// ---- Aliyun ----

fn mqtt_args<'a>(method: &'a str, mode: &'a str, ts: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "sign",
        "aliyun-mqtt",
        "--product-key",
        "pk",
        "--device-name",
        "device",
        "--device-secret",
        "secret",
        "--client-id",
        "12345",
        "--sign-method",
        method,
        "--secure-mode",
        mode,
        "--json",
    ];
    if let Some(ts) = ts {
        args.extend(["--timestamp", ts]);
    }
    args
}

#[test]
fn aliyun_mqtt_vectors() {
    for (method, mode, ts, client_id, password) in [
        (
            "hmacmd5",
            "3",
            Some("789"),
            "12345|securemode=3,signmethod=hmacmd5,timestamp=789|",
            "14b198324fe55e1d3c88f2e705e201ee",
        ),
        (
            "hmacsha1",
            "3",
            Some("789"),
            "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
            "fafd82a3d602b37fb0fa8b7892f24a477f851a14",
        ),
        (
            "hmacsha256",
            "3",
            Some("789"),
            "12345|securemode=3,signmethod=hmacsha256,timestamp=789|",
            "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57",
        ),
        (
            "hmacsha256",
            "2",
            None,
            "12345|securemode=2,signmethod=hmacsha256|",
            "c8cb3dcb7159682438e5fd9a9c34f398e41bb8edb6f222795e307bafee151090",
        ),
    ] {
        let v = json_of(&mqtt_args(method, mode, ts));
        assert_eq!(keys(&v), ["client_id", "password", "username"]);
        assert_eq!(v["client_id"], client_id);
        assert_eq!(v["username"], "device&pk");
        assert_eq!(v["password"], password, "{method}");
    }
    let mut args = mqtt_args("hmacsha1", "3", Some("789"));
    args.push("--explain");
    let ex = &json_of(&args)["explain"];
    assert_eq!(
        ex["sign_content"],
        "clientId12345deviceNamedeviceproductKeypktimestamp789"
    );
    assert_eq!(ex["hmac"], "hmacsha1");
}

#[test]
fn aliyun_mqtt_bad_input() {
    assert_bad_input(&mqtt_args("sha512", "3", None), "--sign-method");
    assert_bad_input(&mqtt_args("hmacmd5", "1", None), "--secure-mode");
    assert_bad_input(&mqtt_args("hmacmd5", "3", Some("noon")), "--timestamp");
    let mut args = mqtt_args("hmacmd5", "3", None);
    args.drain(6..8);
    assert_bad_input(&args, "--device-secret");
}

#[test]
fn aliyun_register_vector() {
    let args = [
        "sign",
        "aliyun-register",
        "--product-key",
        "a1csED27mp7",
        "--device-name",
        "AdvExample_dyn1",
        "--product-secret",
        "VuULINCrtTAzCSzp",
        "--random",
        "2HyP9O70q5t9VuX",
        "--json",
    ];
    let v = json_of(&args);
    assert_eq!(keys(&v), ["sign"]);
    assert_eq!(
        v["sign"],
        "9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556"
    );
    let mut with_explain = args.to_vec();
    with_explain.push("--explain");
    assert_eq!(
        json_of(&with_explain)["explain"]["sign_content"],
        "deviceNameAdvExample_dyn1productKeya1csED27mp7random2HyP9O70q5t9VuX"
    );
    // From the environment.
    let mut env_args = args.to_vec();
    env_args.drain(6..8);
    let v = json_of_cmd(
        kaifang()
            .args(&env_args)
            .env("KAIFANG_PRODUCT_SECRET", "VuULINCrtTAzCSzp"),
    );
    assert_eq!(
        v["sign"],
        "9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556"
    );
    assert_bad_input(&env_args, "--product-secret");
    let mut no_random = args.to_vec();
    no_random.drain(8..10);
    assert_bad_input(&no_random, "--random");
}

#[test]
fn aliyun_mqtt_device_secret_from_the_environment() {
    let mut args = mqtt_args("hmacsha1", "3", Some("789"));
    args.drain(6..8);
    let v = json_of_cmd(kaifang().args(&args).env("KAIFANG_DEVICE_SECRET", "secret"));
    assert_eq!(v["password"], "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
}

// ---- XXTEA ----

#[test]
fn xxtea_vectors_both_ways_and_both_spellings() {
    for (plain, hex) in [
        (TIANYI_PARAMS, TIANYI_PARAMS_HEX),
        ("a", "793928c1eb116075"),
        ("abcdefgh", "c9ccbe1710fd9a3043ce4ed5"),
        (
            "天翼视联你好",
            "9d1422db27bab06367662cb059104277509deccea3969cd0",
        ),
        ("", ""),
    ] {
        for prefix in [&["xxtea"][..], &["sign", "xxtea"][..]] {
            let mut enc = prefix.to_vec();
            enc.extend(["encrypt", "--key", TIANYI_SECRET, "--data", plain, "--json"]);
            let v = json_of(&enc);
            assert_eq!(keys(&v), ["hex"]);
            assert_eq!(v["hex"], hex, "{plain}");

            let mut dec = prefix.to_vec();
            dec.extend(["decrypt", "--key", TIANYI_SECRET, "--hex", hex, "--json"]);
            let v = json_of(&dec);
            assert_eq!(keys(&v), ["data"]);
            assert_eq!(v["data"], plain);
        }
    }
    // Upper-case hex decodes too; the key is cut to 16 bytes as xxtea-py does.
    let v = json_of(&[
        "xxtea",
        "decrypt",
        "--key",
        "88bd97ee5e9949c2",
        "--hex",
        "C9CCBE1710FD9A3043CE4ED5",
        "--json",
    ]);
    assert_eq!(v["data"], "abcdefgh");
    let r = run(&[
        "xxtea",
        "encrypt",
        "--key",
        "1234567890",
        "--data",
        "abcdefgh",
    ]);
    assert_eq!(r.stdout, "hex: eaf990d00a003a64a6f22c3e\n");
}

#[test]
fn xxtea_key_from_the_environment() {
    let v = json_of_cmd(
        kaifang()
            .args([
                "xxtea",
                "decrypt",
                "--hex",
                "c9ccbe1710fd9a3043ce4ed5",
                "--json",
            ])
            .env("KAIFANG_XXTEA_KEY", TIANYI_SECRET),
    );
    assert_eq!(v["data"], "abcdefgh");
}

#[test]
fn xxtea_bad_input() {
    let dec = |hex: &'static str| {
        vec![
            "xxtea",
            "decrypt",
            "--key",
            TIANYI_SECRET,
            "--hex",
            hex,
            "--json",
        ]
    };
    assert_bad_input(&dec("abc"), "--hex: hex string has an odd length (3)");
    assert_bad_input(&dec("zz11"), "--hex: invalid hex digit at position 0");
    // Not a whole number of words, too short, and a wrong key.
    assert_bad_input(&dec("0011223344"), "not a multiple of 4");
    assert_bad_input(&dec("00112233"), "too short");
    let r = assert_bad_input(
        &[
            "xxtea",
            "decrypt",
            "--key",
            "another-key",
            "--hex",
            "c9ccbe1710fd9a3043ce4ed5",
        ],
        "wrong key",
    );
    assert!(!r.stderr.contains("another-key"));
    // Valid framing around bytes that are not UTF-8 (the CLI cannot encrypt those, the library can).
    let cipher = xxtea::encrypt(&XxteaKey::new(b"k"), &[0xff, 0xfe, 0x41]).unwrap();
    let hex: String = cipher.iter().map(|b| format!("{b:02x}")).collect();
    assert_bad_input(
        &["xxtea", "decrypt", "--key", "k", "--hex", &hex],
        "--hex: the decrypted data (3 bytes) is not UTF-8",
    );
    assert_bad_input(&["xxtea", "encrypt", "--data", "x"], "--key");
    assert_bad_input(&["xxtea", "frobnicate"], "unrecognized subcommand");
    assert_bad_input(&["xxtea", "encrypt", "--key", "", "--data", "x"], "--key");
}

// ---- Cross-cutting ----

#[test]
fn unknown_subcommands() {
    assert_bad_input(&["sign", "wechat"], "unrecognized subcommand 'wechat'");
    assert_bad_input(
        &["sign", "xxtea", "rot13"],
        "unrecognized subcommand 'rot13'",
    );
}

#[test]
fn help_names_the_variables_and_hides_their_values() {
    for (args, var) in [
        (
            &["sign", "tianyi", "--help"][..],
            "KAIFANG_TIANYI_APP_SECRET",
        ),
        (
            &["sign", "zhiyun", "--help"][..],
            "KAIFANG_ZHIYUN_CLIENT_SECRET",
        ),
        (&["sign", "ilab", "--help"][..], "KAIFANG_ILAB_SECRET"),
        (
            &["sign", "aliyun-mqtt", "--help"][..],
            "KAIFANG_DEVICE_SECRET",
        ),
        (
            &["sign", "aliyun-register", "--help"][..],
            "KAIFANG_PRODUCT_SECRET",
        ),
        (&["xxtea", "encrypt", "--help"][..], "KAIFANG_XXTEA_KEY"),
        (&["xxtea", "decrypt", "--help"][..], "KAIFANG_XXTEA_KEY"),
        (
            &["sign", "xxtea", "decrypt", "--help"][..],
            "KAIFANG_XXTEA_KEY",
        ),
    ] {
        let mut cmd = kaifang();
        cmd.args(args);
        for v in SECRET_VARS {
            cmd.env(v, CANARY);
        }
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains(var), "{args:?}: {}", r.stdout);
        assert!(!r.stdout.contains(CANARY), "{args:?}: {}", r.stdout);
        assert!(!r.stderr.contains(CANARY), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn secrets_are_never_echoed() {
    let runs: Vec<Vec<&str>> = vec![
        tianyi_args(Some(CANARY), &["--explain"]),
        tianyi_args(Some(CANARY), &["--json", "--explain"]),
        // A failing run with the secret given.
        tianyi_args(Some(CANARY), &["--params", "=&"]),
        tianyi_args(Some(CANARY), &["--timestamp", "x"]),
        vec![
            "sign",
            "zhiyun",
            "--client-id",
            "1",
            "--client-secret",
            CANARY,
            "--timestamp",
            "5",
            "--explain",
        ],
        vec![
            "sign",
            "ilab",
            "--ticket",
            "a%2Bb",
            "--app-id",
            "1",
            "--secret",
            CANARY,
            "--json",
            "--explain",
        ],
        vec![
            "sign",
            "aliyun-mqtt",
            "--product-key",
            "pk",
            "--device-name",
            "dn",
            "--device-secret",
            CANARY,
            "--client-id",
            "c",
            "--sign-method",
            "hmacsha256",
            "--secure-mode",
            "2",
            "--explain",
        ],
        vec![
            "sign",
            "aliyun-register",
            "--product-key",
            "pk",
            "--device-name",
            "dn",
            "--product-secret",
            CANARY,
            "--random",
            "r",
            "--json",
            "--explain",
        ],
        vec![
            "xxtea",
            "encrypt",
            "--key",
            CANARY,
            "--data",
            "hello",
            "--explain",
        ],
        vec![
            "xxtea",
            "decrypt",
            "--key",
            CANARY,
            "--hex",
            "c9ccbe1710fd9a3043ce4ed5",
        ],
        vec!["xxtea", "decrypt", "--key", CANARY, "--hex", "xyz"],
        vec![
            "sign",
            "aliyun-mqtt",
            "--device-secret",
            CANARY,
            "--sign-method",
            "md4",
        ],
    ];
    for args in runs {
        let r = run(&args);
        assert!(
            r.code == 0 || r.code == 2,
            "{args:?}: code {} {}",
            r.code,
            r.stderr
        );
        assert!(!r.stdout.contains(CANARY), "{args:?}: {}", r.stdout);
        assert!(!r.stderr.contains(CANARY), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
}
