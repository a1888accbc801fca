//! The `/xml` format.
//!
//! No XML sample of this API is public, so its shape is kaifang's choice \[I\]: the JSON envelope
//! with `response` as root, `code` and `message` first, and each field of `data` as an element,
//! in the JSON order. The server half emits exactly this; the client half reads it (and any
//! element order, extra elements, `<x/>` for empty values) into the same types as JSON.
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?><response><code>200</code><message>ok</message><data><auth_code>c3a8…</auth_code></data></response>
//! <?xml version="1.0" encoding="UTF-8"?><response><code>100019</code><message>Authorization code does not exist, please reauthorize</message><data/></response>
//! ```
//!
//! `null` is written as an empty element (`<status/>`), which reads back as `""`, or `None` for
//! `status`: the one field the JSON sample sends as `null`.
//!
//! ```
//! use kaifang_proto_zhiyun::{UserInfo, xml};
//! let user = UserInfo { username: "li******40".into(), nowtime: Some(1_522_404_566), ..UserInfo::default() };
//! let text = xml::render(200, "ok", Some(&user))?;
//! assert!(text.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><response><code>200</code><message>ok</message><data><username>li******40</username>"#));
//! let back: UserInfo = xml::data(text.as_bytes())?;
//! assert_eq!(back, user);
//! # Ok::<(), kaifang_proto_core::Error>(())
//! ```

use kaifang_proto_core::Error;
use kaifang_proto_core::redact;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::de;

/// The XML declaration that starts every answer.
pub const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The root element.
pub const ROOT: &str = "response";

#[derive(Serialize)]
#[serde(rename = "response")]
struct Out<'a, T> {
    code: i64,
    message: &'a str,
    data: Option<&'a T>,
}

/// Renders an answer: declaration, then `<response><code/><message/><data/></response>`
/// (`<data/>` when `data` is `None`, as for errors).
///
/// # Errors
/// [`Error::Config`] when `T` cannot be represented in XML (maps with non-string keys, ...).
pub fn render<T: Serialize>(code: i64, message: &str, data: Option<&T>) -> Result<String, Error> {
    let body = quick_xml::se::to_string(&Out {
        code,
        message,
        data,
    })
    .map_err(|e| Error::Config(format!("zhiyun: cannot render XML: {e}")))?;
    Ok(format!("{DECLARATION}{body}"))
}

#[derive(Deserialize)]
struct Head {
    #[serde(default, deserialize_with = "de::text")]
    code: String,
    #[serde(default, deserialize_with = "de::text")]
    message: String,
}

#[derive(Deserialize)]
struct WithData<T> {
    data: T,
}

/// Reads `code` and `message` (the rest is ignored).
///
/// # Errors
/// [`Error::Decode`] when the body is not UTF-8 XML of this shape.
pub fn head(body: &[u8]) -> Result<(String, String), Error> {
    let h: Head = decode(body)?;
    Ok((h.code.trim().to_owned(), h.message))
}

/// Reads `data` into `T`.
///
/// # Errors
/// [`Error::Decode`] with the path to the bad field (`data.nowtime`).
pub fn data<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    decode::<WithData<T>>(body).map(|w| w.data)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let text = std::str::from_utf8(body).map_err(|_| decode_error(".", "not UTF-8", body))?;
    let mut de = quick_xml::de::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        decode_error(&path, &scrub(&e.inner().to_string()), body)
    })
}

pub(crate) fn decode_error(path: &str, message: &str, body: &[u8]) -> Error {
    Error::Decode {
        path: path.to_owned(),
        message: format!("XML: {message}"),
        snippet: redact::truncate(
            &redact_xml(&String::from_utf8_lossy(body)),
            redact::SNIPPET_MAX,
        ),
    }
}

/// Replaces quoted values (`"…"` or `` `…` ``) of 16 bytes or more in a parser message: they may
/// be credentials. Short values (field names, `"soon"`) stay, since they make the message useful.
fn scrub(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            break;
        };
        let inner = &after[..close];
        out.push_str(&rest[..=open]);
        if inner.len() >= 16 {
            out.push_str(&redact::placeholder(inner.len()));
        } else {
            out.push_str(inner);
        }
        out.push(quote);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Redacts the text of every element whose name is sensitive
/// ([`redact::is_sensitive`]: `auth_code`, `access_token`, `client_secret`, ...), then the rest
/// as free text.
///
/// ```
/// use kaifang_proto_zhiyun::xml::redact_xml;
/// let r = redact_xml("<data><auth_code>c3a8ad070c745db455e30a51511dca819b607bf7</auth_code><x>1</x></data>");
/// assert_eq!(r, "<data><auth_code>[redacted len=40]</auth_code><x>1</x></data>");
/// ```
pub fn redact_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        let (before, tag_and_after) = rest.split_at(open);
        out.push_str(before);
        let Some(close) = tag_and_after.find('>') else {
            out.push_str(tag_and_after);
            return redact::text(&out);
        };
        let tag = &tag_and_after[..=close];
        out.push_str(tag);
        rest = &tag_and_after[close + 1..];
        let name = tag[1..tag.len() - 1]
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let is_open = !tag.starts_with("</") && !tag.ends_with("/>") && !tag.starts_with("<?");
        if is_open && !name.is_empty() && redact::is_sensitive(name) {
            // Everything up to the matching close tag (nested elements included), or the end.
            let end = rest.find(&format!("</{name}")).unwrap_or(rest.len());
            let inner = &rest[..end];
            // The envelope's own `<code>200</code>` is a status, not an OAuth code.
            let status_code =
                name == "code" && inner.len() <= 6 && inner.bytes().all(|b| b.is_ascii_digit());
            if end > 0 && !status_code {
                out.push_str(&redact::placeholder(end));
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    redact::text(&out)
}
