//! The iLab ticket decoding: sign-core `ilab::unquote_into`/`unquote_each`/`signature` against a
//! reference port of Python's `urllib.parse.unquote` (the platform's sample code), and
//! proto-ilab `Ticket::new`/`from_decoded`/`from_url`/`encoded` with arbitrary tickets.
//!
//! Invariants: no panic; the decoding equals the reference; `unquote_into` and `unquote_each`
//! agree and never need more than the input's length; `signature(t)` equals
//! `signature_decoded(unquote(t))`; a ticket's `encoded()` form reads back as the same ticket
//! (when it holds no `%`, which `Ticket::new` refuses by design);
//! an accepted ticket holds only printable ASCII and no `%`.
#![no_main]

use kaifang_proto_ilab::Ticket;
use kaifang_sign_core::ilab;
use libfuzzer_sys::fuzz_target;

/// Python's `unquote(s)` (utf-8, errors="replace"): unchanged without `%`; else each maximal
/// ASCII run is `unquote_to_bytes` then decoded with replacement, other characters kept.
fn reference(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars() {
        if c.is_ascii() {
            run.push(c);
        } else {
            out.push_str(&String::from_utf8_lossy(&unquote_to_bytes(&run)));
            run.clear();
            out.push(c);
        }
    }
    out.push_str(&String::from_utf8_lossy(&unquote_to_bytes(&run)));
    out
}

fn unquote_to_bytes(s: &str) -> Vec<u8> {
    let mut parts = s.as_bytes().split(|&b| b == b'%');
    let mut out = parts.next().unwrap_or_default().to_vec();
    for item in parts {
        let hex = item.get(..2).and_then(|h| std::str::from_utf8(h).ok());
        match hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) {
            Some(h) => {
                out.push(u8::from_str_radix(h, 16).expect("two hex digits"));
                out.extend_from_slice(&item[2..]);
            }
            None => {
                out.push(b'%');
                out.extend_from_slice(item);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let want = reference(text);

    let mut streamed = Vec::new();
    ilab::unquote_each(text, |part| streamed.extend_from_slice(part));
    assert_eq!(
        String::from_utf8_lossy(&streamed),
        want,
        "unquote_each differs from Python"
    );
    assert_eq!(std::str::from_utf8(&streamed).expect("valid UTF-8"), want);

    let mut buf = vec![0u8; text.len()];
    let into = ilab::unquote_into(text, &mut buf).expect("the input's length suffices");
    assert_eq!(into, want, "unquote_into differs from Python");
    if !text.is_empty() {
        let mut short = vec![0u8; text.len() - 1];
        let _ = ilab::unquote_into(text, &mut short);
    }

    assert_eq!(
        ilab::signature(text, "1681600222748241929", "123456"),
        ilab::signature_decoded(&want, "1681600222748241929", "123456"),
    );

    for ticket in [
        Ticket::new(text),
        Ticket::from_decoded(text),
        Ticket::from_url(text),
    ] {
        let Ok(ticket) = ticket else { continue };
        let decoded = ticket.decoded().expose_secret();
        assert!(!decoded.is_empty());
        assert!(decoded.bytes().all(|b| b.is_ascii_graphic()), "{decoded:?}");
        // `Ticket::new` refuses a `%` left after decoding (a ticket encoded twice), by design.
        if !decoded.contains('%') {
            let again = Ticket::new(&ticket.encoded()).expect("an encoded ticket reads back");
            assert_eq!(again.decoded().expose_secret(), decoded);
        }
        let _ = ticket.id();
    }
    if let Ok(ticket) = Ticket::new(text) {
        assert!(!ticket.decoded().expose_secret().contains('%'));
    }
});
