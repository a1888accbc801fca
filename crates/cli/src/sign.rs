//! `kaifang sign ...` and `kaifang xxtea ...`: every platform's signature computed offline.
//!
//! These commands exist to show values: the computed signatures, ciphertexts and headers are
//! printed, and `--explain` adds every intermediate value (the signed content, the lengths of
//! the pieces, which key is used and how long it is). A secret itself is never printed, neither
//! in the output nor in an error: only its length.
//!
//! | command | JSON fields |
//! |---|---|
//! | `sign tianyi` | `params`, `signature`, `string_to_sign`, `body` |
//! | `sign zhiyun` | `p_`, `authorization` |
//! | `sign ilab` | `signature` |
//! | `sign aliyun-mqtt` | `client_id`, `username`, `password` |
//! | `sign aliyun-register` | `sign` |
//! | `xxtea encrypt` (also `sign xxtea encrypt`) | `hex` |
//! | `xxtea decrypt` (also `sign xxtea decrypt`) | `data` |
//!
//! With `--json` the output is one JSON object, and `--explain` adds an `explain` object to it;
//! without `--json` it is `key: value` lines in a fixed order.
//!
//! Every secret flag can come from an environment variable instead (named in `--help`, whose
//! value `--help` never shows), which keeps it out of the shell history and the process list.

use std::io::Write;

use clap::builder::{NonEmptyStringValueParser, TypedValueParser};
use clap::{Args, Subcommand, ValueEnum};
use kaifang::core::secret::SecretString;
use kaifang::sign::aliyun::{self, MqttSign, SecureMode, SignMethod};
use kaifang::sign::hex;
use kaifang::sign::tianyi::StringToSign;
use kaifang::sign::xxtea::{self, XxteaKey};
use kaifang::sign::{ilab, zhiyun};
use kaifang::tianyi::{Case, PrivateParams, Tianyi, TianyiConfig, sign_form};
use serde_json::{Map, Value, json};

use crate::exit::CliError;

/// `kaifang sign`: offline signing for every platform.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(subcommand)]
    command: SignCommand,
}

/// The platforms `kaifang sign` knows.
#[derive(Debug, Subcommand)]
enum SignCommand {
    /// Tianyi VCP: XXTEA-encrypted params, HMAC-SHA256 signature and the form body.
    Tianyi(TianyiArgs),
    /// Zhiyun: the `p_` check value and the Basic `Authorization` header.
    Zhiyun(ZhiyunArgs),
    /// iLab-x style: the ticket signature, UPPER(MD5(unquote(ticket) + appid + secret)).
    Ilab(IlabArgs),
    /// Aliyun IoT: MQTT direct-connect clientId, username and password.
    AliyunMqtt(AliyunMqttArgs),
    /// Aliyun IoT: the dynamic-registration (一型一密) signature.
    AliyunRegister(AliyunRegisterArgs),
    /// xxtea-py compatible XXTEA (the same as `kaifang xxtea`).
    Xxtea(XxteaArgs),
}

/// `kaifang xxtea`: xxtea-py compatible XXTEA, offline.
#[derive(Debug, Args)]
pub(crate) struct XxteaArgs {
    #[command(subcommand)]
    command: XxteaCommand,
}

/// Encrypt or decrypt.
#[derive(Debug, Subcommand)]
enum XxteaCommand {
    /// Encrypts UTF-8 text and prints the ciphertext as lower-case hex.
    Encrypt(XxteaEncryptArgs),
    /// Decrypts hex ciphertext (either case) and prints the UTF-8 text.
    Decrypt(XxteaDecryptArgs),
}

/// How to print the result; shared by every subcommand.
#[derive(Debug, Clone, Copy, Args)]
struct OutputArgs {
    /// Prints one JSON object instead of `key: value` lines.
    #[arg(long)]
    json: bool,
    /// Adds every intermediate value (signed content, lengths; never a secret).
    #[arg(long)]
    explain: bool,
}

