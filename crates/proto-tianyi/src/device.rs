//! Typed business calls under `/open/token/...`, and a generic signed call for any other path.
//!
//! Each call carries `accessToken` (and `enterpriseUser` / `parentUser` for platform apps) among
//! the private params. Response shapes follow what public clients read; fields they do not
//! name are kept in `extra`.

use std::collections::BTreeMap;

use kaifang_proto_core::Error;
use kaifang_proto_core::envelope::de;
use kaifang_proto_core::secret::SecretString;
use serde::Deserialize;
use serde_json::Value;

use crate::app::Tianyi;
use crate::auth::add_platform_user;
use crate::envelope::Call;
use crate::params::PrivateParams;

/// Region tree path.
pub const REGIONS_PATH: &str = "/open/token/device/getReginWithGroupList";
/// Paged device list path.
pub const DEVICE_LIST_PATH: &str = "/open/token/device/getDeviceList";
/// Cursor-paged device list path.
pub const ALL_DEVICES_PATH: &str = "/open/token/device/getAllDeviceListNew";
/// One device path.
pub const SHOW_DEVICE_PATH: &str = "/open/token/device/showDevice";
/// Batch status path.
pub const BATCH_STATUS_PATH: &str = "/open/token/device/batchDeviceStatus";
/// HLS URL path.
pub const MEDIA_HLS_PATH: &str = "/open/token/cloud/getDeviceMediaUrlHls";

/// Largest `pageSize` the platform accepts for `getDeviceList`.
pub const MAX_PAGE_SIZE: u32 = 50;
/// Most device codes per `batchDeviceStatus` call.
pub const MAX_BATCH_CODES: usize = 20;

/// A node of the monitoring directory tree.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    /// Region id (`regionId` or `id`).
    #[serde(alias = "id")]
    pub region_id: String,
    /// Display name.
    #[serde(default, alias = "regionName")]
    pub name: String,
    /// Whether it has child regions (`1`/`0` or a boolean).
    #[serde(default, deserialize_with = "flag")]
    pub has_children: bool,
    /// Whether devices hang under it (`havDevice`, sic).
    #[serde(default, rename = "havDevice", deserialize_with = "flag")]
    pub has_device: bool,
    /// Other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A camera or other device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// `deviceCode`.
    pub device_code: String,
    /// `deviceName`.
    #[serde(default)]
    pub device_name: String,
    /// Online status when the list carries it.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub status: Option<i64>,
    /// The region it belongs to.
    #[serde(default)]
    pub region_id: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One page of `getDeviceList`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePage {
    /// Page number (from 1).
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub page_no: Option<u32>,
    /// Page size.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub page_size: Option<u32>,
    /// Total devices.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub total: Option<u64>,
    /// The devices.
    #[serde(default)]
    pub list: Vec<Device>,
}

/// One page of `getAllDeviceListNew`; `last_id == -1` means there are no more.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCursorPage {
    /// The cursor for the next call; `-1` when done.
    #[serde(deserialize_with = "de::num_or_str")]
    pub last_id: i64,
    /// The devices.
    #[serde(default)]
    pub list: Vec<Device>,
}

/// A device's status in `batchDeviceStatus`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    /// `deviceCode`.
    pub device_code: String,
    /// `status`: 0 offline, 1 online (2 sleep, 3 keep-alive sleep on vpaas).
    #[serde(deserialize_with = "de::num_or_str")]
    pub status: i64,
    /// Other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A live-stream URL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaUrl {
    /// The URL (`url` or `streamUrl`).
    #[serde(alias = "streamUrl")]
    pub url: String,
    /// Seconds until it expires, when given.
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    pub expire: Option<u64>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `batchDeviceStatus`'s `queryData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusQuery {
    /// `1`: online status.
    Online,
    /// `2`: cloud storage.
    CloudStorage,
    /// `3`: binding.
    Binding,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        Value::String(s) => matches!(s.as_str(), "1" | "true"),
        _ => false,
    })
}

