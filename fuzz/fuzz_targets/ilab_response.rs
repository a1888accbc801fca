//! Every iLab response parser on arbitrary bytes, with a fuzzed status and content type:
//! `AccessTokenRequest`, `RefreshRequest` (both profiles, both refresh numbers),
//! `DataUploadRequest` and `AttachmentUpload` (`Exchange::parse`), `response::check` for each
//! endpoint, `auth::parse_answer`, and the server half's `DataUpload::from_json`.
//!
//! Invariants: no panic; no error holds the app secret; a `2xx` answer is never `HttpStatus`;
//! a received data upload re-rendered with `to_json` parses to the same record.
#![no_main]

use kaifang_fuzz::{assert_no_secret, ctx, split};
use kaifang_proto_core::Error;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::secret::SecretString;
use kaifang_proto_ilab::auth::parse_answer;
use kaifang_proto_ilab::codes::Endpoint;
use kaifang_proto_ilab::response;
use kaifang_proto_ilab::upload::DataUpload;
use kaifang_proto_ilab::{
    AccessTokenRequest, Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig, Lineage,
    Profile, RefreshRequest, Ticket,
};
use libfuzzer_sys::fuzz_target;

const APPID: &str = "1681600222748241929";
const SECRET: &str = "s3cr3t-0f-th3-3xp3r1m3nt-9f8e7d";

fn check<T>(r: &Result<T, Error>, status: http::StatusCode) {
    if let Err(e) = r {
        assert_no_secret(e, SECRET);
        if status.is_success() {
            assert!(
                !matches!(e, Error::HttpStatus { .. }),
                "2xx became HttpStatus: {e:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, flags, body)) = split(data) else {
        return;
    };
    let ctx = ctx();
    let profile = if flags & 1 != 0 {
        Profile::IlabX
    } else {
        Profile::Roncoo
    };
    let app = Ilab::new(IlabConfig::new("http://127.0.0.1:1", APPID, SECRET).profile(profile))
        .expect("valid config");
    let resp = head.response(body);
    let status = resp.status();
    let access = SecretString::new("access-token");

    let ticket = Ticket::new("a%2Bb%3D").expect("valid ticket");
    check(
        &AccessTokenRequest::new(&app, ticket).parse(&ctx, resp.clone()),
        status,
    );
    for number in [1, 2] {
        check(
            &RefreshRequest::forced(&app, &access, number).parse(&ctx, resp.clone()),
            status,
        );
    }
    if let Ok(record) = DataUpload::builder("u", "t", "o").times(0, 60_000).build() {
        check(
            &DataUploadRequest::new(&app, &access, &record).parse(&ctx, resp.clone()),
            status,
        );
    }
    if let Ok(a) = Attachment::new("o", "r.pdf", b"%PDF".to_vec()) {
        check(
            &AttachmentUpload::new(&app, &access, a).parse(&ctx, resp.clone()),
            status,
        );
    }
    for endpoint in [Endpoint::Token, Endpoint::Refresh, Endpoint::Upload] {
        let checked = response::check(endpoint, &ctx, &resp);
        check(&checked, status);
        if let Ok(v) = &checked {
            for lineage in [Lineage::Original, Lineage::Refreshed { number: 1 }] {
                for p in [Profile::Roncoo, Profile::IlabX] {
                    check(&parse_answer(v, body, &ctx, p, lineage), status);
                }
            }
        }
    }

    if let Ok((appid, record)) = DataUpload::from_json(body) {
        let wire = record.to_json(&appid);
        let (appid2, again) = DataUpload::from_json(&wire).expect("own JSON parses");
        assert_eq!(appid2, appid);
        assert_eq!(again.to_json(&appid2), wire, "render-parse-render differs");
    }
});