/// `kaifang sign tianyi`.
#[derive(Debug, Args)]
struct TianyiArgs {
    /// `appId`.
    #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    app_id: String,
    /// `appSecret`: the HMAC key (whole) and the XXTEA key (first 16 bytes).
    #[arg(
        long,
        value_name = "SECRET",
        env = "KAIFANG_TIANYI_APP_SECRET",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    app_secret: SecretString,
    /// `clientType`: 0 iOS, 1 Android, 2 web, 3 PC, 4 server.
    #[arg(long, value_name = "N")]
    client_type: u32,
    /// `version`, part of the signature (e.g. `2.0`, `v2.0`, `v1.0`, `1.1`).
    #[arg(long, value_name = "V")]
    version: String,
    /// `timestamp` in Unix milliseconds.
    #[arg(long, value_name = "MS")]
    timestamp: u64,
    /// The plaintext private params, `k1=v1&k2=v2` (raw, in the order to send).
    #[arg(long, value_name = "STR")]
    params: String,
    /// Upper-case hex for both `params` and `signature` (Java's and C#'s clients).
    #[arg(long)]
    upper: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kaifang sign zhiyun`.
#[derive(Debug, Args)]
struct ZhiyunArgs {
    /// `client_id`.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// `client_secret`.
    #[arg(
        long,
        value_name = "SECRET",
        env = "KAIFANG_ZHIYUN_CLIENT_SECRET",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    client_secret: SecretString,
    /// `t_`, in the unit the client sends (milliseconds by default).
    #[arg(long, value_name = "T")]
    timestamp: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kaifang sign ilab`.
#[derive(Debug, Args)]
struct IlabArgs {
    /// The ticket as received (URL-encoded or not; it is percent-decoded before signing).
    #[arg(long, value_name = "T")]
    ticket: String,
    /// The platform's appid.
    #[arg(long, value_name = "A")]
    app_id: String,
    /// The platform's secret.
    #[arg(
        long,
        value_name = "S",
        env = "KAIFANG_ILAB_SECRET",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    secret: SecretString,
    #[command(flatten)]
    output: OutputArgs,
}

/// `signmethod` of the MQTT password.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum MethodArg {
    /// HMAC-MD5.
    Hmacmd5,
    /// HMAC-SHA1.
    Hmacsha1,
    /// HMAC-SHA256.
    Hmacsha256,
}

impl From<MethodArg> for SignMethod {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Hmacmd5 => SignMethod::HmacMd5,
            MethodArg::Hmacsha1 => SignMethod::HmacSha1,
            MethodArg::Hmacsha256 => SignMethod::HmacSha256,
        }
    }
}

/// `securemode` of the MQTT clientId.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// TLS direct connection.
    #[value(name = "2")]
    Tls,
    /// Plain TCP.
    #[value(name = "3")]
    Tcp,
}

impl From<ModeArg> for SecureMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Tls => SecureMode::Tls,
            ModeArg::Tcp => SecureMode::Tcp,
        }
    }
}