/// Builds the business calls of one app.
impl Tianyi {
    /// Private params with `accessToken` (and the platform user) first.
    ///
    /// # Errors
    /// [`Error::Config`] for values the platform cannot parse.
    pub fn token_params(&self, access_token: &SecretString) -> Result<PrivateParams, Error> {
        let mut params = PrivateParams::new().with("accessToken", access_token.expose_secret())?;
        add_platform_user(self, &mut params)?;
        Ok(params)
    }

    /// A signed call to any `/open/token/...` path with the token and `extra` params.
    ///
    /// # Errors
    /// [`Error::Config`] for a path outside `/open/` or unparseable params.
    pub fn call(
        &self,
        access_token: &SecretString,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<Call<Value>, Error> {
        if !path.starts_with("/open/") {
            return Err(Error::Config(format!(
                "tianyi: API paths start with /open/, got {path:?}"
            )));
        }
        let mut params = self.token_params(access_token)?;
        for (k, v) in extra {
            params.push(k, *v)?;
        }
        Ok(Call::new(self, path, params))
    }

    /// `getReginWithGroupList`: the regions under `region_id` (`""` for the top level).
    ///
    /// # Errors
    /// [`Error::Config`] for unparseable params.
    pub fn regions(
        &self,
        access_token: &SecretString,
        region_id: &str,
    ) -> Result<Call<Vec<Region>>, Error> {
        let params = self
            .token_params(access_token)?
            .with("regionId", region_id)?;
        Ok(Call::new(self, REGIONS_PATH, params).named("tianyi.regions"))
    }

    /// `getDeviceList`: one page (`page_no` from 1, `page_size` 1..=50).
    ///
    /// # Errors
    /// [`Error::Config`] for a page size the platform refuses.
    pub fn device_list(
        &self,
        access_token: &SecretString,
        region_id: &str,
        page_no: u32,
        page_size: u32,
    ) -> Result<Call<DevicePage>, Error> {
        if page_no == 0 || !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(Error::Config(format!(
                "tianyi: pageNo starts at 1 and pageSize is 1..={MAX_PAGE_SIZE}"
            )));
        }
        let params = self
            .token_params(access_token)?
            .with("regionId", region_id)?
            .with("pageNo", page_no.to_string())?
            .with("pageSize", page_size.to_string())?;
        Ok(Call::new(self, DEVICE_LIST_PATH, params).named("tianyi.device_list"))
    }

    /// `getAllDeviceListNew`: the page after cursor `last_id` (`0` first).
    ///
    /// # Errors
    /// [`Error::Config`] for unparseable params.
    pub fn all_devices_page(
        &self,
        access_token: &SecretString,
        cus_region_id: &str,
        with_children: bool,
        last_id: i64,
        page_size: u32,
    ) -> Result<Call<DeviceCursorPage>, Error> {
        let params = self
            .token_params(access_token)?
            .with("cusRegionId", cus_region_id)?
            .with("hasChildDevices", if with_children { "1" } else { "0" })?
            .with("lastId", last_id.to_string())?
            .with("pageSize", page_size.to_string())?;
        Ok(Call::new(self, ALL_DEVICES_PATH, params).named("tianyi.all_devices"))
    }

    /// Every device under a region, page by page: see [`AllDevices`].
    pub fn all_devices(
        &self,
        access_token: &SecretString,
        cus_region_id: &str,
        with_children: bool,
        page_size: u32,
    ) -> AllDevices {
        AllDevices {
            app: self.clone(),
            access_token: access_token.clone(),
            cus_region_id: cus_region_id.to_owned(),
            with_children,
            page_size,
            next: Some(0),
        }
    }

    /// `showDevice`.
    ///
    /// # Errors
    /// [`Error::Config`] for unparseable params.
    pub fn show_device(
        &self,
        access_token: &SecretString,
        device_code: &str,
    ) -> Result<Call<Device>, Error> {
        let params = self
            .token_params(access_token)?
            .with("deviceCode", device_code)?;
        Ok(Call::new(self, SHOW_DEVICE_PATH, params).named("tianyi.show_device"))
    }

