//! `device`: cellular device provisioning (the customer's own server, QuecPython `PointAccess`
//! contract) and Aliyun IoT's `iot-auth` endpoints, thin glue over
//! [`kaifang_proto_device::server`].
//!
//! | route | what | answer |
//! |---|---|---|
//! | `POST /device/provision` ([`PROVISION_PATH`]) | the customer's provisioning server: JSON body `{"imei": "…"[, "iccid": "…", …]}` | `{"code":"00000","result":{"device":{productKey, deviceName, deviceSecret[, productSecret]},"connect":{qos, host, cleanSession}}}`, or `{"code":"1000x","message":…}` |
//! | `POST /auth/register/device` | Aliyun 一型一密 dynamic registration (form) | `{"code":200,"data":{deviceName, deviceSecret, productKey},"message":"success"}`, or `{"code":6289,…}` … |
//! | `POST /auth/devicename` | Aliyun HTTPS pre-auth (form) | `{"code":200,"data":{iotId, iotToken, resources:{mqtt:{host, port}}},"message":"success"}` … |
//!
//! The seed leaves the provisioning URL to the customer; the sandbox serves it at
//! `/device/provision`. Every check and code is the server half's (see
//! [`kaifang_proto_device::server`]): `"10001"` unknown device, `"10002"` bad request,
//! `"10003"` no secret to hand out, `"10004"` registry failure; Aliyun `460`, `401`, `5001`,
//! `6200`, `6289`. A successful `/auth/devicename` marks the device active (so a later dynamic
//! registration answers `6289`), unless `activate_on_auth = false`.
//!
//! # The default registry
//!
//! | device | productKey | deviceName | secret | IMEI / ICCID |
//! |---|---|---|---|---|
//! | 一机一密 | [`DEVICE_PRODUCT_KEY`] `a1KfDevPk01` | [`DEVICE_NAME`] `kaifang_device_1` | deviceSecret [`DEVICE_SECRET`] | [`DEVICE_IMEI`] `490154203237518` / [`DEVICE_ICCID`] `89860000000000000018` |
//! | 一型一密, pre-registered, no secret yet | [`DYN_PRODUCT_KEY`] `a1csED27mp7` | [`DYN_DEVICE_NAME`] `AdvExample_dyn1` | productSecret [`DYN_PRODUCT_SECRET`] `VuULINCrtTAzCSzp` (dynamic registration on) | [`DYN_DEVICE_IMEI`] `356938035643809` |
//!
//! The 一型一密 values are Aliyun's documented dynamic-registration vector, so the documented
//! request (random `2HyP9O70q5t9VuX`, sign `9bba3312…2556`) verifies here. Both devices have
//! `connect = {"qos":1,"host":"","cleanSession":1}` (an empty host means Aliyun's default
//! `{productKey}.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883`). The product `a1KfDevPk01` exists
//! without ProductSecret (registering under it answers `6200`).
//!
//! # Configuration (`[platforms.device]`)
//!
//! ```toml
//! [platforms.device]
//! region = "cn-shanghai"        # region of the default MQTT host in /auth/devicename answers
//! activate_on_auth = true       # a successful /auth/devicename activates the device
//! require_imei = true           # provisioning requests must carry an `imei`
//!
//! [[platforms.device.registry.devices]]
//! productKey = "pk"
//! deviceName = "device"
//! deviceSecret = "secret"
//! keys = { imei = "490154203237518" }
//! connect = { qos = 1, host = "127.0.0.1:1883", cleanSession = 1 }
//!
//! [[platforms.device.registry.products]]
//! productKey = "pk2"
//! productSecret = "product-secret"
//! dynamicRegistration = true
//! ```
//!
//! A `registry` section replaces the whole default registry.
//!
//! # Controls
//!
//! - Mint kind `device`: registers a new device for a test. Request (all optional, camelCase):
//!   `{"dynamic": bool, "productKey", "deviceName", "deviceSecret", "productSecret", "imei",
//!   "iccid", "keys": {…}, "connect": {"qos","host","cleanSession"}, "activated": bool}`.
//!   Without `dynamic` it is a 一机一密 device under `a1KfDevPk01` with a fresh 32-character
//!   secret; with `"dynamic": true` a pre-registered 一型一密 device (no secret) under
//!   `a1csED27mp7` (or under `productKey`, created with `productSecret` or a fresh one when
//!   missing). A random valid IMEI is drawn when none is given. Answer: `{"imei", "iccid",
//!   "productKey", "deviceName", "deviceSecret" | null, "productSecret" | null, "connect",
//!   "activated"}` (secrets included: this is a control endpoint for tests). Minting an existing
//!   productKey/deviceName replaces that device; an IMEI/ICCID/key already identifying another
//!   device is refused.
//! - Mint kind `activation`: `{"productKey", "deviceName"}` → marks the device active (as if it
//!   had come online) → `{"productKey", "deviceName", "activated": true}`.
//! - `reset` restores the configured (or default) registry: minted devices and registered
//!   secrets are forgotten.
//! - `GET /__sandbox/tenants` shows the settings and the *current* registry, secrets included.
//! - The clock: nothing here expires (Aliyun's iotToken lifetime is not enforced, since no
//!   sandbox route consumes an iotToken); the clock shows only in the journal. The iotTokens are
//!   not kept, so `revoke` does not apply to this platform.
//! - Faults, journal (bodies redacted: `deviceSecret`, `productSecret`, `sign`, `iotToken` …
//!   never appear) and counters apply as for every module.
//!
//! # The provisioning server for customers
//!
//! [`provisioning_router`] is the same `POST /device/provision` route as an axum [`Router`]
//! over any [`DeviceRegistry`] (the proto crate provides
//! [`MemoryRegistry`] and
//! [`JsonFileRegistry`](kaifang_proto_device::server::registry::JsonFileRegistry)). Customers
//! can mount it from this crate in their own (TLS-terminated) server, or copy the ten lines of
//! glue in [`provision_handler`]'s body: the logic is all in
//! [`kaifang_proto_device::server::provision`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use kaifang_proto_device::codes;
use kaifang_proto_device::devicename::DEVICENAME_PATH;
use kaifang_proto_device::dynreg::REGISTER_PATH;
use kaifang_proto_device::ids::luhn_check_digit;
use kaifang_proto_device::mqtt::DEFAULT_REGION;
use kaifang_proto_device::server::registry::{MemoryRegistry, RegistryData};
use kaifang_proto_device::server::{
    self as device_server, AliyunAnswer, AuthServerOptions, DeviceRecord, DeviceRegistry,
    ProductRecord, ProvisionPolicy, RegistryError,
};
use kaifang_proto_device::{Connect, DeviceSecret, Iccid, Imei, Qos};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ControlError;
use crate::module::{Module, ModuleContext};

