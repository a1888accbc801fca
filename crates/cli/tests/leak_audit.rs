//! The secret-leak audit of the `kaifang` binary's output: an in-process sandbox whose tenants'
//! secrets, passwords and configured access tokens are unique markers
//! (`LEAKMARKER-<kind>-<random hex>`), and every `token` and `call` command of every platform
//! (and the refusals: a wrong secret, a wrong password) run without `--show-secrets`. No marker,
//! and no token or ticket the sandbox issued, may appear in stdout or stderr. `--show-secrets`
//! is the positive control: it does print the tokens, which then become markers for every other
//! run. The library-side audit (logs, `Debug`, errors, the journal) is
//! `crates/e2e/tests/leak_audit.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::cargo::CommandCargoExt;
use kaifang::sandbox::platforms::{device, ilab, tianyi, zhiyun as szhiyun};
use kaifang::sandbox::{BlockingSandbox, Config, Sandbox};
use kaifang::tf56::server as tf56;
use kaifang::zhiyun::server::tenant as zhiyun;
use serde_json::{Value, json};

/// The markers (label, value) and the runs' outputs.
#[derive(Default)]
struct Audit {
    markers: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

impl Audit {
    fn marker(&mut self, kind: &str) -> String {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        let m = format!("LEAKMARKER-{kind}-{:016x}", h.finish());
        self.watch(kind, &m);
        m
    }

    fn watch(&mut self, label: &str, value: &str) {
        assert!(value.len() >= 8, "{label}: `{value}` is too short to audit");
        self.markers.push((label.to_owned(), value.to_owned()));
    }

