//! The `kaifang` binary end to end: demo, sandbox, token and call against an in-process
//! sandbox, every documented exit code, and no secret in any output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use kaifang::sandbox::platforms::{ilab, tianyi};
use kaifang::sandbox::{BlockingSandbox, Sandbox};
use kaifang::tf56::server::{DEMO_PASSWORD, DEMO_USERNAME, PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET};
use kaifang::zhiyun::server::tenant as zhiyun;
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    fn assert_no(&self, secrets: &[&str]) -> &Self {
        for s in secrets {
            assert!(
                !self.stdout.contains(s) && !self.stderr.contains(s),
                "{s} leaked:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }
}

/// A test's own cache directory and environment (nothing from the developer's shell).
struct Env {
    cache: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(name: &str) -> Self {
        let cache =
            std::env::temp_dir().join(format!("kaifang-cli-test-{name}-{}", std::process::id()));
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

    fn run(&self, args: &[&str]) -> Run {
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
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

fn sandbox() -> BlockingSandbox {
    Sandbox::builder().all_platforms().start_blocking().unwrap()
}

#[test]
fn demo_passes_every_row_through_both_transports() {
    let run = Env::new("demo").run(&["demo"]);
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("platform"), "{}", run.stdout);
    assert!(!run.stdout.contains("FAILED"));
    for platform in ["tianyi", "zhiyun", "device", "tf56", "ilab"] {
        for transport in ["blocking", "async"] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(platform) && l.contains(transport)),
                "{platform} {transport}"
            );
        }
    }
    assert!(run.stderr.contains("rows passed"), "{}", run.stderr);
    // The demo's own secrets never show.
    run.assert_no(&[
        PUBLIC_CLIENT_SECRET,
        tianyi::PLATFORM_APP_SECRET,
        zhiyun::CLIENT_SECRET,
    ]);
}

#[test]
fn demo_json_and_only() {
    let run = Env::new("demo-json").run(&["demo", "--json", "--only", "ilab", "--only", "device"]);
    run.assert_code(0);
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 8);
    assert!(
        rows.iter()
            .all(|r| r["ok"] == true && r["latency_ms"].as_f64().is_some())
    );
    assert!(
        rows.iter()
            .all(|r| r["platform"] == "ilab" || r["platform"] == "device")
    );
    assert!(rows.iter().any(|r| r["flow"] == "score upload"));
    assert!(rows.iter().any(|r| r["flow"] == "dynamic registration"));
    Env::new("demo-bad")
        .run(&["demo", "--only", "nosuch"])
        .assert_code(2);
}

