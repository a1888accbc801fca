//! End-to-end: cellular device provisioning and Aliyun IoT device auth through both transports
//! against the sandbox's `device` module, then MQTT against a real broker (Debian's mosquitto,
//! started by each test on a free loopback port with its own password and ACL files).
//!
//! The broker holds exactly the credentials the *server side* expects (computed with
//! `kaifang-sign-core` from the secret the sandbox's registry holds), and the device side computes
//! its own from the provisioned configuration with `DeviceConfig::mqtt_connect`: a publish that
//! comes back on the device's topic proves both agree; a wrong password is refused with
//! CONNACK 4/5.
//!
//! mosquitto accepts Aliyun's clientId with its `|securemode=3,signmethod=…,timestamp=…|`
//! extension as is (MQTT 3.1.1 allows any UTF-8 clientId; mosquitto limits it only to 65535
//! bytes), so the tests use it unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kaifang_proto_core::context::{Context, FixedNonce, SystemClock};
use kaifang_proto_core::error::{Error, ErrorClass};
use kaifang_proto_device::exchange::{Authenticate, Provision, Register};
use kaifang_proto_device::server::iot_id;
use kaifang_proto_device::{
    AuthMode, DeviceConfig, DeviceError, MqttConnect, MqttOptions, ProvisionRequest, Qos,
    SecureMode, SignMethod,
};
use kaifang_sandbox::platforms::device::{self as dm, DeviceModule};
use kaifang_sandbox::{BlockingSandbox, FaultSpec, Sandbox, SandboxHandle};
use kaifang_sign_core::aliyun::MqttSign;
use kaifang_transport_async::AsyncClient;
use kaifang_transport_blocking::{BlockingClient, TransportConfig};
use rumqttc::{ConnectReturnCode, ConnectionError, Event, Packet, QoS, SubscribeReasonCode};
use serde_json::{Value, json};

/// The timestamp signed into the MQTT clientIds (any value works; Aliyun does not check it).
const TS: u64 = 1_700_000_000_000;
/// How long one MQTT session may take.
const MQTT_DEADLINE: Duration = Duration::from_secs(20);
/// How long a published message may take to come back before it counts as not delivered.
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// The broker.

