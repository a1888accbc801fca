//! [`DeviceRegistry`]: what the server half needs to know and remember, with an in-memory
//! ([`MemoryRegistry`]) and a JSON-file ([`JsonFileRegistry`]) implementation.
//!
//! The file format is `{"devices":[…],"products":[…]}`:
//!
//! ```json
//! {
//!   "devices": [
//!     {"productKey": "pk", "deviceName": "device", "deviceSecret": "secret",
//!      "keys": {"imei": "490154203237518"},
//!      "connect": {"qos": 1, "host": "", "cleanSession": 1}, "activated": false}
//!   ],
//!   "products": [
//!     {"productKey": "a1csED27mp7", "productSecret": "VuULINCrtTAzCSzp", "dynamicRegistration": true}
//!   ]
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::Connect;
use crate::secret::{DeviceSecret, ProductSecret};

/// A registry failure (storage, I/O, format). The message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError(pub String);

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device registry error: {}", self.0)
    }
}

impl std::error::Error for RegistryError {}

/// A device as the customer's server and Aliyun know it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    /// `productKey`.
    pub product_key: String,
    /// `deviceName`.
    pub device_name: String,
    /// The DeviceSecret: set up front (一机一密) or issued by dynamic registration (一型一密).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_device_secret",
        deserialize_with = "de_device_secret"
    )]
    pub device_secret: Option<DeviceSecret>,
    /// Identification fields that select this device in a provisioning request, e.g.
    /// `{"imei": "490154203237518", "iccid": "8986…"}` (compared as exact strings).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// The `connect` settings handed out.
    #[serde(
        default,
        serialize_with = "ser_connect",
        deserialize_with = "de_connect"
    )]
    pub connect: Connect,
    /// Whether the device has come online (after which dynamic registration answers 6289).
    #[serde(default)]
    pub activated: bool,
}

impl fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &self.device_secret)
            .field("keys", &self.keys)
            .field("connect", &self.connect)
            .field("activated", &self.activated)
            .finish()
    }
}

impl DeviceRecord {
    /// A 一机一密 device.
    pub fn new(
        product_key: impl Into<String>,
        device_name: impl Into<String>,
        device_secret: Option<DeviceSecret>,
    ) -> Self {
        DeviceRecord {
            product_key: product_key.into(),
            device_name: device_name.into(),
            device_secret,
            keys: BTreeMap::new(),
            connect: Connect::default(),
            activated: false,
        }
    }

    /// Adds an identification field (`"imei"`, `"iccid"`, or any key the devices send).
    #[must_use]
    pub fn key(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.keys.insert(name.into(), value.into());
        self
    }

    /// Sets the `connect` settings.
    #[must_use]
    pub fn connect(mut self, connect: Connect) -> Self {
        self.connect = connect;
        self
    }
}

/// A product.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRecord {
    /// `productKey`.
    pub product_key: String,
    /// The ProductSecret (一型一密).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_product_secret",
        deserialize_with = "de_product_secret"
    )]
    pub product_secret: Option<ProductSecret>,
    /// Whether dynamic registration is switched on for the product.
    #[serde(default)]
    pub dynamic_registration: bool,
}

impl fmt::Debug for ProductRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProductRecord")
            .field("product_key", &self.product_key)
            .field("product_secret", &self.product_secret)
            .field("dynamic_registration", &self.dynamic_registration)
            .finish()
    }
}

impl ProductRecord {
    /// A 一型一密 product with dynamic registration on.
    pub fn dynamic(
        product_key: impl Into<String>,
        product_secret: impl Into<ProductSecret>,
    ) -> Self {
        ProductRecord {
            product_key: product_key.into(),
            product_secret: Some(product_secret.into()),
            dynamic_registration: true,
        }
    }
}

fn ser_device_secret<S: Serializer>(v: &Option<DeviceSecret>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(DeviceSecret::expose_secret).serialize(s)
}

fn de_device_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeviceSecret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(DeviceSecret::from))
}

fn ser_product_secret<S: Serializer>(v: &Option<ProductSecret>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(ProductSecret::expose_secret).serialize(s)
}

fn de_product_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ProductSecret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(ProductSecret::from))
}

fn ser_connect<S: Serializer>(v: &Connect, s: S) -> Result<S::Ok, S::Error> {
    v.to_json_value().serialize(s)
}