    /// The markers in `text`.
    fn leaks(&self, text: &str) -> Vec<&str> {
        self.markers
            .iter()
            .filter(|(_, v)| text.contains(v.as_str()))
            .map(|(l, _)| l.as_str())
            .collect()
    }
}

/// A run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A cache directory and environment of the test's own.
struct Env {
    cache: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(name: &str) -> Self {
        let cache = std::env::temp_dir().join(format!(
            "kaifang-cli-leak-audit-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&cache);
        Env {
            cache,
            vars: Vec::new(),
        }
    }

    fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Runs `kaifang args`, keeps its output for the audit and returns it.
    fn run(&self, a: &mut Audit, args: &[&str]) -> Run {
        let mut cmd = Command::cargo_bin("kaifang").unwrap();
        cmd.args(args)
            .env_clear()
            .env("KAIFANG_CACHE_DIR", &self.cache);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !args.contains(&"--show-secrets") {
            a.outputs.push((
                format!("kaifang {}", args.join(" ")),
                format!("{}\n{}", run.stdout, run.stderr),
            ));
        }
        run
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

impl Run {
    fn ok(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

// ---------------------------------------------------------------------------------------------
// the marker tenants

/// Replaces every string equal to a key of `map` by its value.
fn substitute(v: Value, map: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => Value::String(
            map.iter()
                .find(|(from, _)| *from == s)
                .map_or(s, |(_, to)| (*to).to_owned()),
        ),
        Value::Array(x) => Value::Array(x.into_iter().map(|x| substitute(x, map)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, substitute(x, map)))
                .collect(),
        ),
        other => other,
    }
}

/// `v` as one TOML inline value (nulls left out). JSON strings are valid TOML basic strings.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let fields: Vec<String> = o
                .iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| format!("{} = {}", Value::String(k.clone()), inline(x)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .filter(|x| !x.is_null())
                .map(inline)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

struct Tenants {
    tianyi: String,
    zhiyun_secret: String,
    zhiyun_token: String,
    tf56_secret: String,
    tf56_password: String,
    ilab: String,
    text: String,
}

fn tenants(a: &mut Audit) -> Tenants {
    let mut t = Tenants {
        tianyi: a.marker("tianyi-platform-app-secret"),
        zhiyun_secret: a.marker("zhiyun-client-secret"),
        zhiyun_token: a.marker("zhiyun-configured-access-token"),
        tf56_secret: a.marker("tf56-client-secret"),
        tf56_password: a.marker("tf56-password"),
        ilab: a.marker("ilab-secret"),
        text: String::new(),
    };
    let seed_secret = a.marker("tianyi-app-secret");
    let no_callback = a.marker("tianyi-nocallback-secret");
    let zhiyun_token2 = a.marker("zhiyun-configured-access-token-2");
    let device_secret = a.marker("device-secret");
    let product_secret = a.marker("product-secret");
    let ilabx = a.marker("ilabx-secret");
    let jwt = a.marker("ilab-jwt-key");
    let mut platforms = serde_json::Map::new();
    platforms.insert(
        "tianyi".into(),
        substitute(
            serde_json::to_value(tianyi::TianyiSandboxConfig::default()).unwrap(),
            &[
                (tianyi::SEED_APP_SECRET, &seed_secret),
                (tianyi::PLATFORM_APP_SECRET, &t.tianyi),
                (tianyi::NO_CALLBACK_APP_SECRET, &no_callback),
            ],
        ),
    );
    platforms.insert(
        "zhiyun".into(),
        substitute(
            serde_json::to_value(szhiyun::ZhiyunSandboxConfig::default()).unwrap(),
            &[
                (zhiyun::CLIENT_SECRET, &t.zhiyun_secret),
                (zhiyun::ACCESS_TOKENS[0], &t.zhiyun_token),
                (zhiyun::ACCESS_TOKENS[1], &zhiyun_token2),
            ],
        ),
    );
    platforms.insert(
        "device".into(),
        substitute(
            serde_json::to_value(device::DeviceSandboxConfig::default()).unwrap(),
            &[
                (device::DEVICE_SECRET, &device_secret),
                (device::DYN_PRODUCT_SECRET, &product_secret),
            ],
        ),
    );
    // tf56 serializes its secrets redacted: set them by client id and user name (and leave its
    // `invalid_token_style` at the default: it serializes as `oauth` but reads `o_auth`).
    let mut tf =
        serde_json::to_value(kaifang::sandbox::platforms::tf56::Tf56Config::default()).unwrap();
    tf.as_object_mut().unwrap().remove("invalid_token_style");
    for c in tf["clients"].as_array_mut().unwrap() {
        c["secret"] = if c["client_id"] == tf56::PUBLIC_CLIENT_ID {
            t.tf56_secret.clone()
        } else {
            a.marker("tf56-other-client-secret")
        }
        .into();
    }
    for u in tf["users"].as_array_mut().unwrap() {
        u["password"] = if u["username"] == tf56::DEMO_USERNAME {
            t.tf56_password.clone()
        } else {
            a.marker("tf56-other-password")
        }
        .into();
    }
    platforms.insert("tf56".into(), tf);
    platforms.insert(
        "ilab".into(),
        substitute(
            serde_json::to_value(ilab::IlabSandboxConfig::default()).unwrap(),
            &[
                (ilab::SEED_SECRET, &t.ilab),
                (ilab::ILABX_SECRET, &ilabx),
                (ilab::DEFAULT_JWT_KEY, &jwt),
            ],
        ),
    );
    t.text = format!("platforms = {}\n", inline(&Value::Object(platforms)));
    for secret in [
        tianyi::PLATFORM_APP_SECRET,
        zhiyun::CLIENT_SECRET,
        device::DEVICE_SECRET,
    ] {
        assert!(!t.text.contains(secret), "{secret} was not replaced");
    }
    t
}

fn sandbox(t: &Tenants) -> BlockingSandbox {
    Sandbox::builder()
        .all_platforms()
        .config(Config::from_toml(&t.text, "leak-audit.toml").unwrap())
        .start_blocking()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn no_secret_or_token_in_the_cli_output_without_show_secrets() {
    let mut a = Audit::default();
    let t = tenants(&mut a);
    let sb = sandbox(&t);
    let base = sb.base_url().to_owned();
    let env = Env::new("main")
        .var("KAIFANG_TF56_CLIENT_SECRET", &t.tf56_secret)
        .var("KAIFANG_TF56_PASSWORD", &t.tf56_password)
        .var("KAIFANG_TIANYI_APP_SECRET", &t.tianyi)
        .var("KAIFANG_ZHIYUN_CLIENT_SECRET", &t.zhiyun_secret)
        .var("KAIFANG_ZHIYUN_ACCESS_TOKEN", &t.zhiyun_token)
        .var("KAIFANG_ILAB_SECRET", &t.ilab);

    // tf56: client credentials, then the positive control, then the password grant.
    let tf = [
        "token",
        "tf56",
        "--base-url",
        &base,
        "--client-id",
        tf56::PUBLIC_CLIENT_ID,
    ];
    assert_eq!(env.run(&mut a, &tf).ok()["access_token"], "[redacted]");
    let shown = env
        .run(&mut a, &[&tf[..], &["--show-secrets"]].concat())
        .ok();
    a.watch(
        "tf56 access token (shown with --show-secrets)",
        shown["access_token"].as_str().unwrap(),
    );
    let pw = [
        &tf[..],
        &["--grant", "password", "--username", tf56::DEMO_USERNAME],
    ]
    .concat();
    env.run(&mut a, &pw).ok();
    let shown = env
        .run(&mut a, &[&pw[..], &["--show-secrets"]].concat())
        .ok();
    a.watch(
        "tf56 password-grant access token",
        shown["access_token"].as_str().unwrap(),
    );
    a.watch(
        "tf56 password-grant refresh token",
        shown["refresh_token"].as_str().unwrap(),
    );
    env.run(
        &mut a,
        &[
            "call",
            "tf56",
            "oauthentry/tf56.open.demo/1/sayHello",
            "--base-url",
            &base,
            "--client-id",
            tf56::PUBLIC_CLIENT_ID,
        ],
    )
    .ok();

    // tianyi vcp_189: token and a business call.
    let ty = [
        "token",
        "tianyi",
        "--base-url",
        &base,
        "--app-id",
        tianyi::PLATFORM_APP_ID,
        "--enterprise-user",
        tianyi::PLATFORM_ENTERPRISE_USER,
    ];
    env.run(&mut a, &ty).ok();
    let shown = env
        .run(&mut a, &[&ty[..], &["--show-secrets"]].concat())
        .ok();
    for field in ["access_token", "refresh_token"] {
        if let Some(v) = shown[field].as_str() {
            a.watch(&format!("tianyi {field}"), v);
        }
    }
    env.run(
        &mut a,
        &[
            "call",
            "tianyi",
            "device/getDeviceList",
            "--param",
            "regionId=",
            "--param",
            "pageNo=1",
            "--base-url",
            &base,
            "--app-id",
            tianyi::PLATFORM_APP_ID,
            "--enterprise-user",
            tianyi::PLATFORM_ENTERPRISE_USER,
        ],
    )
    .ok();

    // zhiyun: the auth code, user and company.
    let zy = [
        "token",
        "zhiyun",
        "--base-url",
        &base,
        "--client-id",
        zhiyun::CLIENT_ID,
    ];
    env.run(&mut a, &zy).ok();
    let shown = env
        .run(&mut a, &[&zy[..], &["--show-secrets"]].concat())
        .ok();
    if let Some(v) = shown["access_token"].as_str() {
        a.watch("zhiyun auth_code", v);
    }
    for target in ["user", "company"] {
        env.run(
            &mut a,
            &[
                "call",
                "zhiyun",
                target,
                "--base-url",
                &base,
                "--client-id",
                zhiyun::CLIENT_ID,
            ],
        )
        .ok();
    }

    // ilab: a minted ticket (a marker too) for a token.
    let minted = sb
        .mint("ilab", "ticket", json!({"appid": ilab::SEED_APPID}))
        .unwrap();
    let ticket = minted["ticket_encoded"].as_str().unwrap().to_owned();
    a.watch("ilab ticket (encoded)", &ticket);
    a.watch("ilab ticket", minted["ticket"].as_str().unwrap());
    let il_env = Env::new("ilab")
        .var("KAIFANG_ILAB_SECRET", &t.ilab)
        .var("KAIFANG_ILAB_TICKET", &ticket);
    let il = [
        "token",
        "ilab",
        "--base-url",
        &base,
        "--app-id",
        ilab::SEED_APPID,
    ];
    il_env.run(&mut a, &il).ok();
    let shown = il_env
        .run(&mut a, &[&il[..], &["--show-secrets"]].concat())
        .ok();
    for field in ["access_token", "refresh_token"] {
        if let Some(v) = shown[field].as_str() {
            a.watch(&format!("ilab {field}"), v);
        }
    }

    // device: provisioning hands out the DeviceSecret; the MQTT password derives from it.
    let dev = [
        "token",
        "device",
        "--base-url",
        &base,
        "--imei",
        device::DEVICE_IMEI,
    ];
    env.run(&mut a, &dev).ok();
    let shown = env
        .run(&mut a, &[&dev[..], &["--show-secrets"]].concat())
        .ok();
    if let Some(v) = shown["password"].as_str() {
        a.watch("device MQTT password", v);
    }

    // Refusals: a wrong secret and a wrong password (exit 1), the message names no marker.
    let wrong = Env::new("wrong")
        .var("KAIFANG_TF56_CLIENT_SECRET", &a.marker("tf56-wrong-secret"))
        .var("KAIFANG_TF56_PASSWORD", &a.marker("tf56-wrong-password"))
        .var(
            "KAIFANG_TIANYI_APP_SECRET",
            &a.marker("tianyi-wrong-secret"),
        )
        .var(
            "KAIFANG_ZHIYUN_CLIENT_SECRET",
            &a.marker("zhiyun-wrong-secret"),
        )
        .var("KAIFANG_ZHIYUN_ACCESS_TOKEN", &t.zhiyun_token);
    for args in [&tf[..], &pw[..], &ty[..], &zy[..]] {
        let run = wrong.run(&mut a, &[args, &["--no-cache"]].concat());
        assert_eq!(run.code, 1, "{args:?}: {}\n{}", run.stdout, run.stderr);
    }

    // The audit.
    assert!(a.markers.len() > 20, "{} markers", a.markers.len());
    let mut findings = Vec::new();
    for (cmd, out) in &a.outputs {
        for label in a.leaks(out) {
            findings.push(format!("{label} in the output of `{cmd}`:\n{out}"));
        }
    }
    assert!(
        findings.is_empty(),
        "{} leak(s):\n{}",
        findings.len(),
        findings.join("\n")
    );
}
