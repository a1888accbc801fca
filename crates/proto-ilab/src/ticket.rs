//! The ticket: what the platform appends to the experiment's URL when the user clicks
//! 我要做实验, and the one rule that breaks most integrations: **sign it decoded, send it
//! encoded**.
//!
//! # The contract of [`Ticket::new`]
//! Give the ticket as you have it, URL-encoded (straight from the raw query string) or decoded
//! (from a framework that already decoded the query). It is percent-decoded **once**, as
//! Python's `urllib.parse.unquote` does (`%XX` → byte, `+` stays `+`), so:
//!
//! * `22We…5%2B1U…%3D` and `22We…5+1U…=` give the same ticket;
//! * a space is turned back into `+` (a form decoder turned the ticket's `+` into a space; no
//!   platform ticket contains a space);
//! * what remains must be printable ASCII without `%`: JWT tickets (RONCOO) and base64 tickets
//!   (iLab-x) never contain `%`, so a `%` left after one decoding means the ticket was encoded
//!   twice, which is refused rather than guessed.
//!
//! The signature is computed over [`Ticket::decoded`] and the URL carries [`Ticket::encoded`]
//! (every character but `A-Z a-z 0-9 - . _ ~` escaped, exactly once). Use
//! [`Ticket::from_decoded`] for a value that must not be decoded at all.
//!
//! ```
//! use kaifang_proto_ilab::Ticket;
//! let a = Ticket::new("22Wedtn1xc%2B1U%2F%3D")?;
//! let b = Ticket::new("22Wedtn1xc+1U/=")?;
//! assert_eq!(a.encoded(), "22Wedtn1xc%2B1U%2F%3D");
//! assert_eq!(a.encoded(), b.encoded());
//! assert_eq!(a.decoded().expose_secret(), "22Wedtn1xc+1U/=");
//! assert!(Ticket::new("abc%252B").is_err()); // encoded twice
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use std::fmt;

use kaifang_proto_core::Error;
use kaifang_proto_core::secret::SecretString;
use kaifang_sign_core::digest;
use kaifang_sign_core::hex::{HexCase, HexString};

use crate::app::encode_component;
use crate::claims;

/// Longest ticket accepted (a JWT ticket is about 150 bytes, an iLab-x ticket about 110).
pub const MAX_LEN: usize = 8 * 1024;

/// A ticket, held decoded. `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    decoded: SecretString,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket([redacted] len={})", self.decoded.len())
    }
}

impl Ticket {
    /// A ticket given encoded or decoded (see the module docs for the exact contract).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty ticket, one longer than [`MAX_LEN`], one with characters
    /// no ticket has (controls, non-ASCII), or one still holding `%` after decoding (encoded
    /// twice).
    pub fn new(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        check_len(raw)?;
        let mut buf = vec![0u8; raw.len()];
        let decoded = kaifang_sign_core::ilab::unquote_into(raw, &mut buf)
            .map_err(|_| Error::Config("ilab: ticket could not be percent-decoded".into()))?;
        if decoded.contains('%') {
            return Err(Error::Config(
                "ilab: the ticket still holds `%` after one URL-decoding: it was encoded twice; pass it as found in the URL (encoded once) or decoded".into(),
            ));
        }
        let repaired = decoded.replace(' ', "+");
        buf.fill(0);
        Self::from_decoded(repaired)
    }

    /// A ticket that is already decoded: no percent-decoding, no repair.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty or too long ticket, or one with spaces, controls or
    /// non-ASCII characters.
    pub fn from_decoded(decoded: impl Into<String>) -> Result<Self, Error> {
        let decoded = SecretString::new(decoded);
        let text = decoded.expose_secret();
        check_len(text)?;
        if let Some(pos) = text.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(Error::Config(format!(
                "ilab: the ticket has a character no ticket has (space, control or non-ASCII) at byte {pos}"
            )));
        }
        Ok(Ticket { decoded })
    }

    /// The ticket from the experiment page's URL (or its query string): the raw value of the
    /// `ticket` parameter, decoded once as in [`Ticket::new`].
    ///
    /// ```
    /// use kaifang_proto_ilab::Ticket;
    /// let t = Ticket::from_url("https://lab.example/index.html?ticket=a%2Bb%3D&from=ilab")?;
    /// assert_eq!(t.decoded().expose_secret(), "a+b=");
    /// # Ok::<(), kaifang_proto_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when there is no `ticket` parameter, or as [`Ticket::new`].
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let query = url.split_once('?').map_or(url, |(_, q)| q);
        let query = query.split('#').next().unwrap_or_default();
        let raw = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "ticket")
            .map(|(_, value)| value)
            .ok_or_else(|| Error::Config("ilab: the URL has no `ticket` parameter".into()))?;
        Self::new(raw)
    }

    /// The decoded ticket: what the signature is computed over.
    pub fn decoded(&self) -> &SecretString {
        &self.decoded
    }

    /// The ticket URL-encoded exactly once: what the URL carries.
    pub fn encoded(&self) -> String {
        encode_component(self.decoded.expose_secret())
    }

    /// A non-secret identifier for cache keys: the `userId` claim of a JWT ticket (unverified;
    /// it equals the token's `un`), else `t-` and 12 hex digits of the ticket's MD5.
    pub fn id(&self) -> String {
        claims::decode_unverified(self.decoded.expose_secret())
            .ok()
            .and_then(|c| c.user_id.or(c.un))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| {
                let md5 = digest::md5(self.decoded.expose_secret().as_bytes());
                let hex = HexString::<32>::encode(&md5, HexCase::Lower);
                format!("t-{}", hex.as_str().get(..12).unwrap_or_default())
            })
    }
}

fn check_len(text: &str) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::Config(
            "ilab: the ticket is empty; it comes from the platform's 我要做实验 button".into(),
        ));
    }
    if text.len() > MAX_LEN {
        return Err(Error::Config(format!(
            "ilab: the ticket is {} bytes long, more than {MAX_LEN}",
            text.len()
        )));
    }
    Ok(())
}
