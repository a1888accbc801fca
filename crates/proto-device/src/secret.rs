//! Secret newtypes: [`DeviceSecret`], [`ProductSecret`], [`IotToken`], [`MqttPassword`].
//!
//! Each one zeroizes its memory on drop, prints `[redacted]` in `Debug`, has no `Display`, and
//! compares in constant time. The only way to read one is to ask for it by name:
//! [`expose_secret`](DeviceSecret::expose_secret).
//!
//! ```
//! use kaifang_proto_device::DeviceSecret;
//!
//! let s = DeviceSecret::new("ximd4xyeAjtHp5lsz3A5okefnJMYtQTP");
//! assert_eq!(format!("{s:?}"), "DeviceSecret([redacted])");
//! assert_eq!(s.expose_secret(), "ximd4xyeAjtHp5lsz3A5okefnJMYtQTP");
//! ```

use alloc::string::String;
use core::fmt;

use zeroize::Zeroize;

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(secret.into())
            }

            /// The secret itself. Call this only where the value must go on the wire or into a
            /// signature.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Its length in bytes (safe to log).
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether it is empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(String::from(s))
            }
        }
    };
}

secret_type!(
    /// An Aliyun IoT DeviceSecret (一机一密), the key of the MQTT password and of `/auth/devicename`.
    DeviceSecret
);
secret_type!(
    /// An Aliyun IoT ProductSecret (一型一密), the key of dynamic registration.
    ProductSecret
);
secret_type!(
    /// The `iotToken` answered by `/auth/devicename` (the MQTT password of token-based login).
    IotToken
);
secret_type!(
    /// A computed MQTT password.
    MqttPassword
);
