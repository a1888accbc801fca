//! tf56 interop with OAuth software kaifang did not write, both directions:
//!
//! * kaifang's tf56 client (both transports) against npm's `oauth2-mock-server`
//!   (`KAIFANG_NODE_MODULES`, run by `node`): client_credentials, password, refresh_token and
//!   authorization_code (through its `/authorize` redirect), with the standard form-body and
//!   HTTP Basic client authentication and the `token_url` / `authorize_url` overrides; its
//!   answers (RS256 JWT access tokens, `token_type` `Bearer`, `expires_in`) parse.
//! * standard Python clients (`requests-oauthlib` + `oauthlib`, and `authlib`; `KAIFANG_PYTHON`)
//!   obtaining tokens from the sandbox's tf56 module with client_credentials
//!   (`BackendApplicationClient`), password (`LegacyApplicationClient`) and refresh_token. They
//!   send a form body, so the sandbox answers them with the RFC 6749 spellings (see the module
//!   docs of `kaifang_sandbox::platforms::tf56`).
//!
//! Missing node / the npm package / the Python packages: a loud skip, or a failure with
//! `KAIFANG_REQUIRE_EXTERNAL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kaifang_e2e::{missing, python_with, require, runtime};
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_core::token::Token;
use kaifang_proto_core::transport::TransportConfig;
use kaifang_proto_tf56::server::{
    DEMO_PASSWORD, DEMO_USERNAME, PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET,
};
use kaifang_proto_tf56::{
    AuthorizeRequest, ClientAuth, Grant, Tf56, Tf56Config, TokenRequest, parse_callback,
};
use kaifang_sandbox::Sandbox;
use kaifang_sandbox::platforms::tf56::Tf56Module;
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::BlockingClient;
use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("kaifang-tf56-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// kaifang's client against npm's oauth2-mock-server

const MOCK_SCRIPT: &str = r#"
// Starts npm's oauth2-mock-server on a free loopback port and prints its issuer URL.
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.KAIFANG_NODE_MODULES;
const require = createRequire(path.join(path.resolve(modules), 'kaifang-resolve.cjs'));
const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
// It names itself `localhost`; say the address it listens on (no IPv6 guess by the client).
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(server.issuer.url);
// Stop when the test closes our stdin (or kills us).
process.stdin.on('end', async () => { await server.stop(); process.exit(0); });
process.stdin.resume();
"#;

/// node and the npm package, or a skip / failure.
fn mock_server_prereqs() -> Result<Option<(PathBuf, PathBuf)>, String> {
    let Some(node) = require("node")? else {
        return Ok(None);
    };
    let Some(modules) = std::env::var_os("KAIFANG_NODE_MODULES").map(PathBuf::from) else {
        return missing("KAIFANG_NODE_MODULES (a node_modules holding oauth2-mock-server)");
    };
    if !modules.join("oauth2-mock-server/package.json").is_file() {
        return missing(&format!(
            "oauth2-mock-server in KAIFANG_NODE_MODULES={}",
            modules.display()
        ));
    }
    Ok(Some((node, modules)))
}

fn start_mock_server(node: &Path, modules: &Path, dir: &TempDir) -> (Running, String) {
    let script = dir.write("mock-server.mjs", MOCK_SCRIPT);
    let mut child = Command::new(node)
        .arg(&script)
        .env("KAIFANG_NODE_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let issuer = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("oauth2-mock-server prints its issuer URL within 30 s")
        .trim()
        .to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:"), "issuer {issuer:?}");
    (running, issuer)
}

/// Standard base64url (no padding) decoding, for the JWT segments.
fn b64url(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s.as_bytes() {
        acc = (acc << 6) | val(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

/// The JWT's header and claims.
fn jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three segments");
    assert!(!parts[2].is_empty(), "signed");
    (
        serde_json::from_slice(&b64url(parts[0])).unwrap(),
        serde_json::from_slice(&b64url(parts[1])).unwrap(),
    )
}

fn assert_mock_token(t: &Token, issuer: &str, with_refresh: bool) -> Value {
    assert_eq!(t.token_type.as_deref(), Some("Bearer"));
    assert_eq!(t.ttl(), Duration::from_secs(3600));
    assert_eq!(t.refresh.is_some(), with_refresh);
    let (header, claims) = jwt(t.access.expose_secret());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(claims["iss"], issuer);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    claims
}

/// The callback of the mock server's `/authorize` (a 302 it sends without any login).
fn mock_authorize(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {}?{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        u.path(),
        u.query().unwrap_or_default()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 302"), "{text}");
    text.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
        })
        .map(|(_, v)| v.trim().to_owned())
        .unwrap()
}

#[test]
fn our_client_against_npm_oauth2_mock_server() -> Result<(), String> {
    let Some((node, modules)) = mock_server_prereqs()? else {
        return Ok(());
    };
    let dir = TempDir::new("mock");
    let (_server, issuer) = start_mock_server(&node, &modules, &dir);
    let blocking = BlockingClient::new(TransportConfig::default()).unwrap();
    let asynch = Arc::new(AsyncClient::new(TransportConfig::default()).unwrap());

    for auth in [ClientAuth::FormBody, ClientAuth::BasicAuth] {
        let app = Tf56::new(
            Tf56Config::new("kaifang-e2e", "not-a-real-secret")
                .base_url(&issuer)
                .token_url(format!("{issuer}/token"))
                .authorize_url(format!("{issuer}/authorize"))
                .redirect_uri("http://127.0.0.1:9/callback")
                .client_auth(auth),
        )
        .unwrap();
        let run = |grant: Grant| -> (Token, Token) {
            let req = TokenRequest::new(&app, grant).unwrap();
            let b = blocking.execute(&req).unwrap();
            let a = runtime().block_on(asynch.execute(&req)).unwrap();
            (b, a)
        };

        // client_credentials: a JWT with no refresh token.
        for t in <[Token; 2]>::from(run(Grant::ClientCredentials)) {
            assert_mock_token(&t, &issuer, false);
        }

        // password: the user becomes `sub`; a refresh token comes with it.
        let (b, a) = run(Grant::Password {
            username: "alice".into(),
            password: SecretString::new("wonderland"),
        });
        for t in [&b, &a] {
            let claims = assert_mock_token(t, &issuer, true);
            assert_eq!(claims["sub"], "alice");
            assert_eq!(claims["amr"][0], "pwd");
        }

        // refresh_token.
        let (r, _) = run(Grant::RefreshToken(b.refresh.clone().unwrap()));
        assert_mock_token(&r, &issuer, true);

        // authorization_code through its /authorize redirect; our state comes back unchanged.
        let page = AuthorizeRequest::with_state(&app, "kaifang-state/1").unwrap();
        assert!(
            page.url()
                .starts_with(&format!("{issuer}/authorize?response_type=code"))
        );
        let callback = mock_authorize(page.url());
        assert!(
            callback.starts_with("http://127.0.0.1:9/callback?code="),
            "{callback}"
        );
        let code = parse_callback(&callback, page.state()).unwrap();
        let t = blocking
            .execute(&TokenRequest::new(&app, Grant::AuthorizationCode(code)).unwrap())
            .unwrap();
        let claims = assert_mock_token(&t, &issuer, true);
        assert_eq!(claims["sub"], "johndoe");
        // A forged state is still refused by our side.
        assert!(parse_callback(&callback, "other").is_err());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// standard Python clients against the sandbox

const PY_CLIENTS: &str = r#"
"""Standard OAuth 2.0 clients against the kaifang sandbox's tf56 token endpoint."""
import json
import os
import sys

os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the sandbox is plain http on loopback

import requests
from oauthlib.oauth2 import (BackendApplicationClient, InvalidClientError,
                             InvalidGrantError, LegacyApplicationClient)
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

base = sys.argv[1]
token_url = base + "/openGateway/oauth/token"
hello_url = base + "/openGateway/oauthentry/tf56.open.demo/1/sayHello"
cid = os.environ["TF56_CLIENT_ID"]
secret = os.environ["TF56_CLIENT_SECRET"]
user, password = os.environ["TF56_USER"], os.environ["TF56_PASSWORD"]
out = {}


def hello(token):
    # token_type "uuid" is not Bearer: send the token as the gateway documents it.
    return requests.post(hello_url, data={"access_token": token["access_token"]}, timeout=10).json()


# requests-oauthlib: client_credentials (HTTP Basic, its default).
s = OAuth2Session(client=BackendApplicationClient(client_id=cid))
t = s.fetch_token(token_url=token_url, client_id=cid, client_secret=secret, timeout=10)
out["rol_client_credentials"] = dict(t)
out["rol_client_credentials_hello"] = hello(t)

# requests-oauthlib: password, client credentials in the form body this time.
s = OAuth2Session(client=LegacyApplicationClient(client_id=cid))
t = s.fetch_token(token_url=token_url, username=user, password=password, client_id=cid,
                  client_secret=secret, include_client_id=True, timeout=10)
out["rol_password"] = dict(t)

# requests-oauthlib: refresh_token, then the used refresh token again.
t2 = s.refresh_token(token_url, refresh_token=t["refresh_token"], auth=HTTPBasicAuth(cid, secret), timeout=10)
out["rol_refresh"] = dict(t2)
out["rol_refresh_hello"] = hello(t2)
try:
    s.refresh_token(token_url, refresh_token=t["refresh_token"], auth=HTTPBasicAuth(cid, secret), timeout=10)
    out["rol_refresh_replay"] = "accepted"
except InvalidGrantError as e:
    out["rol_refresh_replay"] = "InvalidGrantError: " + e.description

# requests-oauthlib: a wrong client secret.
try:
    OAuth2Session(client=BackendApplicationClient(client_id=cid)).fetch_token(
        token_url=token_url, client_id=cid, client_secret="wrong-" + secret, timeout=10)
    out["rol_wrong_secret"] = "accepted"
except InvalidClientError as e:
    out["rol_wrong_secret"] = "InvalidClientError: " + e.description

# authlib, when installed: the three grants with client_secret_post and client_secret_basic.
try:
    from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
except ImportError:
    AuthlibSession = None
if AuthlibSession is not None:
    for method in ("client_secret_post", "client_secret_basic"):
        a = AuthlibSession(cid, secret, token_endpoint_auth_method=method)
        cc = a.fetch_token(token_url, grant_type="client_credentials")
        pw = a.fetch_token(token_url, grant_type="password", username=user, password=password)
        rt = a.refresh_token(token_url, refresh_token=pw["refresh_token"])
        out["authlib_" + method] = {"client_credentials": dict(cc), "password": dict(pw), "refresh": dict(rt)}

print(json.dumps(out))
"#;

fn assert_std_token(t: &Value, ttl: u64, refresh: bool) {
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    assert_eq!(access.len(), 32, "{t}");
    assert!(access.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(t["token_type"], "uuid");
    assert_eq!(t["expires_in"], ttl);
    assert!(
        t["expires_at"].is_number(),
        "the client computed expires_at: {t}"
    );
    assert_eq!(t["refresh_token"].is_string(), refresh, "{t}");
}

#[test]
fn python_oauth_clients_against_the_sandbox() -> Result<(), String> {
    let Some(python) = python_with(&["requests_oauthlib", "oauthlib", "requests"])? else {
        return Ok(());
    };
    let has_authlib = Command::new(&python)
        .args(["-c", "import authlib"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_authlib {
        // requests-oauthlib alone still runs; authlib is reported like any missing package.
        missing::<()>("the Python package authlib")?;
    }
    let sb = Sandbox::builder()
        .module(Tf56Module)
        .seed(7)
        .start_blocking()
        .unwrap();
    let dir = TempDir::new("py");
    let script = dir.write("tf56_clients.py", PY_CLIENTS);
    let output = Command::new(&python)
        .arg(&script)
        .arg(sb.base_url())
        .env("TF56_CLIENT_ID", PUBLIC_CLIENT_ID)
        .env("TF56_CLIENT_SECRET", PUBLIC_CLIENT_SECRET)
        .env("TF56_USER", DEMO_USERNAME)
        .env("TF56_PASSWORD", DEMO_PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();

    let cc = &out["rol_client_credentials"];
    assert_std_token(cc, 1800, false);
    assert_eq!(
        cc["scope"],
        serde_json::json!(["商铺", "good-list", "op-truck", "open-demo"])
    );
    assert_eq!(out["rol_client_credentials_hello"]["result"], "success");
    assert_std_token(&out["rol_password"], 25_200, true);
    assert_std_token(&out["rol_refresh"], 25_200, true);
    assert_ne!(
        out["rol_refresh"]["refresh_token"],
        out["rol_password"]["refresh_token"]
    );
    assert_eq!(out["rol_refresh_hello"]["data"]["message"], "Hello, 7!");
    assert_eq!(
        out["rol_refresh_replay"],
        "InvalidGrantError: Invalid refresh token"
    );
    assert_eq!(
        out["rol_wrong_secret"],
        "InvalidClientError: Bad client credentials"
    );

    if has_authlib {
        for method in ["client_secret_post", "client_secret_basic"] {
            let a = &out[format!("authlib_{method}")];
            assert_std_token(&a["client_credentials"], 1800, false);
            assert_std_token(&a["password"], 25_200, true);
            assert_std_token(&a["refresh"], 25_200, true);
        }
    }

    // Every token request of the standard clients used a form body.
    let journal = sb.journal();
    let token_calls: Vec<_> = journal
        .iter()
        .filter(|e| e.path == "/openGateway/oauth/token")
        .collect();
    assert!(token_calls.len() >= 5);
    assert!(token_calls.iter().all(|e| e.body.is_some()));
    // The journal never holds the secret or the password.
    let shown = format!("{journal:?}");
    assert!(!shown.contains(PUBLIC_CLIENT_SECRET) && !shown.contains(DEMO_PASSWORD));
    Ok(())
}
