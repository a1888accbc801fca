//! `kaifang call <platform> <target> --param k=v ...`: one signed business call with a cached
//! token, its response printed as JSON.
//!
//! | platform | target | what |
//! |---|---|---|
//! | `tianyi` | an `/open/token/...` path | the params XXTEA-encrypted and signed, `accessToken` (and the enterprise user) added |
//! | `tf56` | a gateway method, e.g. `oauthentry/open-demo/1.0/sayHello` or `open-demo/1.0/sayHello` | the token and the `--param`s sent |
//! | `zhiyun` | `user` or `company` | `getUserInfo` / `getCompanyInfo` with a fresh auth code |
//! | `ilab` | `upload` | the experiment record of `--file record.json` (the platform's JSON format) |
//!
//! The token comes from the cache when a valid one is there (see [`crate::session`]); when the
//! platform rejects it, the cache entry is dropped, a new token fetched and the call retried once.

use std::path::PathBuf;

use kaifang::blocking::BlockingClient;
use kaifang::core::ErrorClass;
use kaifang::core::secret::AccessToken;
use serde_json::{Value, json};

use crate::exit::CliError;
use crate::platforms::{self, Platform};
use crate::session::{self, Acquired, ServerArgs};

/// `kaifang call`.
#[derive(Debug, clap::Args)]
pub(crate) struct CallArgs {
    /// The platform.
    #[arg(value_enum)]
    platform: Platform,
    /// What to call: a tianyi path, a tf56 method, zhiyun `user|company`, ilab `upload`.
    target: String,
    /// A business parameter `key=value` (repeatable; order kept).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// ilab `upload`: the record as JSON.
    #[arg(long)]
    file: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

pub(crate) fn run(args: CallArgs) -> Result<(), CliError> {
    if args.platform == Platform::Device {
        return Err(CliError::bad_input(
            "device has no business calls over HTTP; `kaifang token device` prints its MQTT credentials",
        ));
    }
    let client = session::client()?;
    let s = args.server.settings(args.platform)?;
    // Validate the target and the inputs before any token is fetched.
    let call = Prepared::new(&args, &s)?;
    let mut acquired = session::token(args.platform, &args.server, &client)?;
    let out = match call.execute(&client, &acquired) {
        Err(e) if e.class() == ErrorClass::TokenInvalid => {
            acquired.forget();
            acquired = session::token(args.platform, &args.server, &client)?;
            call.execute(&client, &acquired)?
        }
        other => other?,
    };
    println!(
        "{:#}",
        json!({"platform": args.platform.name(), "target": args.target, "token_from_cache": acquired.from_cache, "response": out})
    );
    Ok(())
}

/// A call checked and ready to run with a token.
enum Prepared {
    Tianyi(kaifang::tianyi::Tianyi, String, Vec<(String, String)>),
    Tf56(
        kaifang::tf56::Tf56,
        kaifang::tf56::ApiMethod,
        Vec<(String, String)>,
    ),
    Zhiyun(kaifang::zhiyun::Zhiyun, bool),
    Ilab(kaifang::ilab::Ilab, kaifang::ilab::upload::DataUpload),
}

impl Prepared {
    fn new(args: &CallArgs, s: &crate::config::Settings) -> Result<Self, CliError> {
        let params = args.params.clone();
        Ok(match args.platform {
            Platform::Tianyi => {
                let path = if args.target.starts_with('/') {
                    args.target.clone()
                } else {
                    format!("/open/token/{}", args.target)
                };
                if !path.starts_with("/open/token/") {
                    return Err(CliError::bad_input(format!(
                        "tianyi business calls are under /open/token/, not {path:?}"
                    )));
                }
                Prepared::Tianyi(platforms::tianyi(s)?, path, params)
            }
            Platform::Tf56 => {
                let m = args.target.trim_start_matches('/');
                let m = m.strip_prefix("oauthentry/").unwrap_or(m);
                let method = kaifang::tf56::ApiMethod::parse(m).map_err(|e| {
                    CliError::bad_input(format!("tf56 method {:?}: {e}", args.target))
                })?;
                Prepared::Tf56(platforms::tf56(s)?, method, params)
            }
            Platform::Zhiyun => {
                let company = match args.target.as_str() {
                    "user" | "getUserInfo" => false,
                    "company" | "getCompanyInfo" => true,
                    other => {
                        return Err(CliError::bad_input(format!(
                            "zhiyun calls are `user` or `company`, not {other:?}"
                        )));
                    }
                };
                Prepared::Zhiyun(platforms::zhiyun(s)?, company)
            }
            Platform::Ilab => {
                if args.target != "upload" {
                    return Err(CliError::bad_input(format!(
                        "ilab calls are `upload --file record.json`, not {:?}",
                        args.target
                    )));
                }
                let file = args
                    .file
                    .as_ref()
                    .ok_or_else(|| CliError::bad_input("ilab upload needs --file record.json"))?;
                let body = std::fs::read(file).map_err(|e| {
                    CliError::bad_input(format!("cannot read {}: {e}", file.display()))
                })?;
                let (_, record) = kaifang::ilab::upload::DataUpload::from_json(&body)
                    .map_err(|e| CliError::bad_input(format!("{}: {e}", file.display())))?;
                Prepared::Ilab(platforms::ilab(s)?, record)
            }
            Platform::Device => return Err(CliError::bad_input("device has no business calls")),
        })
    }

    fn execute(
        &self,
        client: &BlockingClient,
        acquired: &Acquired,
    ) -> Result<Value, kaifang::core::Error> {
        let token = &acquired.token;
        let json = |v: Result<Value, serde_json::Error>| {
            v.map_err(|e| kaifang::core::Error::Config(format!("cannot show the response: {e}")))
        };
        match self {
            Prepared::Tianyi(app, path, params) => {
                let mut p = app.token_params(&token.access)?;
                for (k, v) in params {
                    p.push(k, v.as_str())?;
                }
                client.execute(&kaifang::tianyi::envelope::Call::<Value>::new(
                    app,
                    path.as_str(),
                    p,
                ))
            }
            Prepared::Tf56(app, method, params) => {
                let mut call = app.call(method.clone(), &AccessToken::from(token.access.clone()));
                for (k, v) in params {
                    call = call.param(k.as_str(), v.as_str());
                }
                client.execute(&call)
            }
            Prepared::Zhiyun(app, company) => {
                if *company {
                    json(serde_json::to_value(
                        client.execute(&app.company_info(&token.access))?,
                    ))
                } else {
                    json(serde_json::to_value(
                        client.execute(&app.user_info(&token.access))?,
                    ))
                }
            }
            Prepared::Ilab(app, record) => {
                let receipt = client.execute(&kaifang::ilab::DataUploadRequest::new(
                    app,
                    &token.access,
                    record,
                ))?;
                Ok(json!({"msg": receipt.message}))
            }
        }
    }
}