/// The path the sandbox serves the customer's provisioning endpoint on (the seed leaves it to
/// the customer).
pub const PROVISION_PATH: &str = "/device/provision";

/// productKey of the default 一机一密 device.
pub const DEVICE_PRODUCT_KEY: &str = "a1KfDevPk01";
/// deviceName of the default 一机一密 device.
pub const DEVICE_NAME: &str = "kaifang_device_1";
/// DeviceSecret of the default 一机一密 device (a well-known test value).
pub const DEVICE_SECRET: &str = "KfDeviceSecret0123456789abcdefAB";
/// IMEI of the default 一机一密 device.
pub const DEVICE_IMEI: &str = "490154203237518";
/// ICCID of the default 一机一密 device.
pub const DEVICE_ICCID: &str = "89860000000000000018";

/// productKey of the default 一型一密 product (Aliyun's dynamic-registration vector).
pub const DYN_PRODUCT_KEY: &str = "a1csED27mp7";
/// ProductSecret of the default 一型一密 product (Aliyun's vector).
pub const DYN_PRODUCT_SECRET: &str = "VuULINCrtTAzCSzp";
/// The pre-registered device (no secret) of the default 一型一密 product (Aliyun's vector).
pub const DYN_DEVICE_NAME: &str = "AdvExample_dyn1";
/// IMEI of the pre-registered 一型一密 device.
pub const DYN_DEVICE_IMEI: &str = "356938035643809";

