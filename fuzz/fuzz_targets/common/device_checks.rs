// The proto-device checks that need neither `std` nor `http`: included by `device_response`
// (std build) and `device_response_nostd` (`default-features = false`).
//
// Invariants: no panic; a provisioned configuration re-rendered by the server half's
// `to_result_value` parses back to itself; `ProvisionRequest` and `Endpoint` survive
// render-and-parse; IMEI/ICCID parse back from their text.

use kaifang_proto_device::config::Endpoint;
use kaifang_proto_device::devicename::parse_devicename_response;
use kaifang_proto_device::dynreg::parse_register_response;
use kaifang_proto_device::{
    DeviceConfig, Iccid, Imei, ProvisionOutcome, ProvisionRequest, parse_response,
};

/// Runs every no_std parser of proto-device on `body`.
pub fn device_checks(body: &[u8]) {
    if let Ok(outcome) = parse_response(body) {
        let code = outcome.code();
        match outcome.clone().into_config() {
            Ok(config) => {
                assert!(matches!(outcome, ProvisionOutcome::Provisioned(_)));
                round_trip_config(&config);
            }
            Err(_) => assert!(
                !matches!(outcome, ProvisionOutcome::Provisioned(_)),
                "{code:?}"
            ),
        }
    }
    if let Ok(registered) = parse_register_response(body) {
        if let Ok(config) = DeviceConfig::with_product_secret(
            registered.product_key.clone(),
            registered.device_name.clone(),
            "product-secret",
        ) {
            let config = config
                .registered(registered)
                .expect("same product and device");
            round_trip_config(&config);
        }
    }
    let _ = parse_devicename_response(body);
    if let Ok(request) = ProvisionRequest::from_json(body) {
        let again = ProvisionRequest::from_json(&request.to_json()).expect("own JSON parses");
        assert_eq!(again, request);
    }
    if let Ok(text) = core::str::from_utf8(body) {
        if let Ok(ep) = Endpoint::parse(text, 1883) {
            let again =
                Endpoint::parse(&alloc_format(&ep.host, ep.port), 1).expect("host:port parses");
            assert_eq!(again, ep);
        }
        if let Ok(imei) = Imei::parse(text) {
            assert_eq!(Imei::parse(imei.as_str()).expect("IMEI text parses"), imei);
        }
        if let Ok(iccid) = Iccid::parse(text) {
            assert_eq!(
                Iccid::parse(iccid.as_str()).expect("ICCID text parses"),
                iccid
            );
        }
    }
}

fn alloc_format(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

fn round_trip_config(config: &DeviceConfig) {
    let wire = serde_json::json!({"code": "00000", "result": config.to_result_value()});
    let bytes = serde_json::to_vec(&wire).expect("a Value serializes");
    match parse_response(&bytes) {
        Ok(ProvisionOutcome::Provisioned(back)) => assert_eq!(&back, config),
        other => panic!("re-rendered configuration does not parse back: {other:?} from {wire}"),
    }
}
