//! A virtual-simulation experiment (iLab-x style) with the async transport (reqwest + tokio): trade the ticket
//! the platform put in the experiment's URL for a token, then send back the score with its
//! steps (数据回传) and the report file (实验报告上传). The token manager keeps the token valid
//! (refreshing at most twice, as the platform allows) and retries an upload once when the
//! platform rejects the token. Secrets and tokens are never printed.
//!
//! Run: `cargo run -p kaifang-examples --example ilab_async`
//!
//! By default it starts kaifang's sandbox in-process, mints a ticket there for the seed's
//! experiment (appid `1681600222748241929`) as clicking 我要做实验 would, and shows the uploads
//! the sandbox stored. Against a real platform, set:
//!
//! | variable | meaning |
//! |---|---|
//! | `KAIFANG_ILAB_ADDR` | the platform's address (`http://host:8180`, `http://www.ilab-x.com`); switches the example to real mode |
//! | `KAIFANG_ILAB_APPID` | the experiment's APPID (required in real mode) |
//! | `KAIFANG_ILAB_SECRET` | its SECRET (required in real mode) |
//! | `KAIFANG_ILAB_TICKET` | the `ticket` from the experiment's URL, encoded or decoded (required in real mode; it works once) |
//! | `KAIFANG_ILAB_PROFILE` | `roncoo` (default: `/oauth/...` paths) or `ilabx` (iLab-x v2, `/open/api/v2/...`) |
//!
//! In real mode the score and the report are really uploaded. The process exits non-zero on
//! any failure.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kaifang::asynch::{AsyncClient, TokenManager, TransportConfig};
use kaifang::ilab::upload::{DataUpload, Status, StepRecord};
use kaifang::ilab::{
    Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig, IlabTokens, Profile, Ticket,
};
use kaifang::sandbox::platforms::ilab::{IlabModule, SEED_APPID, SEED_SECRET};
use kaifang::sandbox::{Sandbox, SandboxHandle};
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String> {
    env(name).ok_or_else(|| format!("{name} is required when KAIFANG_ILAB_ADDR is set").into())
}

/// Where the example runs: the in-process sandbox (kept alive here) or a real platform.
struct Target {
    app: Ilab,
    ticket: Ticket,
    sandbox: Option<SandboxHandle>,
}

async fn target() -> Result<Target> {
    if let Some(addr) = env("KAIFANG_ILAB_ADDR") {
        let profile = match env("KAIFANG_ILAB_PROFILE").as_deref() {
            None | Some("roncoo") => Profile::Roncoo,
            Some("ilabx") => Profile::IlabX,
            Some(other) => {
                return Err(
                    format!("KAIFANG_ILAB_PROFILE={other:?}: expected roncoo or ilabx").into(),
                );
            }
        };
        let config = IlabConfig::new(
            addr,
            required("KAIFANG_ILAB_APPID")?,
            required("KAIFANG_ILAB_SECRET")?,
        )
        .profile(profile);
        let ticket = Ticket::new(&required("KAIFANG_ILAB_TICKET")?)?;
        println!("mode             real platform ({})", profile.name());
        return Ok(Target {
            app: Ilab::new(config)?,
            ticket,
            sandbox: None,
        });
    }
    let sandbox = Sandbox::builder()
        .module(IlabModule::default())
        .start()
        .await?;
    // What clicking 我要做实验 hands the experiment.
    let minted = sandbox.mint("ilab", "ticket", json!({"appid": SEED_APPID}))?;
    let raw = minted["ticket_encoded"]
        .as_str()
        .ok_or("the sandbox minted no ticket")?;
    println!(
        "mode             in-process sandbox at {}",
        sandbox.base_url()
    );
    Ok(Target {
        app: Ilab::new(IlabConfig::new(sandbox.base_url(), SEED_APPID, SEED_SECRET))?,
        ticket: Ticket::new(raw)?,
        sandbox: Some(sandbox),
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A twelve-minute experiment that just ended, in two steps.
fn experiment(un: &str, origin_id: &str) -> Result<DataUpload> {
    let end = now_ms();
    let start = end - 12 * 60_000;
    Ok(DataUpload::builder(un, "电路虚拟仿真实验", origin_id)
        .status(Status::Completed)
        .score(66)
        .times(start, end)
        .step(
            StepRecord::builder("实验准备")
                .times(start, start + 2 * 60_000)
                .max_score(20)
                .score(18),
        )
        .step(
            StepRecord::builder("实验操作")
                .times(start + 2 * 60_000, end)
                .max_score(80)
                .score(48)
                .evaluation("优秀")
                .scoring_model("自动评分"),
        )
        .build()?)
}

async fn run() -> Result<()> {
    let Target {
        app,
        ticket,
        sandbox,
    } = target().await?;
    let client = Arc::new(AsyncClient::new(TransportConfig::default())?);
    let tokens = TokenManager::new(client);
    let source = Arc::new(IlabTokens::new(&app, ticket));

    // Ticket → token (signed over the decoded ticket, sent URL-encoded once).
    let token = tokens.token(&source).await?;
    let un = token.extra["un"].as_str().unwrap_or_default().to_owned();
    let dis = token.extra["dis"].as_str().unwrap_or_default().to_owned();
    let left = token
        .expires_at
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs());
    println!(
        "logged in        un={un} dis={dis} (token valid {left} s, scope {:?})",
        token.scope
    );

    // The score first, then the report with the same originId.
    let origin_id = format!("kaifang-example-{}", now_ms());
    let record = experiment(&un, &origin_id)?;
    let receipt = tokens
        .call_with_token(&source, |t| {
            DataUploadRequest::new(&app, &t.access, &record)
        })
        .await?;
    println!(
        "score uploaded   {} ({} steps, originId {origin_id}): {}",
        record.score,
        record.steps.len(),
        receipt.message
    );
    let report = Attachment::new(
        &origin_id,
        "实验报告.txt",
        format!("实验报告\n实验: {}\n成绩: {}\n", record.title, record.score).into_bytes(),
    )?
    .title("电路虚拟仿真实验报告");
    let receipt = tokens
        .call_with_token(&source, |t| {
            AttachmentUpload::new(&app, &t.access, report.clone())
        })
        .await?;
    println!("report uploaded  实验报告.txt: {}", receipt.message);
    println!("refreshes used   {} of 2", source.refreshes_used());

    if let Some(sandbox) = sandbox {
        let stored = sandbox.mint("ilab", "uploads", json!({"origin_id": origin_id}))?;
        println!(
            "sandbox stored   {} uploads for {origin_id}",
            stored["count"]
        );
        if stored["count"] != json!(2) {
            return Err("the sandbox did not store both uploads".into());
        }
        sandbox.shutdown().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ilab_async: {e}");
            ExitCode::FAILURE
        }
    }
}