/// The mint kinds.
const MINT_DEVICE: &str = "device";
const MINT_ACTIVATION: &str = "activation";

/// The `device` module (see the [module docs](self)). Clones share the registry, so a clone
/// kept before [`Builder::module`](crate::Builder::module) can inspect it
/// ([`snapshot`](Self::snapshot)).
#[derive(Debug, Clone, Default)]
pub struct DeviceModule {
    registry: Arc<SandboxRegistry>,
}

impl DeviceModule {
    /// A copy of the current registry (empty before the module is mounted).
    #[must_use]
    pub fn snapshot(&self) -> RegistryData {
        self.registry.current().snapshot()
    }
}

/// `[platforms.device]` (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSandboxConfig {
    /// The devices and products (replaces the default registry when given).
    #[serde(default = "default_registry")]
    pub registry: RegistryData,
    /// Region of the default MQTT host in `/auth/devicename` answers (`cn-shanghai`).
    #[serde(default = "default_region")]
    pub region: String,
    /// A successful `/auth/devicename` marks the device active (default `true`).
    #[serde(default = "yes")]
    pub activate_on_auth: bool,
    /// Provisioning requests must carry an `imei` (default `true`).
    #[serde(default = "yes")]
    pub require_imei: bool,
}

impl Default for DeviceSandboxConfig {
    fn default() -> Self {
        Self {
            registry: default_registry(),
            region: default_region(),
            activate_on_auth: true,
            require_imei: true,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_region() -> String {
    DEFAULT_REGION.to_owned()
}

fn default_connect() -> Connect {
    Connect {
        qos: Qos::AtLeastOnce,
        host: None,
        clean_session: true,
    }
}

/// The default registry (see the [module docs](self)).
#[must_use]
pub fn default_registry() -> RegistryData {
    RegistryData {
        devices: vec![
            DeviceRecord::new(
                DEVICE_PRODUCT_KEY,
                DEVICE_NAME,
                Some(DeviceSecret::new(DEVICE_SECRET)),
            )
            .key("imei", DEVICE_IMEI)
            .key("iccid", DEVICE_ICCID)
            .connect(default_connect()),
            DeviceRecord::new(DYN_PRODUCT_KEY, DYN_DEVICE_NAME, None)
                .key("imei", DYN_DEVICE_IMEI)
                .connect(default_connect()),
        ],
        products: vec![
            ProductRecord {
                product_key: DEVICE_PRODUCT_KEY.to_owned(),
                product_secret: None,
                dynamic_registration: false,
            },
            ProductRecord::dynamic(DYN_PRODUCT_KEY, DYN_PRODUCT_SECRET),
        ],
    }
}

/// The sandbox's registry: an in-memory registry that a reset swaps for a fresh copy of the
/// configured one.
#[derive(Debug, Default)]
struct SandboxRegistry {
    current: RwLock<Arc<MemoryRegistry>>,
}

impl SandboxRegistry {
    fn current(&self) -> Arc<MemoryRegistry> {
        // Only whole-value assignments happen under the lock: a poisoned lock is still sound.
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn replace(&self, data: RegistryData) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(MemoryRegistry::from_data(data));
    }
}

impl DeviceRegistry for SandboxRegistry {
    fn find_by_field(&self, key: &str, value: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        self.current().find_by_field(key, value)
    }
    fn device(&self, pk: &str, dn: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        self.current().device(pk, dn)
    }
    fn product(&self, pk: &str) -> Result<Option<ProductRecord>, RegistryError> {
        self.current().product(pk)
    }
    fn set_device_secret(&self, pk: &str, dn: &str, s: DeviceSecret) -> Result<(), RegistryError> {
        self.current().set_device_secret(pk, dn, s)
    }
    fn record_activation(&self, pk: &str, dn: &str) -> Result<(), RegistryError> {
        self.current().record_activation(pk, dn)
    }
}

// ---------------------------------------------------------------------------------------------
// The customer's provisioning server.

/// The state of [`provisioning_router`].
#[derive(Clone)]
pub struct ProvisionState {
    registry: Arc<dyn DeviceRegistry>,
    policy: Arc<ProvisionPolicy>,
}

impl std::fmt::Debug for ProvisionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionState")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ProvisionState {
    /// The state for [`provision_handler`].
    #[must_use]
    pub fn new(registry: Arc<dyn DeviceRegistry>, policy: ProvisionPolicy) -> Self {
        Self {
            registry,
            policy: Arc::new(policy),
        }
    }
}

/// The provisioning endpoint as an axum [`Router`]: `POST /device/provision` ([`PROVISION_PATH`])
/// answering with [`kaifang_proto_device::server::provision`] over `registry`. Mount it in your
/// own server (behind HTTPS: the answer carries the device's secret), or `nest` it under a
/// prefix; to serve another path, route [`provision_handler`] with a [`ProvisionState`].
///
/// Registry calls run on tokio's blocking pool, so a file- or database-backed registry does not
/// stall the server.
///
/// ```
/// use std::sync::Arc;
/// use kaifang_proto_device::server::{ProvisionPolicy, registry::{DeviceRecord, MemoryRegistry}};
/// use kaifang_sandbox::platforms::device::provisioning_router;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // In production: JsonFileRegistry::open("devices.json")? or your own DeviceRegistry.
/// let registry = Arc::new(MemoryRegistry::new().with_device(
///     DeviceRecord::new("pk", "device", Some("secret".into())).key("imei", "490154203237518"),
/// ));
/// let app = provisioning_router(registry, ProvisionPolicy::default());
/// // axum::serve(listener, app).await? — here, one request in-process:
/// let request = http::Request::post("/device/provision")
///     .header("content-type", "application/json")
///     .body(axum::body::Body::from(r#"{"imei": "490154203237518"}"#))?;
/// let response = app.oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(()) }
/// ```
pub fn provisioning_router(registry: Arc<dyn DeviceRegistry>, policy: ProvisionPolicy) -> Router {
    Router::new()
        .route(PROVISION_PATH, post(provision_handler))
        .with_state(ProvisionState::new(registry, policy))
}

/// The axum handler behind [`provisioning_router`], for mounting on another path.
pub async fn provision_handler(
    State(state): State<ProvisionState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answered = tokio::task::spawn_blocking(move || {
        device_server::provision(&headers, &body, &*state.registry, &state.policy).to_response()
    })
    .await;
    match answered {
        Ok(response) => response.map(Body::from).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            json!({"code": codes::REGISTRY_FAILED, "message": "the registry failed"}).to_string(),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Aliyun iot-auth.

type Ctx = ModuleContext<DeviceSandboxConfig>;

#[derive(Clone)]
struct AuthState {
    ctx: Ctx,
    registry: Arc<SandboxRegistry>,
    opts: Arc<AuthServerOptions>,
}

fn aliyun_response(answer: &AliyunAnswer) -> Response {
    answer.to_response().map(Body::from).into_response()
}

async fn register(State(s): State<AuthState>, headers: HeaderMap, body: Bytes) -> Response {
    aliyun_response(&device_server::register_device(
        &headers,
        &body,
        &s.ctx.proto_context(),
        &*s.registry,
        &s.opts,
    ))
}

async fn devicename(State(s): State<AuthState>, headers: HeaderMap, body: Bytes) -> Response {
    aliyun_response(&device_server::auth_devicename(
        &headers,
        &body,
        &s.ctx.proto_context(),
        &*s.registry,
        &s.opts,
    ))
}

// ---------------------------------------------------------------------------------------------
// Mint.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MintDevice {
    #[serde(default)]
    dynamic: bool,
    product_key: Option<String>,
    device_name: Option<String>,
    device_secret: Option<String>,
    product_secret: Option<String>,
    imei: Option<String>,
    iccid: Option<String>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
    connect: Option<Value>,
    #[serde(default)]
    activated: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MintActivation {
    product_key: String,
    device_name: String,
}

fn bad(message: impl Into<String>) -> ControlError {
    ControlError::BadRequest(message.into())
}

fn registry_error(e: &RegistryError) -> ControlError {
    bad(e.to_string())
}

/// Aliyun's productKey: 1..=32 ASCII letters and digits.
fn check_product_key(pk: &str) -> Result<(), ControlError> {
    if pk.is_empty() || pk.len() > 32 || !pk.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("productKey must be 1..=32 ASCII letters and digits"));
    }
    Ok(())
}

/// Aliyun's deviceName: 4..=32 of letters, digits and `-_@.:`.
fn check_device_name(dn: &str) -> Result<(), ControlError> {
    if !(4..=32).contains(&dn.len())
        || !dn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_@.:".contains(&b))
    {
        return Err(bad(
            "deviceName must be 4..=32 ASCII letters, digits or `-_@.:`",
        ));
    }
    Ok(())
}

/// A secret given in a mint request: 1..=64 printable ASCII characters (the value is never
/// echoed in the error).
fn check_secret(field: &str, secret: &str) -> Result<(), ControlError> {
    if secret.is_empty() || secret.len() > 64 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(format!(
            "{field} must be 1..=64 printable ASCII characters"
        )));
    }
    Ok(())
}