fn de_connect<'de, D: Deserializer<'de>>(d: D) -> Result<Connect, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let map = value
        .as_object()
        .ok_or_else(|| serde::de::Error::custom("connect must be an object"))?;
    Connect::from_json(map).map_err(serde::de::Error::custom)
}

/// The whole state, as the JSON file holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryData {
    /// Devices.
    #[serde(default)]
    pub devices: Vec<DeviceRecord>,
    /// Products.
    #[serde(default)]
    pub products: Vec<ProductRecord>,
}

/// What the server half reads and writes. Methods take `&self` (implementations synchronise
/// internally) so a router can share one registry between requests.
pub trait DeviceRegistry: Send + Sync {
    /// The device whose identification field `key` equals `value`.
    ///
    /// # Errors
    /// Storage failures.
    fn find_by_field(&self, key: &str, value: &str) -> Result<Option<DeviceRecord>, RegistryError>;

    /// The device `(product_key, device_name)`.
    ///
    /// # Errors
    /// Storage failures.
    fn device(
        &self,
        product_key: &str,
        device_name: &str,
    ) -> Result<Option<DeviceRecord>, RegistryError>;

    /// The product `product_key`.
    ///
    /// # Errors
    /// Storage failures.
    fn product(&self, product_key: &str) -> Result<Option<ProductRecord>, RegistryError>;

    /// Stores the DeviceSecret issued by a dynamic registration, replacing any earlier one
    /// (the last registration wins).
    ///
    /// # Errors
    /// Storage failures, or an unknown device.
    fn set_device_secret(
        &self,
        product_key: &str,
        device_name: &str,
        secret: DeviceSecret,
    ) -> Result<(), RegistryError>;

    /// Marks the device active (it came online); dynamic registration then answers 6289.
    ///
    /// # Errors
    /// Storage failures, or an unknown device.
    fn record_activation(&self, product_key: &str, device_name: &str) -> Result<(), RegistryError>;
}

impl<R: DeviceRegistry + ?Sized> DeviceRegistry for std::sync::Arc<R> {
    fn find_by_field(&self, key: &str, value: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        (**self).find_by_field(key, value)
    }
    fn device(&self, pk: &str, dn: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        (**self).device(pk, dn)
    }
    fn product(&self, pk: &str) -> Result<Option<ProductRecord>, RegistryError> {
        (**self).product(pk)
    }
    fn set_device_secret(&self, pk: &str, dn: &str, s: DeviceSecret) -> Result<(), RegistryError> {
        (**self).set_device_secret(pk, dn, s)
    }
    fn record_activation(&self, pk: &str, dn: &str) -> Result<(), RegistryError> {
        (**self).record_activation(pk, dn)
    }
}

/// An in-memory registry.
///
/// ```
/// use kaifang_proto_device::server::registry::{DeviceRecord, DeviceRegistry, MemoryRegistry};
///
/// let reg = MemoryRegistry::new()
///     .with_device(DeviceRecord::new("pk", "device", Some("secret".into())).key("imei", "490154203237518"));
/// assert_eq!(reg.find_by_field("imei", "490154203237518")?.unwrap().device_name, "device");
/// # Ok::<(), kaifang_proto_device::server::registry::RegistryError>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    data: Mutex<RegistryData>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        MemoryRegistry::default()
    }

    /// A registry holding `data`.
    pub fn from_data(data: RegistryData) -> Self {
        MemoryRegistry {
            data: Mutex::new(data),
        }
    }

    /// Adds (or replaces, by productKey and deviceName) a device.
    #[must_use]
    pub fn with_device(self, device: DeviceRecord) -> Self {
        self.insert_device(device);
        self
    }

    /// Adds (or replaces, by productKey) a product.
    #[must_use]
    pub fn with_product(self, product: ProductRecord) -> Self {
        self.insert_product(product);
        self
    }

    /// Adds or replaces a device.
    pub fn insert_device(&self, device: DeviceRecord) {
        let mut data = self.lock();
        match data
            .devices
            .iter_mut()
            .find(|d| d.product_key == device.product_key && d.device_name == device.device_name)
        {
            Some(slot) => *slot = device,
            None => data.devices.push(device),
        }
    }

    /// Adds or replaces a product.
    pub fn insert_product(&self, product: ProductRecord) {
        let mut data = self.lock();
        match data
            .products
            .iter_mut()
            .find(|p| p.product_key == product.product_key)
        {
            Some(slot) => *slot = product,
            None => data.products.push(product),
        }
    }

    /// A copy of the whole state.
    pub fn snapshot(&self) -> RegistryData {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, RegistryData> {
        // Every mutation is a single assignment, so a poisoned lock still holds consistent data.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(
        &self,
        product_key: &str,
        device_name: &str,
        f: impl FnOnce(&mut DeviceRecord),
    ) -> Result<(), RegistryError> {
        let mut data = self.lock();
        let device = data
            .devices
            .iter_mut()
            .find(|d| d.product_key == product_key && d.device_name == device_name)
            .ok_or_else(|| RegistryError(format!("no device {product_key}/{device_name}")))?;
        f(device);
        Ok(())
    }
}