    /// `batchDeviceStatus` for up to 20 devices.
    ///
    /// # Errors
    /// [`Error::Config`] for no codes, more than 20, or a code with a comma.
    pub fn batch_device_status(
        &self,
        access_token: &SecretString,
        device_codes: &[&str],
        query: StatusQuery,
    ) -> Result<Call<Vec<DeviceStatus>>, Error> {
        if device_codes.is_empty() || device_codes.len() > MAX_BATCH_CODES {
            return Err(Error::Config(format!(
                "tianyi: batchDeviceStatus takes 1..={MAX_BATCH_CODES} device codes"
            )));
        }
        if device_codes.iter().any(|c| c.contains(',') || c.is_empty()) {
            return Err(Error::Config(
                "tianyi: device codes must be non-empty and free of commas".into(),
            ));
        }
        let query = match query {
            StatusQuery::Online => "1",
            StatusQuery::CloudStorage => "2",
            StatusQuery::Binding => "3",
        };
        let params = self
            .token_params(access_token)?
            .with("deviceCodes", device_codes.join(","))?
            .with("queryData", query)?;
        Ok(Call::new(self, BATCH_STATUS_PATH, params).named("tianyi.batch_device_status"))
    }

    /// `getDeviceMediaUrlHls`: a live HLS URL valid `expire_secs` (1..=1800, default 300).
    ///
    /// # Errors
    /// [`Error::Config`] for an expiry outside 1..=1800 seconds.
    pub fn media_url_hls(
        &self,
        access_token: &SecretString,
        device_code: &str,
        expire_secs: u32,
    ) -> Result<Call<MediaUrl>, Error> {
        if !(1..=1800).contains(&expire_secs) {
            return Err(Error::Config("tianyi: expire is 1..=1800 seconds".into()));
        }
        let params = self
            .token_params(access_token)?
            .with("deviceCode", device_code)?
            .with("mediaType", "0")?
            .with("expire", expire_secs.to_string())?;
        Ok(Call::new(self, MEDIA_HLS_PATH, params).named("tianyi.media_url_hls"))
    }
}

/// `getAllDeviceListNew` walked by cursor until `lastId` is `-1`, sans-IO: ask for the next
/// call, run it with any transport, hand the page back.
///
/// ```no_run
/// # fn run(app: &kaifang_proto_tianyi::Tianyi, token: &kaifang_proto_core::secret::SecretString,
/// #        execute: impl Fn(&kaifang_proto_tianyi::envelope::Call<kaifang_proto_tianyi::device::DeviceCursorPage>)
/// #            -> Result<kaifang_proto_tianyi::device::DeviceCursorPage, kaifang_proto_core::Error>)
/// # -> Result<(), kaifang_proto_core::Error> {
/// let mut pages = app.all_devices(token, "", true, 50);
/// while let Some(call) = pages.next_call()? {
///     for device in pages.accept(execute(&call)?) {
///         println!("{}", device.device_code);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AllDevices {
    app: Tianyi,
    access_token: SecretString,
    cus_region_id: String,
    with_children: bool,
    page_size: u32,
    next: Option<i64>,
}

impl AllDevices {
    /// The call for the next page, or `None` when done.
    ///
    /// # Errors
    /// [`Error::Config`] for unparseable params.
    pub fn next_call(&self) -> Result<Option<Call<DeviceCursorPage>>, Error> {
        match self.next {
            None => Ok(None),
            Some(last_id) => self
                .app
                .all_devices_page(
                    &self.access_token,
                    &self.cus_region_id,
                    self.with_children,
                    last_id,
                    self.page_size,
                )
                .map(Some),
        }
    }

    /// Takes a page: advances the cursor (stopping at `-1`, or if the cursor does not move, which
    /// would loop forever) and returns its devices.
    pub fn accept(&mut self, page: DeviceCursorPage) -> Vec<Device> {
        self.next = match (page.last_id, self.next) {
            (-1, _) => None,
            (id, Some(prev)) if id == prev => None,
            (id, _) => Some(id),
        };
        page.list
    }

    /// Whether every page was read.
    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }
}
