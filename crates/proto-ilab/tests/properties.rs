//! Properties: decoding and parsing never panic on any input, and the ticket contract holds for
//! every ticket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaifang_proto_ilab::upload::DataUpload;
use kaifang_proto_ilab::{Ticket, decode_unverified};
use proptest::prelude::*;

proptest! {
    #[test]
    fn claims_never_panic_on_any_text(s in ".{0,300}") {
        let _ = decode_unverified(&s);
    }

    #[test]
    fn claims_never_panic_on_any_payload(header in "[A-Za-z0-9_-]{0,20}", payload in proptest::collection::vec(any::<u8>(), 0..200), sig in "[A-Za-z0-9_=-]{0,20}") {
        let jwt = format!("{header}.{}.{sig}", URL_SAFE_NO_PAD.encode(&payload));
        let _ = decode_unverified(&jwt);
    }

    #[test]
    fn claims_of_any_json_object_decode_or_fail_cleanly(un in "[0-9a-z]{1,20}", exp in any::<i64>(), scope in "[a-z:]{0,20}") {
        let payload = serde_json::json!({"un": un, "exp": exp, "scope": [scope.clone()], "other": {"x": 1}});
        let jwt = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload.to_string()));
        let c = decode_unverified(&jwt).unwrap();
        prop_assert_eq!(c.un.as_deref(), Some(un.as_str()));
        prop_assert_eq!(c.exp, Some(exp));
        prop_assert_eq!(c.scope, vec![scope]);
        prop_assert!(c.extra.contains_key("other"));
    }

    #[test]
    fn ticket_never_panics(s in ".{0,200}") {
        if let Ok(t) = Ticket::new(&s) {
            let _ = t.encoded();
            let _ = t.id();
        }
        let _ = Ticket::from_url(&s);
    }

    #[test]
    fn base64_tickets_round_trip_encoded_or_not(bytes in proptest::collection::vec(any::<u8>(), 1..120)) {
        let decoded = STANDARD.encode(&bytes);
        let a = Ticket::new(&decoded).unwrap();
        let b = Ticket::new(&a.encoded()).unwrap();
        prop_assert_eq!(a.decoded().expose_secret(), decoded.as_str());
        prop_assert_eq!(b.decoded().expose_secret(), decoded.as_str());
        prop_assert_eq!(a.encoded(), b.encoded());
        prop_assert!(!a.encoded().contains(['+', '/', '=']));
    }

    #[test]
    fn upload_parser_never_panics(s in ".{0,300}") {
        let _ = DataUpload::from_json(s.as_bytes());
    }
}