impl DeviceRegistry for MemoryRegistry {
    fn find_by_field(&self, key: &str, value: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        Ok(self
            .lock()
            .devices
            .iter()
            .find(|d| d.keys.get(key).is_some_and(|v| v == value))
            .cloned())
    }

    fn device(&self, pk: &str, dn: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        Ok(self
            .lock()
            .devices
            .iter()
            .find(|d| d.product_key == pk && d.device_name == dn)
            .cloned())
    }

    fn product(&self, pk: &str) -> Result<Option<ProductRecord>, RegistryError> {
        Ok(self
            .lock()
            .products
            .iter()
            .find(|p| p.product_key == pk)
            .cloned())
    }

    fn set_device_secret(&self, pk: &str, dn: &str, s: DeviceSecret) -> Result<(), RegistryError> {
        self.update(pk, dn, |d| d.device_secret = Some(s))
    }

    fn record_activation(&self, pk: &str, dn: &str) -> Result<(), RegistryError> {
        self.update(pk, dn, |d| d.activated = true)
    }
}

/// A registry kept in a JSON file: loaded when opened, written back (to a temporary file, then
/// renamed over the original) after every change. One process should own the file.
#[derive(Debug)]
pub struct JsonFileRegistry {
    path: PathBuf,
    memory: MemoryRegistry,
    // Serialises writes so that two changes never interleave their file writes.
    write_lock: Mutex<()>,
}

impl JsonFileRegistry {
    /// Opens `path`; a missing file is an empty registry (created on the first change).
    ///
    /// # Errors
    /// I/O failures and invalid JSON (with line and column).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let path = path.into();
        let data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<RegistryData>(&bytes).map_err(|e| {
                RegistryError(format!(
                    "{}: invalid registry file at line {} column {} ({:?})",
                    path.display(),
                    e.line(),
                    e.column(),
                    e.classify()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryData::default(),
            Err(e) => return Err(RegistryError(format!("{}: {e}", path.display()))),
        };
        Ok(JsonFileRegistry {
            path,
            memory: MemoryRegistry::from_data(data),
            write_lock: Mutex::new(()),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The in-memory view (changes made through it are saved by the next [`save`](Self::save)).
    pub fn memory(&self) -> &MemoryRegistry {
        &self.memory
    }

    /// Writes the current state to the file.
    ///
    /// # Errors
    /// I/O failures.
    pub fn save(&self) -> Result<(), RegistryError> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = serde_json::to_vec_pretty(&self.memory.snapshot())
            .map_err(|e| RegistryError(format!("cannot serialize the registry: {e}")))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |e: std::io::Error| RegistryError(format!("{}: {e}", self.path.display()));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

impl DeviceRegistry for JsonFileRegistry {
    fn find_by_field(&self, key: &str, value: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        self.memory.find_by_field(key, value)
    }

    fn device(&self, pk: &str, dn: &str) -> Result<Option<DeviceRecord>, RegistryError> {
        self.memory.device(pk, dn)
    }

    fn product(&self, pk: &str) -> Result<Option<ProductRecord>, RegistryError> {
        self.memory.product(pk)
    }

    fn set_device_secret(&self, pk: &str, dn: &str, s: DeviceSecret) -> Result<(), RegistryError> {
        self.memory.set_device_secret(pk, dn, s)?;
        self.save()
    }

    fn record_activation(&self, pk: &str, dn: &str) -> Result<(), RegistryError> {
        self.memory.record_activation(pk, dn)?;
        self.save()
    }
}
