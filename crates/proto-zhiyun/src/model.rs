//! The typed `data` of each answer, the same for `json` and `xml`.
//!
//! Tolerant where the wild is: every field may be missing; strings also accept numbers and
//! `null` (`null` reads as `""`, except `status`, which stays `None`); `nowtime` is Unix seconds
//! as a number or a string, also spelled `newtime` (a typo of the API document). Masked values
//! (`"li******40"`) are plain strings.
//!
//! ```
//! use kaifang_proto_zhiyun::UserInfo;
//! let u: UserInfo = serde_json::from_str(r#"{"username":"li******40","sex":3,"is_admin":"1","status":null,"newtime":"1522404566"}"#)?;
//! assert_eq!((u.sex.as_str(), u.status, u.nowtime), ("3", None, Some(1_522_404_566)));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use kaifang_proto_core::secret::SecretString;
use serde::{Deserialize, Serialize};

/// `getUserInfo`'s `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    /// Login name, masked (`li******40`).
    #[serde(deserialize_with = "de::text")]
    pub username: String,
    /// Real name, masked (`李**`).
    #[serde(deserialize_with = "de::text")]
    pub truename: String,
    /// Sex as the server sends it (`"3"` in the sample; the codes are not documented).
    #[serde(deserialize_with = "de::text")]
    pub sex: String,
    /// Phone number, masked (`13******0170`).
    #[serde(deserialize_with = "de::text")]
    pub phone: String,
    /// `"1"` for the company's administrator.
    #[serde(deserialize_with = "de::text")]
    pub is_admin: String,
    /// Account status; `null` in the sample (`None` for `null`, `""` or absent).
    #[serde(deserialize_with = "de::opt_text")]
    pub status: Option<String>,
    /// Avatar URL.
    #[serde(deserialize_with = "de::text")]
    pub avatar: String,
    /// Account creation, `Y-m-d H:i:s` (server local time).
    #[serde(deserialize_with = "de::text")]
    pub created: String,
    /// The server's clock, Unix seconds (`nowtime`, or the document's typo `newtime`).
    #[serde(alias = "newtime", deserialize_with = "de::opt_i64")]
    pub nowtime: Option<i64>,
}

/// `getCompanyInfo`'s `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompanyInfo {
    /// Company name, masked.
    #[serde(deserialize_with = "de::text")]
    pub company_name: String,
    /// Company type (`"1"` in the sample; the codes are not documented).
    #[serde(deserialize_with = "de::text")]
    pub company_type: String,
    /// Tax number (纳税人识别号), masked.
    #[serde(deserialize_with = "de::text")]
    pub tax_number: String,
    /// Province (often empty).
    #[serde(deserialize_with = "de::text")]
    pub province: String,
    /// City (often empty).
    #[serde(deserialize_with = "de::text")]
    pub city: String,
    /// District (often empty).
    #[serde(deserialize_with = "de::text")]
    pub zone: String,
    /// Address, masked.
    #[serde(deserialize_with = "de::text")]
    pub address: String,
    /// Disabled flag as sent (empty in the sample).
    #[serde(deserialize_with = "de::text")]
    pub disable: String,
    /// Telephone (often empty).
    #[serde(deserialize_with = "de::text")]
    pub tel_phone: String,
    /// Legal representative's phone, masked.
    #[serde(deserialize_with = "de::text")]
    pub legal_person_phone: String,
    /// Legal representative's name, masked.
    #[serde(deserialize_with = "de::text")]
    pub legal_person_name: String,
    /// Creation, `Y-m-d H:i:s`.
    #[serde(deserialize_with = "de::text")]
    pub created: String,
    /// The server's clock, Unix seconds (`nowtime`, or the document's typo `newtime`).
    #[serde(alias = "newtime", deserialize_with = "de::opt_i64")]
    pub nowtime: Option<i64>,
}

/// `authorize`'s `data`: `{"auth_code":"<40 hex>"}`.
#[derive(Clone, Deserialize)]
pub struct AuthorizeData {
    /// The authorization code (a secret: it lets its holder read the user's data).
    pub auth_code: SecretString,
}

impl fmt::Debug for AuthorizeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeData")
            .field("auth_code", &self.auth_code)
            .finish()
    }
}

/// Tolerant scalar fields, for JSON and for XML alike.
///
/// quick-xml presents an element to `deserialize_any` as a map whose text is under `$text`
/// (`<x/>` is an empty map); JSON presents strings, numbers, booleans and `null`. These helpers
/// accept all of them.
pub mod de {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, IgnoredAny, MapAccess, Visitor};

    /// A scalar as text: `None` for `null`.
    struct Text;

    impl<'de> Visitor<'de> for Text {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number, a boolean or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(if v { "1" } else { "0" }.to_owned()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Text)
        }
        /// An XML element: its text (`$text` / `$value`); attributes are ignored; no text is `""`.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut text = String::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == "$text" || key == "$value" {
                    text = map.next_value::<String>()?;
                } else if key.starts_with('@') {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    return Err(de::Error::custom(format_args!(
                        "expected a scalar, found a nested `{key}`"
                    )));
                }
            }
            Ok(Some(text))
        }
    }

    /// A string sent as a string, a number or a boolean (`true` → `"1"`); `null` gives `""`.
    ///
    /// # Errors
    /// For arrays and objects.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(d.deserialize_any(Text)?.unwrap_or_default())
    }

    /// Like [`text`], but `null` and `""` give `None`.
    ///
    /// # Errors
    /// For arrays and objects.
    pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(d.deserialize_any(Text)?.filter(|s| !s.is_empty()))
    }

    /// An integer sent as a number or as decimal text; `null` and `""` give `None`.
    ///
    /// # Errors
    /// When the text is not an integer.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match d.deserialize_any(Text)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| de::Error::custom(format_args!("expected an integer, got {s:?}"))),
        }
    }
}