/// A fresh IMEI: TAC-like `86` + 12 random digits + the Luhn digit.
fn random_imei(ctx: &Ctx) -> String {
    let mut imei = format!("86{}", ctx.rng().digits(12));
    let check = luhn_check_digit(imei.as_bytes());
    imei.push(char::from(b'0' + check));
    imei
}

/// An absent request is `{}`.
fn object_or_empty(request: Value) -> Value {
    if request.is_null() {
        json!({})
    } else {
        request
    }
}

fn mint_device(
    ctx: &Ctx,
    registry: &MemoryRegistry,
    request: Value,
) -> Result<Value, ControlError> {
    let r: MintDevice = serde_json::from_value(object_or_empty(request))
        .map_err(|e| bad(format!("request: {e}")))?;
    let imei = match r.imei {
        Some(imei) => {
            Imei::parse(&imei).map_err(|e| bad(format!("imei: {e}")))?;
            imei
        }
        None => {
            let mut fresh = random_imei(ctx);
            for _ in 0..16 {
                if registry
                    .find_by_field("imei", &fresh)
                    .map_err(|e| registry_error(&e))?
                    .is_none()
                {
                    break;
                }
                fresh = random_imei(ctx);
            }
            fresh
        }
    };
    let iccid = match r.iccid {
        Some(iccid) => Some(
            Iccid::parse(&iccid)
                .map_err(|e| bad(format!("iccid: {e}")))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let default_pk = if r.dynamic {
        DYN_PRODUCT_KEY
    } else {
        DEVICE_PRODUCT_KEY
    };
    let pk = r.product_key.unwrap_or_else(|| default_pk.to_owned());
    check_product_key(&pk)?;
    let dn = r
        .device_name
        .unwrap_or_else(|| format!("kf_{}", ctx.rng().alphanumeric(12)));
    check_device_name(&dn)?;

    let mut keys = r.keys;
    keys.insert("imei".to_owned(), imei.clone());
    if let Some(iccid) = &iccid {
        keys.insert("iccid".to_owned(), iccid.clone());
    }
    for (key, value) in &keys {
        if let Some(other) = registry
            .find_by_field(key, value)
            .map_err(|e| registry_error(&e))?
            .filter(|d| d.product_key != pk || d.device_name != dn)
        {
            return Err(bad(format!(
                "{key} `{value}` already identifies the device {}/{}",
                other.product_key, other.device_name
            )));
        }
    }

    // The connect settings go through the registry's own parser (qos 0/1, cleanSession 0/1).
    let connect = match r.connect {
        None => default_connect(),
        Some(c) => {
            serde_json::from_value::<DeviceRecord>(
                json!({"productKey": pk, "deviceName": dn, "connect": c}),
            )
            .map_err(|e| bad(format!("connect: {e}")))?
            .connect
        }
    };

    let (device_secret, product_secret) = if r.dynamic {
        if r.device_secret.is_some() {
            return Err(bad(
                "a dynamic (一型一密) device gets its deviceSecret by registering: omit deviceSecret",
            ));
        }
        let product = registry.product(&pk).map_err(|e| registry_error(&e))?;
        let secret = match (r.product_secret, product) {
            (Some(ps), _) => {
                check_secret("productSecret", &ps)?;
                registry.insert_product(ProductRecord::dynamic(pk.as_str(), ps.as_str()));
                ps
            }
            (None, Some(p)) => match (p.dynamic_registration, p.product_secret) {
                (true, Some(ps)) => ps.expose_secret().to_owned(),
                _ => {
                    return Err(bad(format!(
                        "product {pk} does not allow dynamic registration; give a productSecret to make it a 一型一密 product"
                    )));
                }
            },
            (None, None) => {
                let ps = ctx.rng().alphanumeric(16);
                registry.insert_product(ProductRecord::dynamic(pk.as_str(), ps.as_str()));
                ps
            }
        };
        (None, Some(secret))
    } else {
        if r.product_secret.is_some() {
            return Err(bad(
                "a 一机一密 device has no productSecret: omit it, or set \"dynamic\": true",
            ));
        }
        let secret = match r.device_secret {
            Some(s) => {
                check_secret("deviceSecret", &s)?;
                s
            }
            None => ctx.rng().alphanumeric(32),
        };
        if registry
            .product(&pk)
            .map_err(|e| registry_error(&e))?
            .is_none()
        {
            registry.insert_product(ProductRecord {
                product_key: pk.clone(),
                product_secret: None,
                dynamic_registration: false,
            });
        }
        (Some(secret), None)
    };

    let mut record = DeviceRecord::new(
        pk.as_str(),
        dn.as_str(),
        device_secret.as_deref().map(DeviceSecret::new),
    )
    .connect(connect.clone());
    record.keys = keys;
    record.activated = r.activated;
    registry.insert_device(record);

    Ok(json!({
        "imei": imei,
        "iccid": iccid,
        "productKey": pk,
        "deviceName": dn,
        "deviceSecret": device_secret,
        "productSecret": product_secret,
        "connect": connect.to_json_value(),
        "activated": r.activated,
    }))
}

fn mint_activation(registry: &MemoryRegistry, request: Value) -> Result<Value, ControlError> {
    let r: MintActivation =
        serde_json::from_value(request).map_err(|e| bad(format!("request: {e}")))?;
    if registry
        .device(&r.product_key, &r.device_name)
        .map_err(|e| registry_error(&e))?
        .is_none()
    {
        return Err(ControlError::NotFound(format!(
            "no device {}/{} on platform `device`",
            r.product_key, r.device_name
        )));
    }
    registry
        .record_activation(&r.product_key, &r.device_name)
        .map_err(|e| registry_error(&e))?;
    Ok(json!({"productKey": r.product_key, "deviceName": r.device_name, "activated": true}))
}

impl Module for DeviceModule {
    type Config = DeviceSandboxConfig;

    fn name(&self) -> &'static str {
        "device"
    }

    fn routes(&self, ctx: Ctx) -> Router {
        let config = ctx.config().clone();
        self.registry.replace(config.registry);
        let policy = ProvisionPolicy {
            require_imei: config.require_imei,
            require_json_content_type: true,
        };
        let auth = AuthState {
            ctx,
            registry: Arc::clone(&self.registry),
            opts: Arc::new(AuthServerOptions {
                region: config.region,
                activate_on_auth: config.activate_on_auth,
                require_form_content_type: true,
            }),
        };
        let shared: Arc<dyn DeviceRegistry> = self.registry.clone();
        provisioning_router(shared, policy).merge(
            Router::new()
                .route(REGISTER_PATH, post(register))
                .route(DEVICENAME_PATH, post(devicename))
                .with_state(auth),
        )
    }

    fn tenants(&self, ctx: &Ctx) -> Value {
        let c = ctx.config();
        json!({
            "paths": {
                "provision": PROVISION_PATH,
                "register": REGISTER_PATH,
                "devicename": DEVICENAME_PATH,
            },
            "region": c.region,
            "activate_on_auth": c.activate_on_auth,
            "require_imei": c.require_imei,
            "registry": serde_json::to_value(self.snapshot()).unwrap_or(Value::Null),
        })
    }

    fn mint_kinds(&self) -> &'static [&'static str] {
        &[MINT_DEVICE, MINT_ACTIVATION]
    }

    fn mint(&self, ctx: &Ctx, kind: &str, request: Value) -> Result<Value, ControlError> {
        let registry = self.registry.current();
        match kind {
            MINT_DEVICE => mint_device(ctx, &registry, request),
            MINT_ACTIVATION => mint_activation(&registry, request),
            _ => Err(ControlError::Unsupported {
                platform: self.name().to_owned(),
                kind: kind.to_owned(),
                supported: self.mint_kinds().iter().map(|s| (*s).to_owned()).collect(),
            }),
        }
    }

    fn reset(&self, ctx: &Ctx) {
        self.registry.replace(ctx.config().registry.clone());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use http_body_util::BodyExt;
    use kaifang_proto_device::server::registry::JsonFileRegistry;
    use kaifang_proto_device::{ProvisionRequest, parse_response};
    use tower::ServiceExt;

    use super::*;
    use crate::{Config, Sandbox};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn post(app: Router, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let req = http::Request::post(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn default_registry_is_the_documented_one() {
        let reg = default_registry();
        assert_eq!(reg.devices.len(), 2);
        assert!(Imei::parse(DEVICE_IMEI).is_ok());
        assert!(Imei::parse(DYN_DEVICE_IMEI).is_ok());
        assert!(Iccid::parse(DEVICE_ICCID).is_ok());
        let dynamic = &reg.devices[1];
        assert!(dynamic.device_secret.is_none());
        // Debug never shows a secret.
        let debug = format!("{:?}", DeviceSandboxConfig::default());
        assert!(!debug.contains(DEVICE_SECRET) && !debug.contains(DYN_PRODUCT_SECRET));
        // The config round-trips through serde (the tenants view and TOML sections).
        let value = serde_json::to_value(DeviceSandboxConfig::default()).unwrap();
        let back: DeviceSandboxConfig = serde_json::from_value(value).unwrap();
        assert_eq!(back, DeviceSandboxConfig::default());
    }

    /// The customer's router over a JSON-file registry: provisioning reads the file's devices.
    #[test]
    fn provisioning_router_over_a_json_file_registry() {
        let dir =
            std::env::temp_dir().join(format!("kaifang-device-router-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("devices.json");
        std::fs::write(
            &file,
            r#"{"devices":[{"productKey":"pk","deviceName":"device","deviceSecret":"secret",
                "keys":{"imei":"490154203237518"},"connect":{"qos":0,"host":"mqtt.example:8883","cleanSession":0}}],
                "products":[]}"#,
        )
        .unwrap();
        let registry = Arc::new(JsonFileRegistry::open(&file).unwrap());
        let app = provisioning_router(registry, ProvisionPolicy::default());
        rt().block_on(async {
            let body = ProvisionRequest::new()
                .imei("490154203237518")
                .unwrap()
                .to_json();
            let (status, answer) =
                post(app.clone(), PROVISION_PATH, "application/json", body).await;
            assert_eq!(status, 200);
            assert_eq!(answer["code"], "00000");
            let config = parse_response(answer.to_string().as_bytes())
                .unwrap()
                .into_config()
                .unwrap();
            assert_eq!(config.connect.host.as_deref(), Some("mqtt.example:8883"));

            let body = ProvisionRequest::new()
                .imei("356938035643809")
                .unwrap()
                .to_json();
            let (status, answer) =
                post(app.clone(), PROVISION_PATH, "application/json", body).await;
            assert_eq!((status, &answer["code"]), (404, &json!("10001")));

            let (status, answer) = post(app, PROVISION_PATH, "text/plain", b"{}".to_vec()).await;
            assert_eq!((status, &answer["code"]), (415, &json!("10002")));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn mint_reset_and_toml_config() {
        let toml = r#"
[platforms.device]
activate_on_auth = false

[[platforms.device.registry.devices]]
productKey = "pk"
deviceName = "device"
deviceSecret = "secret"
keys = { imei = "490154203237518" }
connect = { qos = 1, host = "127.0.0.1:1883", cleanSession = 1 }
"#;
        let module = DeviceModule::default();
        let view = module.clone();
        let sandbox = Sandbox::builder()
            .config(Config::from_toml(toml, "device.toml").unwrap())
            .module(module)
            .seed(3)
            .start_blocking()
            .unwrap();
        assert_eq!(view.snapshot().devices.len(), 1);
        assert_eq!(sandbox.tenants()["device"]["activate_on_auth"], false);

        let minted = sandbox.mint("device", "device", Value::Null).unwrap();
        let imei = minted["imei"].as_str().unwrap();
        assert!(Imei::parse(imei).is_ok());
        assert_eq!(minted["productKey"], DEVICE_PRODUCT_KEY);
        assert_eq!(minted["deviceSecret"].as_str().unwrap().len(), 32);
        assert_eq!(view.snapshot().devices.len(), 2);
        let dynamic = sandbox
            .mint("device", "device", json!({"dynamic": true}))
            .unwrap();
        assert!(dynamic["deviceSecret"].is_null());
        assert_eq!(dynamic["productKey"], DYN_PRODUCT_KEY);
        assert_eq!(dynamic["productSecret"].as_str().unwrap().len(), 16);
        let activated = sandbox
            .mint(
                "device",
                "activation",
                json!({"productKey": "pk", "deviceName": "device"}),
            )
            .unwrap();
        assert_eq!(activated["activated"], true);
        assert!(view.snapshot().devices[0].activated);

        sandbox.reset();
        let after = view.snapshot();
        assert_eq!(after.devices.len(), 1);
        assert!(!after.devices[0].activated);
        assert!(after.products.is_empty());
    }

    #[test]
    fn bad_toml_is_reported_with_its_path() {
        let toml = "[platforms.device]\nregion = 7\n";
        let err = Sandbox::builder()
            .config(Config::from_toml(toml, "device.toml").unwrap())
            .module(DeviceModule::default())
            .start_blocking()
            .unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
        let toml = "[[platforms.device.registry.devices]]\nproductKey = \"pk\"\ndeviceName = \"d\"\nconnect = { qos = 2 }\n";
        let err = Sandbox::builder()
            .config(Config::from_toml(toml, "device.toml").unwrap())
            .module(DeviceModule::default())
            .start_blocking()
            .unwrap_err();
        assert!(err.to_string().contains("connect"), "{err}");
    }
}