/// `name` on `PATH`, else in the sbin/bin folders (Debian puts `mosquitto` in /usr/sbin, which
/// is not on every user's `PATH`).
fn find_program(name: &str) -> Option<PathBuf> {
    kaifang_e2e::which(name).or_else(|| {
        ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

struct Programs {
    mosquitto: PathBuf,
    passwd: PathBuf,
}

/// mosquitto and mosquitto_passwd, or a loud skip (a failure with KAIFANG_REQUIRE_EXTERNAL=1).
fn mosquitto() -> Option<Programs> {
    match (find_program("mosquitto"), find_program("mosquitto_passwd")) {
        (Some(mosquitto), Some(passwd)) => Some(Programs { mosquitto, passwd }),
        _ => kaifang_e2e::missing::<Programs>(
            "the programs `mosquitto` and `mosquitto_passwd` (Debian package `mosquitto`)",
        )
        .unwrap_or_else(|e| panic!("{e}")),
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One broker account: exactly this username and password, read/write on `topic_filter`.
struct Account {
    username: String,
    password: String,
    topic_filter: String,
}

impl Account {
    /// The account the server side expects for an Aliyun direct-connect device.
    fn direct(pk: &str, dn: &str, expected_password: String) -> Self {
        Account {
            username: format!("{dn}&{pk}"),
            password: expected_password,
            topic_filter: format!("/{pk}/{dn}/#"),
        }
    }
}

/// A mosquitto process with its own config, password file and ACL in a temporary folder;
/// killed (by its own handle) and cleaned up on drop.
struct Broker {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Broker {
    fn start(programs: &Programs, port: u16, accounts: &[Account]) -> Broker {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kaifang-mosquitto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let passwd = dir.join("passwd");
        let acl = dir.join("acl");
        let log = dir.join("mosquitto.log");
        let mut acl_text = String::new();
        for (i, a) in accounts.iter().enumerate() {
            let mut cmd = Command::new(&programs.passwd);
            if i == 0 {
                cmd.arg("-c");
            }
            let out = cmd
                .arg("-b")
                .arg(&passwd)
                .arg(&a.username)
                .arg(&a.password)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "mosquitto_passwd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            acl_text.push_str(&format!(
                "user {}\ntopic readwrite {}\n\n",
                a.username, a.topic_filter
            ));
        }
        std::fs::write(&acl, acl_text).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n\
                 allow_anonymous false\n\
                 password_file {}\n\
                 acl_file {}\n\
                 persistence false\n\
                 log_dest file {}\n\
                 log_type all\n\
                 # Ignored unless started as root; then it keeps root (the files are root's).\n\
                 user root\n",
                passwd.display(),
                acl.display(),
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(&programs.mosquitto)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut broker = Broker { child, dir, port };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "mosquitto exited ({status}) on port {}: {}",
                    self.port,
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {addr}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// MQTT sessions.

/// What the broker did with a CONNECT.
#[derive(Debug, PartialEq)]
enum Session {
    /// Connected, subscribed to the topic, published one message and received it back.
    RoundTrip,
    /// CONNACK with this refusal.
    Refused(ConnectReturnCode),
    /// Connected, but the broker refused the subscription (the ACL does not grant the topic;
    /// newer mosquitto versions say so in the SUBACK).
    SubscribeRefused,
    /// Connected and subscribed, the publish was acknowledged, but nothing came back (the ACL
    /// does not grant the topic; mosquitto 2.0.11 drops it silently).
    NotDelivered,
}

fn mqtt_options(creds: &MqttConnect) -> rumqttc::MqttOptions {
    let mut opts =
        rumqttc::MqttOptions::new(creds.client_id.clone(), creds.host.clone(), creds.port);
    opts.set_credentials(creds.username.clone(), creds.password.expose_secret());
    opts.set_keep_alive(Duration::from_secs(u64::from(creds.keep_alive)));
    opts.set_clean_session(creds.clean_session);
    opts
}

fn payload_for(creds: &MqttConnect) -> Vec<u8> {
    format!("{{\"hello\":\"from {}\"}}", creds.username).into_bytes()
}

fn subscribed(codes: &[SubscribeReasonCode]) -> bool {
    match codes {
        [SubscribeReasonCode::Success(_)] => true,
        [SubscribeReasonCode::Failure] => false,
        other => panic!("unexpected SUBACK {other:?}"),
    }
}

/// With rumqttc's async client on the shared runtime. After the broker acknowledged the
/// publish, a message that does not come back within [`QUIET`] was not delivered.
async fn mqtt_session_async(creds: &MqttConnect, topic: &str) -> Session {
    let (client, mut eventloop) = rumqttc::AsyncClient::new(mqtt_options(creds), 10);
    let payload = payload_for(creds);
    let session = async {
        let mut acked = false;
        loop {
            let wait = if acked { QUIET } else { MQTT_DEADLINE };
            let polled = match tokio::time::timeout(wait, eventloop.poll()).await {
                Ok(polled) => polled,
                Err(_) if acked => {
                    let _ = client.disconnect().await;
                    return Session::NotDelivered;
                }
                Err(_) => panic!("the MQTT session timed out"),
            };
            match polled {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if !subscribed(&ack.return_codes) {
                        let _ = client.disconnect().await;
                        return Session::SubscribeRefused;
                    }
                    client
                        .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => acked = true,
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    assert_eq!(p.topic, topic);
                    assert_eq!(p.payload.as_ref(), payload.as_slice());
                    let _ = client.disconnect().await;
                    return Session::RoundTrip;
                }
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Session::Refused(code),
                Err(e) => panic!("MQTT connection error: {e}"),
            }
        }
    };
    tokio::time::timeout(MQTT_DEADLINE * 2, session)
        .await
        .expect("the MQTT session timed out")
}

/// With rumqttc's blocking client (no outer runtime).
fn mqtt_session_blocking(creds: &MqttConnect, topic: &str) -> Session {
    let (client, mut connection) = rumqttc::Client::new(mqtt_options(creds), 10);
    let payload = payload_for(creds);
    let deadline = Instant::now() + MQTT_DEADLINE;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the MQTT session timed out");
        match connection.recv_timeout(left) {
            Err(_) => panic!("the MQTT session timed out"),
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                client.subscribe(topic, QoS::AtLeastOnce).unwrap();
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                if !subscribed(&ack.return_codes) {
                    let _ = client.disconnect();
                    return Session::SubscribeRefused;
                }
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                    .unwrap();
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                assert_eq!(p.topic, topic);
                assert_eq!(p.payload.as_ref(), payload.as_slice());
                let _ = client.disconnect();
                return Session::RoundTrip;
            }
            Ok(Ok(_)) => {}
            Ok(Err(ConnectionError::ConnectionRefused(code))) => return Session::Refused(code),
            Ok(Err(e)) => panic!("MQTT connection error: {e}"),
        }
    }
}

fn assert_refused(session: Session) {
    assert!(
        matches!(
            session,
            Session::Refused(
                ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
            )
        ),
        "wrong credentials were not refused: {session:?}"
    );
}

/// The same credentials with the password's last hex digit changed.
fn with_wrong_password(creds: &MqttConnect) -> MqttConnect {
    let mut wrong = creds.clone();
    let mut pw = creds.password.expose_secret().to_owned();
    let last = pw.pop().unwrap();
    pw.push(if last == '0' { '1' } else { '0' });
    wrong.password = kaifang_proto_device::MqttPassword::new(pw);
    wrong
}

// ---------------------------------------------------------------------------------------------
// Sandbox and expectations.

fn sandbox_blocking() -> BlockingSandbox {
    Sandbox::builder()
        .module(DeviceModule::default())
        .seed(7)
        .start_blocking()
        .unwrap()
}

async fn sandbox_async() -> SandboxHandle {
    Sandbox::builder()
        .module(DeviceModule::default())
        .seed(8)
        .start()
        .await
        .unwrap()
}

fn provision_url(sandbox: &SandboxHandle) -> String {
    sandbox.url(dm::PROVISION_PATH)
}

fn blocking_client() -> BlockingClient {
    BlockingClient::new(TransportConfig::default()).unwrap()
}

fn async_client() -> AsyncClient {
    AsyncClient::new(TransportConfig::default()).unwrap()
}

/// A device whose `connect.host` is the local broker.
fn mint_device(sandbox: &SandboxHandle, port: u16, dynamic: bool) -> Value {
    sandbox
        .mint(
            "device",
            "device",
            json!({
                "dynamic": dynamic,
                "connect": {"qos": 1, "host": format!("127.0.0.1:{port}"), "cleanSession": 1},
            }),
        )
        .unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no `{key}` in {v}"))
}

/// The device's secret as the sandbox's registry holds it (the server's truth).
fn registry_secret(sandbox: &SandboxHandle, pk: &str, dn: &str) -> Option<String> {
    let tenants = sandbox.tenants();
    let devices = tenants["device"]["registry"]["devices"].as_array().unwrap();
    let device = devices
        .iter()
        .find(|d| d["productKey"] == pk && d["deviceName"] == dn)
        .unwrap_or_else(|| panic!("no device {pk}/{dn} in the registry"));
    device["deviceSecret"].as_str().map(str::to_owned)
}

/// The password the server side expects (computed independently of `mqtt_connect`).
fn expected_password(pk: &str, dn: &str, secret: &str, client_id: &str) -> String {
    MqttSign {
        product_key: pk,
        device_name: dn,
        device_secret: secret,
        client_id,
        timestamp: Some(TS),
        sign_method: SignMethod::HmacSha256,
        secure_mode: SecureMode::Tcp,
    }
    .password()
    .as_str()
    .to_owned()
}

/// Direct connection over plain TCP (`securemode=3`), the IMEI as clientId.
fn mqtt_options_for(imei: &str) -> MqttOptions {
    MqttOptions::new()
        .client_id(imei)
        .timestamp(TS)
        .sign_method(SignMethod::HmacSha256)
        .secure_mode(SecureMode::Tcp)
}

fn topic_of(config: &DeviceConfig) -> String {
    format!("/{}/{}/user/update", config.product_key, config.device_name)
}

fn platform_code(err: &Error) -> (&'static str, &str, ErrorClass) {
    match err {
        Error::Platform(p) => (p.platform, p.code.as_str(), p.class),
        other => panic!("expected a platform error, got {other:?}"),
    }
}

/// No secret in any journaled request.
fn assert_journal_clean(sandbox: &SandboxHandle, secrets: &[&str]) {
    let journal = serde_json::to_string(&sandbox.journal()).unwrap();
    for s in secrets {
        assert!(
            !journal.contains(s),
            "a secret is in the journal: {journal}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Aliyun's documented vectors through the high-level API.

#[test]
fn aliyun_doc_vectors_through_device_config() {
    // Provisioned as the seed's server would answer it, then MQTT credentials.
    let answer = br#"{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device",
        "deviceSecret":"secret"},"connect":{"qos":1,"host":"","cleanSession":1}}}"#;
    let config = kaifang_proto_device::parse_response(answer)
        .unwrap()
        .into_config()
        .unwrap();
    for (method, password) in [
        (
            SignMethod::HmacSha1,
            "FAFD82A3D602B37FB0FA8B7892F24A477F851A14",
        ),
        (SignMethod::HmacMd5, "14b198324fe55e1d3c88f2e705e201ee"),
        (
            SignMethod::HmacSha256,
            "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57",
        ),
    ] {
        let mqtt = config
            .mqtt_connect(
                &MqttOptions::new()
                    .client_id("12345")
                    .timestamp(789)
                    .sign_method(method)
                    .secure_mode(SecureMode::Tcp),
            )
            .unwrap();
        assert_eq!(
            mqtt.client_id,
            format!(
                "12345|securemode=3,signmethod={},timestamp=789|",
                method.as_str()
            )
        );
        assert_eq!(mqtt.username, "device&pk");
        assert!(mqtt.password.expose_secret().eq_ignore_ascii_case(password));
        assert_eq!(
            (mqtt.host.as_str(), mqtt.port),
            ("pk.iot-as-mqtt.cn-shanghai.aliyuncs.com", 1883)
        );
        assert!(mqtt.clean_session);
        assert!(!format!("{mqtt:?}").contains(mqtt.password.expose_secret()));
    }
    // The same through the constructor.
    let direct = DeviceConfig::with_device_secret("pk", "device", "secret").unwrap();
    let mqtt = direct
        .mqtt_connect(
            &MqttOptions::new()
                .client_id("12345")
                .timestamp(789)
                .sign_method(SignMethod::HmacSha1)
                .secure_mode(SecureMode::Tcp),
        )
        .unwrap();
    assert_eq!(
        mqtt.password.expose_secret(),
        "fafd82a3d602b37fb0fa8b7892f24a477f851a14"
    );
    // Without a DeviceSecret: a typed error, not credentials.
    let dynamic =
        DeviceConfig::with_product_secret("a1csED27mp7", "AdvExample_dyn1", "VuULINCrtTAzCSzp")
            .unwrap();
    assert_eq!(
        dynamic.mqtt_connect(&MqttOptions::new()),
        Err(DeviceError::NeedsRegistration)
    );
}

/// Aliyun's dynamic-registration vector (random `2HyP9O70q5t9VuX`, sign `9bba…2556`) is accepted
/// by the sandbox's `/auth/register/device`, whose default registry holds that product.
#[test]
fn aliyun_dynreg_vector_is_accepted_by_the_sandbox() {
    let sandbox = sandbox_blocking();
    let ctx = Context::new(
        Arc::new(SystemClock),
        Arc::new(FixedNonce::new("2HyP9O70q5t9VuX")),
    );
    let client = BlockingClient::with_context(TransportConfig::default(), ctx).unwrap();
    let config = DeviceConfig::with_product_secret(
        dm::DYN_PRODUCT_KEY,
        dm::DYN_DEVICE_NAME,
        dm::DYN_PRODUCT_SECRET,
    )
    .unwrap();
    let registered = client
        .execute(&Register::new(sandbox.base_url(), config))
        .unwrap();
    let secret = registered.device_secret.as_ref().unwrap().expose_secret();
    assert_eq!(secret.len(), 32);
    assert_eq!(
        registry_secret(&sandbox, dm::DYN_PRODUCT_KEY, dm::DYN_DEVICE_NAME).as_deref(),
        Some(secret)
    );
    assert_journal_clean(
        &sandbox,
        &[dm::DYN_PRODUCT_SECRET, secret, "9bba3312eb8d62ab11baaf"],
    );
}

// ---------------------------------------------------------------------------------------------
// Provisioning the default devices, and the errors.

#[test]
fn provision_default_devices_blocking() {
    let sandbox = sandbox_blocking();
    let client = blocking_client();
    let url = provision_url(&sandbox);

    let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
    let config = client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();
    assert_eq!(config.product_key, dm::DEVICE_PRODUCT_KEY);
    assert_eq!(config.device_name, dm::DEVICE_NAME);
    assert_eq!(
        config.device_secret.as_ref().unwrap().expose_secret(),
        dm::DEVICE_SECRET
    );
    assert!(config.product_secret.is_none());
    assert_eq!(config.auth_mode(), AuthMode::DeviceSecret);
    assert_eq!(config.connect.qos, Qos::AtLeastOnce);
    assert!(config.connect.clean_session);
    let mqtt = config.mqtt_connect(&MqttOptions::new()).unwrap();
    assert_eq!(
        (mqtt.host.as_str(), mqtt.port),
        ("a1KfDevPk01.iot-as-mqtt.cn-shanghai.aliyuncs.com", 1883)
    );
    assert_eq!(
        mqtt.client_id,
        "a1KfDevPk01.kaifang_device_1|securemode=2,signmethod=hmacsha256|"
    );

    // By ICCID alongside the IMEI, and the 一型一密 device: productSecret, no deviceSecret.
    let request = ProvisionRequest::new()
        .imei(dm::DYN_DEVICE_IMEI)
        .unwrap()
        .field("sn", "A-1");
    let dynamic = client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();
    assert_eq!(dynamic.auth_mode(), AuthMode::ProductSecret);
    assert_eq!(
        dynamic.product_secret.as_ref().unwrap().expose_secret(),
        dm::DYN_PRODUCT_SECRET
    );

    // Unknown device → "10001", a typed platform error.
    let unknown = ProvisionRequest::new().imei("356938035643817").unwrap();
    let err = client
        .execute(&Provision::new(url.as_str(), unknown))
        .unwrap_err();
    assert_eq!(
        platform_code(&err),
        ("device", "10001", ErrorClass::BadRequest)
    );
    // No IMEI → "10002".
    let no_imei = ProvisionRequest::new().field("sn", "A-1");
    let err = client
        .execute(&Provision::new(url.as_str(), no_imei))
        .unwrap_err();
    assert_eq!(platform_code(&err).1, "10002");
    // A bad IMEI never leaves the device: the request builder refuses it.
    assert!(ProvisionRequest::new().imei("356938035643808").is_err());

    // A fault on the route: HTTP 503 with a non-JSON body → Error::HttpStatus.
    sandbox
        .add_fault(
            FaultSpec::new(dm::PROVISION_PATH)
                .status(503, "service unavailable")
                .count(1),
        )
        .unwrap();
    let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
    let err = client
        .execute(&Provision::new(url.as_str(), request.clone()))
        .unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status, .. } if status == 503),
        "{err:?}"
    );
    client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();
    assert_eq!(sandbox.count(&format!("POST {}", dm::PROVISION_PATH)), 6);
    assert_journal_clean(&sandbox, &[dm::DEVICE_SECRET, dm::DYN_PRODUCT_SECRET]);
}

