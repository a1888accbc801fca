//! Every platform's signature computed offline with `kaifang-sign-core`, printing the
//! intermediate values. Run: `cargo run -p kaifang-examples --example sign_offline`.

use kaifang_sign_core::Error;
use kaifang_sign_core::aliyun::{self, MqttSign, SecureMode, SignMethod};
use kaifang_sign_core::hex::HexCase;
use kaifang_sign_core::tianyi::{StringToSign, TianyiSigner};
use kaifang_sign_core::{ilab, zhiyun};

fn main() -> Result<(), Error> {
    // Tianyi: the seed document's getAuthPageUrl params, with a fixed state and timestamp.
    let signer = TianyiSigner::new(b"88bd97ee5e9949c2bc48efb6e6fa2207");
    let plain =
        "callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&loginClientType=10010";
    let mut buf = [0u8; 256];
    let params = signer.encrypt_params_hex(plain.as_bytes(), HexCase::Lower, &mut buf)?;
    let sts = StringToSign {
        app_id: "693299085757",
        client_type: 3,
        params,
        timestamp: 1_700_000_000_000,
        version: "2.0",
    };
    println!("tianyi   params          {params}");
    println!("tianyi   string-to-sign  {sts}");
    println!(
        "tianyi   signature       {}",
        signer.sign(&sts, HexCase::Lower)
    );

    // Zhiyun: the seed's p_ example and Basic header.
    let mut auth = [0u8; 64];
    println!(
        "zhiyun   p_              {}",
        zhiyun::check_value(1_422_339_152_058)
    );
    println!(
        "zhiyun   Authorization   {}",
        zhiyun::basic_authorization("1102084294", "aku8hCyXBd9SqYkT", &mut auth)?
    );

    // iLab: the seed's ticket, appid and secret.
    let ticket = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI";
    println!(
        "ilab     signature       {}",
        ilab::signature(ticket, "1681600222748241929", "123456")
    );

    // Aliyun IoT: the documentation's MQTT vector and the dynamic-registration vector.
    let sign = MqttSign {
        product_key: "pk",
        device_name: "device",
        device_secret: "secret",
        client_id: "12345",
        timestamp: Some(789),
        sign_method: SignMethod::HmacSha1,
        secure_mode: SecureMode::Tcp,
    };
    let mut creds_buf = [0u8; 96];
    let creds = sign.credentials(&mut creds_buf)?;
    println!("aliyun   mqtt clientId   {}", creds.client_id);
    println!("aliyun   mqtt username   {}", creds.username);
    println!("aliyun   mqtt password   {}", creds.password);
    println!(
        "aliyun   register sign   {}",
        aliyun::register_sign(
            "a1csED27mp7",
            "AdvExample_dyn1",
            "VuULINCrtTAzCSzp",
            "2HyP9O70q5t9VuX"
        )
    );
    Ok(())
}