#[test]
fn sandbox_command_serves_and_bad_input_is_exit_2() {
    let mut child = Command::cargo_bin("kaifang")
        .unwrap()
        .args(["sandbox", "--addr", "127.0.0.1:0", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        line.starts_with("kaifang sandbox listening on http://127.0.0.1:"),
        "{line}"
    );
    let run = Env::new("sandbox-cmd")
        .var("KAIFANG_TF56_CLIENT_SECRET", PUBLIC_CLIENT_SECRET)
        .run(&[
            "token",
            "tf56",
            "--base-url",
            &base,
            "--client-id",
            PUBLIC_CLIENT_ID,
        ]);
    let _ = child.kill();
    let _ = child.wait();
    run.assert_code(0);
    assert_eq!(run.json()["platform"], "tf56");

    let env = Env::new("sandbox-bad");
    let run = env.run(&["sandbox", "--addr", "not an address"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--addr"), "{}", run.stderr);
    let run = env.run(&["sandbox", "--config", "/nonexistent/kaifang-sandbox.toml"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no such file"), "{}", run.stderr);
}

#[test]
fn token_for_every_platform_redacted_unless_asked() {
    let sb = sandbox();
    let base = sb.base_url();
    let env = Env::new("token")
        .var("KAIFANG_TF56_CLIENT_SECRET", PUBLIC_CLIENT_SECRET)
        .var("KAIFANG_TF56_PASSWORD", DEMO_PASSWORD)
        .var("KAIFANG_TIANYI_APP_SECRET", tianyi::PLATFORM_APP_SECRET)
        .var("KAIFANG_ZHIYUN_CLIENT_SECRET", zhiyun::CLIENT_SECRET)
        .var("KAIFANG_ZHIYUN_ACCESS_TOKEN", zhiyun::ACCESS_TOKENS[0])
        .var("KAIFANG_ILAB_SECRET", ilab::SEED_SECRET);
    let secrets = [
        PUBLIC_CLIENT_SECRET,
        DEMO_PASSWORD,
        tianyi::PLATFORM_APP_SECRET,
        zhiyun::CLIENT_SECRET,
        zhiyun::ACCESS_TOKENS[0],
    ];

    // tf56 client_credentials: redacted, then from the cache, then shown on request.
    let tf56 = [
        "token",
        "tf56",
        "--base-url",
        base,
        "--client-id",
        PUBLIC_CLIENT_ID,
    ];
    let first = env.run(&tf56);
    first.assert_code(0).assert_no(&secrets);
    let v = first.json();
    assert_eq!(v["access_token"], "[redacted]");
    assert_eq!(v["from_cache"], false);
    assert_eq!(v["token_type"], "uuid");
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(env.run(&tf56).json()["from_cache"], true);
    assert_eq!(
        sb.count("POST /openGateway/oauth/token")
            .max(sb.count("POST /oauth/token")),
        1,
        "{:?}",
        sb.counters()
    );
    let shown = env.run(&[&tf56[..], &["--show-secrets"]].concat()).json();
    assert_ne!(shown["access_token"], "[redacted]");
    assert_eq!(shown["access_token"].as_str().unwrap().len(), 32);

    // tf56 password grant: a refresh token, redacted.
    let pw = env.run(
        &[
            &tf56[..],
            &[
                "--grant",
                "password",
                "--username",
                DEMO_USERNAME,
                "--no-cache",
            ],
        ]
        .concat(),
    );
    pw.assert_code(0).assert_no(&secrets);
    assert_eq!(pw.json()["refresh_token"], "[redacted]");

    // tianyi vcp_189, zhiyun auth code, ilab ticket, device provisioning.
    let ty = env.run(&[
        "token",
        "tianyi",
        "--base-url",
        base,
        "--app-id",
        tianyi::PLATFORM_APP_ID,
        "--enterprise-user",
        tianyi::PLATFORM_ENTERPRISE_USER,
    ]);
    ty.assert_code(0).assert_no(&secrets);
    assert_eq!(ty.json()["kind"], "vcp189");
    let zy = env.run(&[
        "token",
        "zhiyun",
        "--base-url",
        base,
        "--client-id",
        zhiyun::CLIENT_ID,
    ]);
    zy.assert_code(0).assert_no(&secrets);
    assert_eq!(zy.json()["kind"], "auth_code");
    let minted = sb
        .mint(
            "ilab",
            "ticket",
            serde_json::json!({"appid": ilab::SEED_APPID}),
        )
        .unwrap();
    let ticket = minted["ticket_encoded"].as_str().unwrap();
    let il = Env::new("token-ilab")
        .var("KAIFANG_ILAB_SECRET", ilab::SEED_SECRET)
        .var("KAIFANG_ILAB_TICKET", ticket)
        .run(&[
            "token",
            "ilab",
            "--base-url",
            base,
            "--app-id",
            ilab::SEED_APPID,
        ]);
    il.assert_code(0).assert_no(&[ticket, ilab::SEED_SECRET]);
    assert!(il.json()["extra"]["un"].is_string(), "{}", il.stdout);
    let dev = env.run(&[
        "token",
        "device",
        "--base-url",
        base,
        "--imei",
        kaifang::sandbox::platforms::device::DYN_DEVICE_IMEI,
    ]);
    dev.assert_code(0);
    let d = dev.json();
    assert_eq!(d["dynamic_registration"], true);
    assert_eq!(d["password"], "[redacted]");
}

#[test]
fn token_errors_have_their_exit_codes() {
    let sb = sandbox();
    let base = sb.base_url();
    let env = Env::new("token-errors").var("KAIFANG_TF56_CLIENT_SECRET", "wrong-secret");
    // 2: unknown platform, missing id (the message names every place to set it), unknown grant.
    env.run(&["token", "nosuch"]).assert_code(2);
    let run = env.run(&["token", "tf56", "--base-url", base]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("--client-id") && run.stderr.contains("KAIFANG_TF56_CLIENT_ID"),
        "{}",
        run.stderr
    );
    let run =
        Env::new("token-nosecret").run(&["token", "tf56", "--base-url", base, "--client-id", "7"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("KAIFANG_TF56_CLIENT_SECRET") && run.stderr.contains("never flags"),
        "{}",
        run.stderr
    );
    env.run(&[
        "token",
        "tf56",
        "--base-url",
        base,
        "--client-id",
        "7",
        "--grant",
        "implicit",
    ])
    .assert_code(2);
    // 1: the platform refuses a wrong secret.
    let run = env.run(&[
        "token",
        "tf56",
        "--base-url",
        base,
        "--client-id",
        "7",
        "--no-cache",
    ]);
    run.assert_code(1).assert_no(&["wrong-secret"]);
    // 3: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    env.run(&[
        "token",
        "tf56",
        "--base-url",
        &url,
        "--client-id",
        "7",
        "--no-cache",
    ])
    .assert_code(3);
}

#[test]
fn call_every_platform_with_a_cached_token_and_retry_after_revoke() {
    let sb = sandbox();
    let base = sb.base_url();
    let env = Env::new("call")
        .var("KAIFANG_TF56_CLIENT_SECRET", PUBLIC_CLIENT_SECRET)
        .var("KAIFANG_TIANYI_APP_SECRET", tianyi::PLATFORM_APP_SECRET)
        .var("KAIFANG_ZHIYUN_CLIENT_SECRET", zhiyun::CLIENT_SECRET)
        .var("KAIFANG_ZHIYUN_ACCESS_TOKEN", zhiyun::ACCESS_TOKENS[0]);
    let hello = [
        "call",
        "tf56",
        "oauthentry/tf56.open.demo/1/sayHello",
        "--base-url",
        base,
        "--client-id",
        PUBLIC_CLIENT_ID,
    ];
    let v = env.run(&hello);
    v.assert_code(0);
    let v = v.json();
    assert_eq!(v["response"]["message"], "Hello, 7!");
    assert_eq!(v["token_from_cache"], false);
    assert_eq!(env.run(&hello).json()["token_from_cache"], true);

    // The platform revokes the cached token: the call gets a new one and succeeds.
    let token = env
        .run(&[
            "token",
            "tf56",
            "--base-url",
            base,
            "--client-id",
            PUBLIC_CLIENT_ID,
            "--show-secrets",
        ])
        .json();
    sb.revoke(Some("tf56"), token["access_token"].as_str().unwrap())
        .unwrap();
    let again = env.run(&hello);
    again.assert_code(0);
    assert_eq!(again.json()["response"]["message"], "Hello, 7!");
    assert_eq!(again.json()["token_from_cache"], false);

    let ty = env.run(&[
        "call",
        "tianyi",
        "device/getDeviceList",
        "--param",
        "regionId=",
        "--param",
        "pageNo=1",
        "--param",
        "pageSize=2",
        "--base-url",
        base,
        "--app-id",
        tianyi::PLATFORM_APP_ID,
        "--enterprise-user",
        tianyi::PLATFORM_ENTERPRISE_USER,
    ]);
    ty.assert_code(0);
    assert_eq!(ty.json()["response"]["list"].as_array().unwrap().len(), 2);
    for (target, field) in [("user", "username"), ("company", "company_name")] {
        let zy = env.run(&[
            "call",
            "zhiyun",
            target,
            "--base-url",
            base,
            "--client-id",
            zhiyun::CLIENT_ID,
        ]);
        zy.assert_code(0);
        assert!(zy.json()["response"][field].is_string(), "{}", zy.stdout);
    }
}

#[test]
fn call_ilab_upload_from_a_file() {
    let sb = sandbox();
    let base = sb.base_url();
    let minted = sb
        .mint(
            "ilab",
            "ticket",
            serde_json::json!({"appid": ilab::SEED_APPID}),
        )
        .unwrap();
    let env = Env::new("call-ilab")
        .var("KAIFANG_ILAB_SECRET", ilab::SEED_SECRET)
        .var(
            "KAIFANG_ILAB_TICKET",
            minted["ticket_encoded"].as_str().unwrap(),
        );
    let un = env
        .run(&[
            "token",
            "ilab",
            "--base-url",
            base,
            "--app-id",
            ilab::SEED_APPID,
        ])
        .json()["extra"]["un"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = kaifang::ilab::upload::DataUpload::builder(&un, "电路虚拟仿真实验", "cli-test-1")
        .status(kaifang::ilab::upload::Status::Completed)
        .score(90)
        .times(1_700_000_000_000, 1_700_000_600_000)
        .step(
            kaifang::ilab::upload::StepRecord::builder("实验操作")
                .times(1_700_000_000_000, 1_700_000_600_000)
                .max_score(100)
                .score(90),
        )
        .build()
        .unwrap();
    let file = env.cache.with_extension("record.json");
    std::fs::write(&file, record.to_json(ilab::SEED_APPID)).unwrap();
    let run = env.run(&[
        "call",
        "ilab",
        "upload",
        "--file",
        file.to_str().unwrap(),
        "--base-url",
        base,
        "--app-id",
        ilab::SEED_APPID,
    ]);
    run.assert_code(0);
    assert!(run.json()["response"]["msg"].is_string());
    assert_eq!(run.json()["token_from_cache"], true);
    let stored = sb
        .mint(
            "ilab",
            "uploads",
            serde_json::json!({"origin_id": "cli-test-1"}),
        )
        .unwrap();
    assert_eq!(stored["count"], 1);
    // Bad input: no file, an unreadable file, a file that is not a record.
    env.run(&[
        "call",
        "ilab",
        "upload",
        "--base-url",
        base,
        "--app-id",
        ilab::SEED_APPID,
    ])
    .assert_code(2);
    env.run(&[
        "call",
        "ilab",
        "upload",
        "--file",
        "/nonexistent.json",
        "--base-url",
        base,
        "--app-id",
        ilab::SEED_APPID,
    ])
    .assert_code(2);
    std::fs::write(&file, b"{\"not\": \"a record\"}").unwrap();
    let run = env.run(&[
        "call",
        "ilab",
        "upload",
        "--file",
        file.to_str().unwrap(),
        "--base-url",
        base,
        "--app-id",
        ilab::SEED_APPID,
    ]);
    run.assert_code(2);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn call_bad_input_is_exit_2_before_any_request() {
    let sb = sandbox();
    let base = sb.base_url();
    let env = Env::new("call-bad").var("KAIFANG_TF56_CLIENT_SECRET", PUBLIC_CLIENT_SECRET);
    for args in [
        &[
            "call",
            "tf56",
            "not-a-method",
            "--base-url",
            base,
            "--client-id",
            "7",
        ][..],
        &[
            "call",
            "tf56",
            "tf56.open.demo/1/sayHello",
            "--param",
            "novalue",
            "--base-url",
            base,
            "--client-id",
            "7",
        ],
        &["call", "zhiyun", "friends", "--base-url", base],
        &[
            "call",
            "tianyi",
            "/open/oauth/getAccessToken",
            "--base-url",
            base,
        ],
        &["call", "device", "anything"],
        &["call", "nosuch", "x"],
        &["call", "tf56"],
    ] {
        let run = env.run(args);
        run.assert_code(2);
        assert!(
            !run.stderr.is_empty() && !run.stderr.contains("panicked"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(
        sb.counters().values().all(|&n| n == 0),
        "{:?}",
        sb.counters()
    );
}

#[test]
fn profiles_supply_settings_and_secrets() {
    let sb = sandbox();
    let env = Env::new("profile");
    let file = env.cache.with_extension("kaifang.toml");
    std::fs::write(
        &file,
        format!(
            "[profiles.staging.tf56]\nbase_url = \"{}\"\nclient_id = \"{PUBLIC_CLIENT_ID}\"\nclient_secret = \"{PUBLIC_CLIENT_SECRET}\"\n",
            sb.base_url()
        ),
    )
    .unwrap();
    let run = env.run(&[
        "token",
        "tf56",
        "--config",
        file.to_str().unwrap(),
        "--profile",
        "staging",
    ]);
    run.assert_code(0).assert_no(&[PUBLIC_CLIENT_SECRET]);
    let run = env.run(&[
        "token",
        "tf56",
        "--config",
        file.to_str().unwrap(),
        "--profile",
        "prod",
    ]);
    run.assert_code(2);
    assert!(run.stderr.contains("profiles.prod.tf56"), "{}", run.stderr);
    std::fs::write(&file, "[profiles.staging.tf56\n").unwrap();
    let run = env.run(&[
        "token",
        "tf56",
        "--config",
        file.to_str().unwrap(),
        "--profile",
        "staging",
    ]);
    run.assert_code(2);
    assert!(run.stderr.contains("kaifang.toml"), "{}", run.stderr);
    let _ = std::fs::remove_file(&file);
}