#[test]
fn provision_default_devices_async() {
    kaifang_e2e::runtime().block_on(async {
        let sandbox = sandbox_async().await;
        let client = async_client();
        let url = provision_url(&sandbox);
        let request = ProvisionRequest::new()
            .imei(dm::DEVICE_IMEI)
            .unwrap()
            .iccid(dm::DEVICE_ICCID)
            .unwrap();
        let config = client
            .execute(&Provision::new(url.as_str(), request))
            .await
            .unwrap();
        assert_eq!(
            (config.product_key.as_str(), config.device_name.as_str()),
            (dm::DEVICE_PRODUCT_KEY, dm::DEVICE_NAME)
        );
        assert_eq!(
            config.device_secret.as_ref().unwrap().expose_secret(),
            dm::DEVICE_SECRET
        );

        let unknown = ProvisionRequest::new().imei("356938035643817").unwrap();
        let err = client
            .execute(&Provision::new(url.as_str(), unknown))
            .await
            .unwrap_err();
        assert_eq!(
            platform_code(&err),
            ("device", "10001", ErrorClass::BadRequest)
        );

        // A dropped connection is a transport error, not a panic or a wrong answer.
        sandbox
            .add_fault(
                FaultSpec::new(dm::PROVISION_PATH)
                    .drop_connection()
                    .count(1),
            )
            .unwrap();
        let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
        let err = client
            .execute(&Provision::new(url.as_str(), request))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        sandbox.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Provision → MQTT credentials → broker (一机一密).

#[test]
fn provision_then_mqtt_blocking() {
    let Some(programs) = mosquitto() else { return };
    let sandbox = sandbox_blocking();
    let port = free_port();
    let minted = mint_device(&sandbox, port, false);
    let (imei, pk, dn) = (
        text(&minted, "imei"),
        text(&minted, "productKey"),
        text(&minted, "deviceName"),
    );

    // The broker knows exactly what the server side expects for this device.
    let secret = registry_secret(&sandbox, pk, dn).unwrap();
    let broker = Broker::start(
        &programs,
        port,
        &[Account::direct(
            pk,
            dn,
            expected_password(pk, dn, &secret, imei),
        )],
    );

    // The device: provision by IMEI with the blocking transport, compute its credentials.
    let client = blocking_client();
    let request = ProvisionRequest::new().imei(imei).unwrap();
    let config = client
        .execute(&Provision::new(provision_url(&sandbox), request))
        .unwrap();
    let mqtt = config.mqtt_connect(&mqtt_options_for(imei)).unwrap();
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("127.0.0.1", port));
    assert_eq!(
        mqtt.client_id,
        format!("{imei}|securemode=3,signmethod=hmacsha256,timestamp={TS}|")
    );
    assert_eq!(mqtt.username, format!("{dn}&{pk}"));

    let topic = topic_of(&config);
    assert_eq!(
        mqtt_session_blocking(&mqtt, &topic),
        Session::RoundTrip,
        "{}",
        broker.log()
    );
    assert_refused(mqtt_session_blocking(&with_wrong_password(&mqtt), &topic));
    // Another signing method gives another password, refused too.
    let md5 = config
        .mqtt_connect(&mqtt_options_for(imei).sign_method(SignMethod::HmacMd5))
        .unwrap();
    assert_refused(mqtt_session_blocking(&md5, &topic));
    assert_journal_clean(&sandbox, &[&secret]);
}

#[test]
fn provision_then_mqtt_async() {
    let Some(programs) = mosquitto() else { return };
    kaifang_e2e::runtime().block_on(async {
        let sandbox = sandbox_async().await;
        let port = free_port();
        let minted = mint_device(&sandbox, port, false);
        let (imei, pk, dn) = (
            text(&minted, "imei"),
            text(&minted, "productKey"),
            text(&minted, "deviceName"),
        );
        let secret = registry_secret(&sandbox, pk, dn).unwrap();
        let broker = Broker::start(
            &programs,
            port,
            &[Account::direct(
                pk,
                dn,
                expected_password(pk, dn, &secret, imei),
            )],
        );

        let client = async_client();
        let request = ProvisionRequest::new().imei(imei).unwrap();
        let config = client
            .execute(&Provision::new(provision_url(&sandbox), request))
            .await
            .unwrap();
        let mqtt = config.mqtt_connect(&mqtt_options_for(imei)).unwrap();
        assert_eq!((mqtt.host.as_str(), mqtt.port), ("127.0.0.1", port));
        let topic = topic_of(&config);
        assert_eq!(
            mqtt_session_async(&mqtt, &topic).await,
            Session::RoundTrip,
            "{}",
            broker.log()
        );
        assert_refused(mqtt_session_async(&with_wrong_password(&mqtt), &topic).await);
        // The right credentials on another device's topic: the ACL grants nothing there.
        // (Published and subscribed, but the broker delivers nothing.)
        let foreign = format!("/{pk}/someone_else/user/update");
        let session = mqtt_session_async(&mqtt, &foreign).await;
        assert!(
            matches!(session, Session::SubscribeRefused | Session::NotDelivered),
            "{session:?}: {}",
            broker.log()
        );
        sandbox.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Provision (productSecret only) → dynamic registration → MQTT (一型一密).

#[test]
fn dynamic_registration_then_mqtt_blocking() {
    let Some(programs) = mosquitto() else { return };
    let sandbox = sandbox_blocking();
    let port = free_port();
    let minted = mint_device(&sandbox, port, true);
    let (imei, pk, dn) = (
        text(&minted, "imei"),
        text(&minted, "productKey"),
        text(&minted, "deviceName"),
    );
    assert!(minted["deviceSecret"].is_null());
    let client = blocking_client();

    // 1. Provisioning hands out the ProductSecret only.
    let request = ProvisionRequest::new().imei(imei).unwrap();
    let config = client
        .execute(&Provision::new(provision_url(&sandbox), request))
        .unwrap();
    assert_eq!(config.auth_mode(), AuthMode::ProductSecret);
    assert_eq!(
        config.product_secret.as_ref().unwrap().expose_secret(),
        dm::DYN_PRODUCT_SECRET
    );
    assert_eq!(
        config.mqtt_connect(&mqtt_options_for(imei)),
        Err(DeviceError::NeedsRegistration)
    );

    // 2. Dynamic registration at the sandbox; registering again before activation gives a new
    //    secret, and the last one wins.
    let first = client
        .execute(&Register::new(sandbox.base_url(), config.clone()))
        .unwrap();
    let second = client
        .execute(&Register::new(sandbox.base_url(), config.clone()))
        .unwrap();
    let first_secret = first.device_secret.as_ref().unwrap().expose_secret();
    let second_secret = second.device_secret.as_ref().unwrap().expose_secret();
    assert_ne!(first_secret, second_secret);
    let held = registry_secret(&sandbox, pk, dn).unwrap();
    assert_eq!(held, second_secret);

    // 3. The broker expects the credentials of the secret the server holds.
    let broker = Broker::start(
        &programs,
        port,
        &[Account::direct(
            pk,
            dn,
            expected_password(pk, dn, &held, imei),
        )],
    );
    let mqtt = second.mqtt_connect(&mqtt_options_for(imei)).unwrap();
    let topic = topic_of(&second);
    assert_eq!(
        mqtt_session_blocking(&mqtt, &topic),
        Session::RoundTrip,
        "{}",
        broker.log()
    );
    // The stale secret of the first registration is refused.
    let stale = first.mqtt_connect(&mqtt_options_for(imei)).unwrap();
    assert_refused(mqtt_session_blocking(&stale, &topic));

    // 4. Activation through /auth/devicename success; registering again → 6289, typed.
    let token = client
        .execute(&Authenticate::new(sandbox.base_url(), second.clone(), imei))
        .unwrap();
    assert_eq!(token.iot_id, iot_id(pk, dn));
    let err = client
        .execute(&Register::new(sandbox.base_url(), config))
        .unwrap_err();
    assert_eq!(
        platform_code(&err),
        ("aliyun-iot", "6289", ErrorClass::BadRequest)
    );
    assert_eq!(registry_secret(&sandbox, pk, dn).unwrap(), held);
    assert_journal_clean(
        &sandbox,
        &[dm::DYN_PRODUCT_SECRET, first_secret, second_secret],
    );
}

#[test]
fn dynamic_registration_then_mqtt_async() {
    let Some(programs) = mosquitto() else { return };
    kaifang_e2e::runtime().block_on(async {
        let sandbox = sandbox_async().await;
        let port = free_port();
        let minted = mint_device(&sandbox, port, true);
        let (imei, pk, dn) = (
            text(&minted, "imei"),
            text(&minted, "productKey"),
            text(&minted, "deviceName"),
        );
        let client = async_client();

        let request = ProvisionRequest::new().imei(imei).unwrap();
        let config = client
            .execute(&Provision::new(provision_url(&sandbox), request))
            .await
            .unwrap();
        assert_eq!(config.auth_mode(), AuthMode::ProductSecret);
        let first = client
            .execute(&Register::new(sandbox.base_url(), config.clone()))
            .await
            .unwrap();
        let second = client
            .execute(&Register::new(sandbox.base_url(), config.clone()))
            .await
            .unwrap();
        assert_ne!(first.device_secret, second.device_secret);
        let held = registry_secret(&sandbox, pk, dn).unwrap();
        assert_eq!(held, second.device_secret.as_ref().unwrap().expose_secret());

        let broker = Broker::start(
            &programs,
            port,
            &[Account::direct(
                pk,
                dn,
                expected_password(pk, dn, &held, imei),
            )],
        );
        let mqtt = second.mqtt_connect(&mqtt_options_for(imei)).unwrap();
        let topic = topic_of(&second);
        assert_eq!(
            mqtt_session_async(&mqtt, &topic).await,
            Session::RoundTrip,
            "{}",
            broker.log()
        );
        assert_refused(mqtt_session_async(&with_wrong_password(&mqtt), &topic).await);

        // Activation through the module's control (as if the device had come online).
        let activated = sandbox
            .mint(
                "device",
                "activation",
                json!({"productKey": pk, "deviceName": dn}),
            )
            .unwrap();
        assert_eq!(activated["activated"], true);
        let err = client
            .execute(&Register::new(sandbox.base_url(), config))
            .await
            .unwrap_err();
        assert_eq!(platform_code(&err).1, "6289");
        sandbox.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// /auth/devicename pre-auth (iotId / iotToken), then MQTT with the token.

fn token_account(
    token: &kaifang_proto_device::devicename::DeviceToken,
    pk: &str,
    dn: &str,
) -> Account {
    Account {
        username: token.iot_id.clone(),
        password: token.iot_token.expose_secret().to_owned(),
        topic_filter: format!("/{pk}/{dn}/#"),
    }
}

#[test]
fn devicename_preauth_blocking() {
    let sandbox = sandbox_blocking();
    let client = blocking_client();
    let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
    let config = client
        .execute(&Provision::new(provision_url(&sandbox), request))
        .unwrap();
    let token = client
        .execute(&Authenticate::new(
            sandbox.base_url(),
            config.clone(),
            dm::DEVICE_IMEI,
        ))
        .unwrap();
    assert_eq!(
        token.iot_id,
        iot_id(dm::DEVICE_PRODUCT_KEY, dm::DEVICE_NAME)
    );
    assert_eq!(token.iot_token.expose_secret().len(), 32);
    let endpoint = token.mqtt.clone().unwrap();
    assert_eq!(
        (endpoint.host.as_str(), endpoint.port),
        ("a1KfDevPk01.iot-as-mqtt.cn-shanghai.aliyuncs.com", 1883)
    );
    // Every signing method is accepted; each call gives a fresh token, the same iotId.
    for method in [SignMethod::HmacMd5, SignMethod::HmacSha1] {
        let again = client
            .execute(
                &Authenticate::new(sandbox.base_url(), config.clone(), "client-1")
                    .sign_method(method),
            )
            .unwrap();
        assert_eq!(again.iot_id, token.iot_id);
        assert_ne!(again.iot_token, token.iot_token);
    }
    // A wrong DeviceSecret → 401, typed as a permission error.
    let wrong =
        DeviceConfig::with_device_secret(dm::DEVICE_PRODUCT_KEY, dm::DEVICE_NAME, "nope").unwrap();
    let err = client
        .execute(&Authenticate::new(sandbox.base_url(), wrong, "client-1"))
        .unwrap_err();
    assert_eq!(
        platform_code(&err),
        ("aliyun-iot", "401", ErrorClass::Permission)
    );
    assert!(!err.to_string().contains("nope"));
    // An unknown device → 5001.
    let ghost =
        DeviceConfig::with_device_secret(dm::DEVICE_PRODUCT_KEY, "ghost_device", "x").unwrap();
    let err = client
        .execute(&Authenticate::new(sandbox.base_url(), ghost, "client-1"))
        .unwrap_err();
    assert_eq!(platform_code(&err).1, "5001");
    // The 一型一密 device before registration has no DeviceSecret: the exchange refuses to
    // build (typed), nothing is sent.
    let dynamic = DeviceConfig::with_product_secret(
        dm::DYN_PRODUCT_KEY,
        dm::DYN_DEVICE_NAME,
        dm::DYN_PRODUCT_SECRET,
    )
    .unwrap();
    let err = client
        .execute(&Authenticate::new(sandbox.base_url(), dynamic, "client-1"))
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let journal = serde_json::to_string(&sandbox.journal()).unwrap();
    assert!(!journal.contains(token.iot_token.expose_secret()));
    assert!(!journal.contains(dm::DEVICE_SECRET));

    // The token logs in to a broker that knows it (username iotId, password iotToken).
    let Some(programs) = mosquitto() else { return };
    let port = free_port();
    let broker = Broker::start(
        &programs,
        port,
        &[token_account(
            &token,
            dm::DEVICE_PRODUCT_KEY,
            dm::DEVICE_NAME,
        )],
    );
    let mut mqtt = token.mqtt_connect(dm::DEVICE_IMEI, 300, true).unwrap();
    assert_eq!(mqtt.username, token.iot_id);
    mqtt.host = "127.0.0.1".to_owned();
    mqtt.port = port;
    let topic = topic_of(&config);
    assert_eq!(
        mqtt_session_blocking(&mqtt, &topic),
        Session::RoundTrip,
        "{}",
        broker.log()
    );
    assert_refused(mqtt_session_blocking(&with_wrong_password(&mqtt), &topic));
}

#[test]
fn devicename_preauth_async() {
    kaifang_e2e::runtime().block_on(async {
        let sandbox = sandbox_async().await;
        let port = free_port();
        let minted = mint_device(&sandbox, port, false);
        let (imei, pk, dn) = (
            text(&minted, "imei"),
            text(&minted, "productKey"),
            text(&minted, "deviceName"),
        );
        let client = async_client();
        let request = ProvisionRequest::new().imei(imei).unwrap();
        let config = client
            .execute(&Provision::new(provision_url(&sandbox), request))
            .await
            .unwrap();
        let token = client
            .execute(&Authenticate::new(sandbox.base_url(), config.clone(), imei))
            .await
            .unwrap();
        assert_eq!(token.iot_id, iot_id(pk, dn));
        // The device's own connect.host comes back as the MQTT endpoint.
        let endpoint = token.mqtt.clone().unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("127.0.0.1", port));
        // Wrong secret → 401.
        let wrong = DeviceConfig::with_device_secret(pk, dn, "nope").unwrap();
        let err = client
            .execute(&Authenticate::new(sandbox.base_url(), wrong, imei))
            .await
            .unwrap_err();
        assert_eq!(platform_code(&err).1, "401");

        let Some(programs) = mosquitto() else { return };
        let broker = Broker::start(&programs, port, &[token_account(&token, pk, dn)]);
        let mqtt = token.mqtt_connect(imei, 300, true).unwrap();
        let topic = topic_of(&config);
        assert_eq!(
            mqtt_session_async(&mqtt, &topic).await,
            Session::RoundTrip,
            "{}",
            broker.log()
        );
        assert_refused(mqtt_session_async(&with_wrong_password(&mqtt), &topic).await);
        sandbox.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Sandbox controls.

#[test]
fn controls_mint_reset_tenants() {
    let sandbox = sandbox_blocking();
    let client = blocking_client();
    let url = provision_url(&sandbox);

    // Health lists the mint kinds.
    let tenants = sandbox.tenants();
    assert_eq!(tenants["device"]["paths"]["provision"], dm::PROVISION_PATH);
    assert_eq!(
        tenants["device"]["registry"]["devices"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Mint with chosen values; a bad IMEI, an IMEI of another device, unknown fields → 400.
    let minted = sandbox
        .mint(
            "device",
            "device",
            json!({"imei": "352099001761481", "productKey": "a1Other0001", "deviceName": "my-device",
                   "deviceSecret": "s3cr3t", "iccid": "8986111122223333444F"}),
        )
        .unwrap();
    assert_eq!(minted["deviceSecret"], "s3cr3t");
    assert_eq!(minted["iccid"], "8986111122223333444F");
    for bad in [
        json!({"imei": "352099001761482"}),
        json!({"imei": dm::DEVICE_IMEI}),
        json!({"deviceName": "a b"}),
        json!({"dynamic": true, "deviceSecret": "x"}),
        json!({"surprise": 1}),
        json!({"connect": {"qos": 2}}),
    ] {
        let err = sandbox.mint("device", "device", bad.clone()).unwrap_err();
        assert_eq!(err.status(), 400, "{bad}: {err}");
        assert!(!err.to_string().contains("s3cr3t"));
    }
    assert_eq!(
        sandbox
            .mint(
                "device",
                "activation",
                json!({"productKey": "x", "deviceName": "nope"})
            )
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        sandbox
            .mint("device", "token", json!({}))
            .unwrap_err()
            .status(),
        400
    );
    // A minted device provisions.
    let request = ProvisionRequest::new().imei("352099001761481").unwrap();
    let config = client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();
    assert_eq!(config.device_name, "my-device");

    // A new 一型一密 product, created with a fresh productSecret.
    let dynamic = sandbox
        .mint(
            "device",
            "device",
            json!({"dynamic": true, "productKey": "a1NewProd01"}),
        )
        .unwrap();
    let ps = text(&dynamic, "productSecret").to_owned();
    let request = ProvisionRequest::new()
        .imei(text(&dynamic, "imei"))
        .unwrap();
    let config = client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();
    assert_eq!(config.product_secret.as_ref().unwrap().expose_secret(), ps);
    client
        .execute(&Register::new(sandbox.base_url(), config))
        .unwrap();

    // The clock moves (nothing here expires).
    sandbox.freeze_clock_at(1_700_000_000_000);
    sandbox.advance_clock(Duration::from_secs(30 * 86_400));
    let request = ProvisionRequest::new().imei(dm::DEVICE_IMEI).unwrap();
    client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap();

    // Reset: the default registry again (minted devices and registered secrets are gone).
    let registered = DeviceConfig::with_product_secret(
        dm::DYN_PRODUCT_KEY,
        dm::DYN_DEVICE_NAME,
        dm::DYN_PRODUCT_SECRET,
    )
    .unwrap();
    client
        .execute(&Register::new(sandbox.base_url(), registered))
        .unwrap();
    assert!(registry_secret(&sandbox, dm::DYN_PRODUCT_KEY, dm::DYN_DEVICE_NAME).is_some());
    sandbox.reset();
    assert!(registry_secret(&sandbox, dm::DYN_PRODUCT_KEY, dm::DYN_DEVICE_NAME).is_none());
    let request = ProvisionRequest::new().imei("352099001761481").unwrap();
    let err = client
        .execute(&Provision::new(url.as_str(), request))
        .unwrap_err();
    assert_eq!(platform_code(&err).1, "10001");
    assert_eq!(
        sandbox.tenants()["device"]["registry"],
        serde_json::to_value(dm::default_registry()).unwrap()
    );
}