/// `kaifang sign aliyun-mqtt`.
#[derive(Debug, Args)]
struct AliyunMqttArgs {
    /// ProductKey.
    #[arg(long, value_name = "PK")]
    product_key: String,
    /// DeviceName.
    #[arg(long, value_name = "DN")]
    device_name: String,
    /// DeviceSecret (the HMAC key).
    #[arg(
        long,
        value_name = "DS",
        env = "KAIFANG_DEVICE_SECRET",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    device_secret: SecretString,
    /// The client id before the `|...|` extension (IMEI, MAC, or `pk.dn`).
    #[arg(long, value_name = "C")]
    client_id: String,
    /// Milliseconds; when absent, `timestamp` is left out of the clientId and the signature.
    #[arg(long, value_name = "MS")]
    timestamp: Option<u64>,
    /// `signmethod`: the HMAC of the password.
    #[arg(long, value_enum)]
    sign_method: MethodArg,
    /// `securemode`: 2 for TLS, 3 for plain TCP.
    #[arg(long, value_enum)]
    secure_mode: ModeArg,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kaifang sign aliyun-register`.
#[derive(Debug, Args)]
struct AliyunRegisterArgs {
    /// ProductKey.
    #[arg(long, value_name = "PK")]
    product_key: String,
    /// DeviceName.
    #[arg(long, value_name = "DN")]
    device_name: String,
    /// ProductSecret (the HMAC-SHA256 key).
    #[arg(
        long,
        value_name = "PS",
        env = "KAIFANG_PRODUCT_SECRET",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    product_secret: SecretString,
    /// The random string sent with the request.
    #[arg(long, value_name = "R")]
    random: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kaifang xxtea encrypt`.
#[derive(Debug, Args)]
struct XxteaEncryptArgs {
    /// The key (xxtea-py semantics: first 16 bytes, zero-padded, cut at the first NUL).
    #[arg(
        long,
        value_name = "K",
        env = "KAIFANG_XXTEA_KEY",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    key: SecretString,
    /// The UTF-8 plaintext.
    #[arg(long, value_name = "STR")]
    data: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// `kaifang xxtea decrypt`.
#[derive(Debug, Args)]
struct XxteaDecryptArgs {
    /// The key (xxtea-py semantics: first 16 bytes, zero-padded, cut at the first NUL).
    #[arg(
        long,
        value_name = "K",
        env = "KAIFANG_XXTEA_KEY",
        hide_env_values = true,
        value_parser = secret_parser()
    )]
    key: SecretString,
    /// The ciphertext in hex (either case).
    #[arg(long, value_name = "HEX")]
    hex: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Secrets are non-empty and held in a [`SecretString`] (redacted `Debug`, zeroized on drop).
fn secret_parser() -> impl TypedValueParser<Value = SecretString> {
    NonEmptyStringValueParser::new().map(SecretString::from)
}

/// Runs `kaifang sign ...`.
pub(crate) fn run(args: SignArgs) -> Result<(), CliError> {
    let (report, output) = match args.command {
        SignCommand::Tianyi(a) => (tianyi(&a)?, a.output),
        SignCommand::Zhiyun(a) => (zhiyun(&a)?, a.output),
        SignCommand::Ilab(a) => (ilab(&a)?, a.output),
        SignCommand::AliyunMqtt(a) => (aliyun_mqtt(&a)?, a.output),
        SignCommand::AliyunRegister(a) => (aliyun_register(&a), a.output),
        SignCommand::Xxtea(a) => return run_xxtea(a),
    };
    report.print(output)
}

/// Runs `kaifang xxtea ...` (and `kaifang sign xxtea ...`).
pub(crate) fn run_xxtea(args: XxteaArgs) -> Result<(), CliError> {
    let (report, output) = match args.command {
        XxteaCommand::Encrypt(a) => (xxtea_encrypt(&a)?, a.output),
        XxteaCommand::Decrypt(a) => (xxtea_decrypt(&a)?, a.output),
    };
    report.print(output)
}

/// The names of the string-to-sign's pieces, in the order [`StringToSign::for_each_part`]
/// feeds them.
const TIANYI_PARTS: [&str; 5] = ["appId", "clientType", "params", "timestamp", "version"];

fn tianyi(a: &TianyiArgs) -> Result<Report, CliError> {
    // The envelope signs `PrivateParams`; the string given must be exactly what they send.
    let params = PrivateParams::parse_plain(&a.params);
    if params.to_plain().as_str() != a.params {
        return Err(CliError::bad_input(
            "--params is not in the `k1=v1&k2=v2` form the platform parses: every piece between \
             `&` needs a `=`, and no piece may be empty",
        ));
    }
    let case = if a.upper { Case::Upper } else { Case::Lower };
    let secret = a.app_secret.expose_secret();
    let config = TianyiConfig::new(a.app_id.as_str(), secret)
        .client_type(a.client_type)
        .version(a.version.as_str())
        .case(case, case);
    let app = Tianyi::new(config)?;
    let form = sign_form(&app, &params, a.timestamp)?;

    let sts = StringToSign {
        app_id: &a.app_id,
        client_type: a.client_type,
        params: &form.params,
        timestamp: a.timestamp,
        version: &a.version,
    };
    let mut parts = Vec::with_capacity(TIANYI_PARTS.len());
    sts.for_each_part(|part| {
        let name = TIANYI_PARTS.get(parts.len()).copied().unwrap_or("?");
        parts.push(json!({
            "name": name,
            "value": String::from_utf8_lossy(part),
            "len": part.len(),
        }));
    });

    Ok(Report::default()
        .field("params", form.params.as_str())
        .field("signature", form.signature.as_str())
        .field("string_to_sign", form.string_to_sign.as_str())
        .field("body", form.body.as_str())
        .explain("params_plain", a.params.as_str())
        .explain("params_plain_len", a.params.len())
        .explain(
            "xxtea_key",
            "the first 16 bytes of the app secret (zero-padded, cut at the first NUL)",
        )
        .explain("xxtea_key_len", xxtea_key_len(secret))
        .explain("ciphertext_len", form.params.len() / 2)
        .explain("params_hex_len", form.params.len())
        .explain("hex_case", if a.upper { "upper" } else { "lower" })
        .explain("string_to_sign_parts", parts)
        .explain("string_to_sign_len", sts.len())
        .explain("hmac", "HMAC-SHA256")
        .explain("hmac_key", "the whole app secret")
        .explain("hmac_key_len", secret.len()))
}

fn zhiyun(a: &ZhiyunArgs) -> Result<Report, CliError> {
    let secret = a.client_secret.expose_secret();
    let mut buf = vec![0u8; zhiyun::basic_authorization_len(a.client_id.len(), secret.len())];
    let authorization = zhiyun::basic_authorization(&a.client_id, secret, &mut buf)?;
    Ok(Report::default()
        .field("p_", zhiyun::check_value(a.timestamp))
        .field("authorization", authorization)
        .explain("t_", a.timestamp)
        .explain("t_mod_10000", a.timestamp % 10_000)
        .explain("p_formula", "(t_ % 10000) * 3 + 2345")
        .explain("credentials", "base64(client_id + \":\" + client_secret)")
        .explain("credentials_len", a.client_id.len() + 1 + secret.len())
        .explain("client_secret_len", secret.len()))
}

fn ilab(a: &IlabArgs) -> Result<Report, CliError> {
    let secret = a.secret.expose_secret();
    let mut buf = vec![0u8; a.ticket.len()];
    let decoded = ilab::unquote_into(&a.ticket, &mut buf)?;
    let signature = ilab::signature(&a.ticket, &a.app_id, secret);
    let mut report = Report::default()
        .field("signature", signature.as_str())
        .explain("ticket_decoded", decoded)
        .explain("ticket_decoded_len", decoded.len())
        .explain("ticket_was_encoded", decoded != a.ticket)
        .explain("md5_input", "unquote(ticket) + app_id + secret")
        .explain(
            "md5_input_len",
            decoded.len() + a.app_id.len() + secret.len(),
        )
        .explain("secret_len", secret.len())
        .explain("hex_case", "upper");
    if decoded != a.ticket {
        // The classic bug, shown so that a rejected signature can be recognised.
        let wrong = ilab::signature_decoded(&a.ticket, &a.app_id, secret);
        report = report.explain("signature_if_ticket_not_decoded", wrong.as_str());
    }
    Ok(report)
}

fn aliyun_mqtt(a: &AliyunMqttArgs) -> Result<Report, CliError> {
    let secret = a.device_secret.expose_secret();
    let sign = MqttSign {
        product_key: &a.product_key,
        device_name: &a.device_name,
        device_secret: secret,
        client_id: &a.client_id,
        timestamp: a.timestamp,
        sign_method: a.sign_method.into(),
        secure_mode: a.secure_mode.into(),
    };
    let mut buf = vec![0u8; sign.buffer_len()];
    let creds = sign.credentials(&mut buf)?;
    let mut content = format!(
        "clientId{}deviceName{}productKey{}",
        a.client_id, a.device_name, a.product_key
    );
    if let Some(ts) = a.timestamp {
        content.push_str("timestamp");
        content.push_str(&ts.to_string());
    }
    let method = sign.sign_method.as_str();
    Ok(Report::default()
        .field("client_id", creds.client_id)
        .field("username", creds.username)
        .field("password", creds.password.as_str())
        .explain("sign_content_len", content.len())
        .explain("sign_content", content)
        .explain("hmac", method)
        .explain("hmac_key", "the device secret")
        .explain("hmac_key_len", secret.len())
        .explain("secure_mode", sign.secure_mode.as_u8())
        .explain("timestamp", a.timestamp.map_or(Value::Null, Value::from)))
}

fn aliyun_register(a: &AliyunRegisterArgs) -> Report {
    let secret = a.product_secret.expose_secret();
    let sign = aliyun::register_sign(&a.product_key, &a.device_name, secret, &a.random);
    let content = format!(
        "deviceName{}productKey{}random{}",
        a.device_name, a.product_key, a.random
    );
    Report::default()
        .field("sign", sign.as_str())
        .explain("sign_content_len", content.len())
        .explain("sign_content", content)
        .explain("hmac", SignMethod::HmacSha256.as_str())
        .explain("hmac_key", "the product secret")
        .explain("hmac_key_len", secret.len())
}

fn xxtea_encrypt(a: &XxteaEncryptArgs) -> Result<Report, CliError> {
    let secret = a.key.expose_secret();
    let key = XxteaKey::new(secret.as_bytes());
    let cipher = xxtea::encrypt(&key, a.data.as_bytes())
        .map_err(|e| CliError::bad_input(format!("--data: {e}")))?;
    let mut out = vec![0u8; cipher.len() * 2];
    let hex = hex::encode_to_slice(&cipher, hex::HexCase::Lower, &mut out)?;
    Ok(Report::default()
        .field("hex", hex)
        .explain("data_len", a.data.len())
        .explain("key_len", secret.len())
        .explain("xxtea_key_len", xxtea_key_len(secret))
        .explain(
            "framing",
            "little-endian words, zero-padded, plus a last word holding the data length",
        )
        .explain("ciphertext_len", cipher.len()))
}

fn xxtea_decrypt(a: &XxteaDecryptArgs) -> Result<Report, CliError> {
    let secret = a.key.expose_secret();
    let mut cipher = vec![0u8; a.hex.len() / 2];
    hex::decode_to_slice(&a.hex, &mut cipher)
        .map_err(|e| CliError::bad_input(format!("--hex: {e}")))?;
    let key = XxteaKey::new(secret.as_bytes());
    let plain = xxtea::decrypt(&key, &cipher)
        .map_err(|e| CliError::bad_input(format!("--hex (with this --key): {e}")))?;
    let plain_len = plain.len();
    let data = String::from_utf8(plain).map_err(|e| {
        CliError::bad_input(format!(
            "--hex: the decrypted data ({plain_len} bytes) is not UTF-8 text (invalid at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Report::default()
        .field("data", data.as_str())
        .explain("ciphertext_len", cipher.len())
        .explain("data_len", plain_len)
        .explain("key_len", secret.len())
        .explain("xxtea_key_len", xxtea_key_len(secret)))
}

/// How many bytes of `secret` the XXTEA key really uses: at most 16, up to the first NUL.
fn xxtea_key_len(secret: &str) -> usize {
    secret.bytes().take(16).take_while(|&b| b != 0).count()
}

/// The result of one command: its fields in order, and its intermediate values.
#[derive(Debug, Default)]
struct Report {
    fields: Vec<(&'static str, Value)>,
    explain: Vec<(&'static str, Value)>,
}

impl Report {
    fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    fn explain(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.explain.push((key, value.into()));
        self
    }

    fn render(&self, output: OutputArgs) -> String {
        if output.json {
            let mut map: Map<String, Value> = self
                .fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            if output.explain {
                let explain = self
                    .explain
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                map.insert("explain".to_owned(), Value::Object(explain));
            }
            return format!("{:#}\n", Value::Object(map));
        }
        let mut text = String::new();
        let explain = if output.explain {
            self.explain.as_slice()
        } else {
            &[]
        };
        for (key, value) in self.fields.iter().chain(explain) {
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        text.push_str(&format!("{key}[{i}]: {}\n", item_text(item)));
                    }
                }
                other => text.push_str(&format!("{key}: {}\n", scalar_text(other))),
            }
        }
        text
    }

    fn print(&self, output: OutputArgs) -> Result<(), CliError> {
        let text = self.render(output);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::bad_input(format!("cannot write the output: {e}")))
    }
}

/// A value as text: strings without quotes, everything else as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A string-to-sign piece as `name (len bytes): value`; other items as [`scalar_text`].
fn item_text(item: &Value) -> String {
    match (item.get("name"), item.get("len"), item.get("value")) {
        (Some(name), Some(len), Some(value)) => format!(
            "{} ({} bytes): {}",
            scalar_text(name),
            scalar_text(len),
            scalar_text(value)
        ),
        _ => scalar_text(item),
    }
}
