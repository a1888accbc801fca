//! The demo's flows, written once per platform and run through either transport.

use std::time::{SystemTime, UNIX_EPOCH};

use kaifang::core::lifecycle::{Plan, TokenSource};
use kaifang::core::secret::{AccessToken, SecretString};
use kaifang::core::token::Token;
use kaifang::sandbox::BlockingSandbox;
use serde_json::json;

use super::{Failed, Recorder, Runner};
use crate::platforms::Platform;

type Flow = Result<(), Failed>;

pub(super) fn run(
    platform: Platform,
    sb: &BlockingSandbox,
    r: &Runner,
    rec: &mut Recorder<'_>,
) -> Flow {
    match platform {
        Platform::Tianyi => tianyi(sb, r, rec),
        Platform::Zhiyun => zhiyun(sb, r, rec),
        Platform::Device => device(sb, r, rec),
        Platform::Tf56 => tf56(sb, r, rec),
        Platform::Ilab => ilab(sb, r, rec),
    }
}

/// A grant or refresh through a token source, as a step's value and description.
fn grant(
    r: &Runner,
    source: &dyn TokenSource,
    plan: &Plan,
) -> Result<(Token, String), kaifang::core::Error> {
    let token = r.execute(&*source.exchange(plan)?)?;
    let detail = format!(
        "token valid {} s{}",
        token.ttl().as_secs(),
        if token.refresh.is_some() {
            ", refresh token"
        } else {
            ""
        }
    );
    Ok((token, detail))
}

fn refreshed(
    r: &Runner,
    source: &dyn TokenSource,
    old: &Token,
) -> Result<(Token, String), kaifang::core::Error> {
    let refresh = old.refresh.clone().ok_or_else(|| {
        kaifang::core::Error::Config("the grant returned no refresh token".into())
    })?;
    let (token, detail) = grant(r, source, &Plan::UseRefreshToken(refresh))?;
    let rotated = token.access != old.access;
    Ok((token, format!("{detail}, new access token: {rotated}")))
}

fn minted(
    sb: &BlockingSandbox,
    platform: &str,
    kind: &str,
    req: serde_json::Value,
    field: &str,
) -> Result<String, kaifang::core::Error> {
    let v = sb
        .mint(platform, kind, req)
        .map_err(|e| kaifang::core::Error::Config(format!("sandbox mint: {e}")))?;
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| kaifang::core::Error::Config(format!("the sandbox minted no {field}")))
}

fn tianyi(sb: &BlockingSandbox, r: &Runner, rec: &mut Recorder<'_>) -> Flow {
    use kaifang::sandbox::platforms::tianyi as s;
    use kaifang::tianyi::{Grant, Tianyi, TianyiConfig, TianyiTokens};

    // A standard app: the user logged in, the platform gave an authCode.
    let standard =
        Tianyi::new(TianyiConfig::new(s::SEED_APP_ID, s::SEED_APP_SECRET).base_url(sb.base_url()))?;
    rec.step("login (authCode)", || {
        let code = minted(
            sb,
            "tianyi",
            s::AUTH_CODE,
            json!({"app_id": s::SEED_APP_ID}),
            "authCode",
        )?;
        let source =
            TianyiTokens::new(&standard).with_login(Grant::AuthCode(SecretString::new(code)));
        grant(r, &source, &Plan::FullGrant)
    })?;

    // A platform app: vcp_189, no user interaction.
    let app = Tianyi::new(
        TianyiConfig::new(s::PLATFORM_APP_ID, s::PLATFORM_APP_SECRET)
            .platform(s::PLATFORM_ENTERPRISE_USER)
            .base_url(sb.base_url()),
    )?;
    let source = TianyiTokens::new(&app);
    let token = rec.step("grant (vcp_189)", || grant(r, &source, &Plan::FullGrant))?;
    let token = rec.step("refresh", || refreshed(r, &source, &token))?;
    rec.step("getReginWithGroupList", || {
        let regions = r.execute(&app.regions(&token.access, "")?)?;
        Ok(((), format!("{} regions", regions.len())))
    })?;
    rec.step("getDeviceList", || {
        let page = r.execute(&app.device_list(&token.access, "", 1, 50)?)?;
        Ok(((), format!("{} devices", page.list.len())))
    })?;
    Ok(())
}

fn zhiyun(sb: &BlockingSandbox, r: &Runner, rec: &mut Recorder<'_>) -> Flow {
    use kaifang::zhiyun::server::tenant;
    use kaifang::zhiyun::{Format, Zhiyun, ZhiyunAuthCodes, ZhiyunConfig};

    let config = ZhiyunConfig::new(
        sb.base_url(),
        tenant::CLIENT_ID,
        tenant::CLIENT_SECRET,
        tenant::ACCESS_TOKENS[0],
    );
    let app = Zhiyun::new(config.clone())?;
    let source = ZhiyunAuthCodes::new(&app);
    let code = rec.step("authorize → auth_code", || {
        let (t, _) = grant(r, &source, &Plan::FullGrant)?;
        let d = format!("auth_code valid {} s", t.ttl().as_secs());
        Ok((t, d))
    })?;
    rec.step("getUserInfo (json)", || {
        let u = r.execute(&app.user_info(&code.access))?;
        Ok(((), format!("username {}", u.username)))
    })?;
    rec.step("getCompanyInfo (json)", || {
        let c = r.execute(&app.company_info(&code.access))?;
        Ok(((), format!("company {}", c.company_name)))
    })?;
    let xml = Zhiyun::new(config.format(Format::Xml))?;
    rec.step("authorize + getUserInfo (xml)", || {
        let (t, _) = grant(r, &ZhiyunAuthCodes::new(&xml), &Plan::FullGrant)?;
        let u = r.execute(&xml.user_info(&t.access))?;
        Ok(((), format!("username {}", u.username)))
    })?;
    Ok(())
}

/// The device crate is `no_std` with its own error type; here it is bad local input.
fn dev(e: kaifang::device::DeviceError) -> kaifang::core::Error {
    kaifang::core::Error::Config(e.to_string())
}

fn device(sb: &BlockingSandbox, r: &Runner, rec: &mut Recorder<'_>) -> Flow {
    use kaifang::device::exchange::{Authenticate, Provision, Register};
    use kaifang::device::{MqttOptions, ProvisionRequest};
    use kaifang::sandbox::platforms::device as s;

    let url = sb.url(s::PROVISION_PATH);
    let base = sb.base_url().to_owned();
    let one = rec.step("provision (一机一密)", || {
        let req = ProvisionRequest::new()
            .imei(s::DEVICE_IMEI)
            .and_then(|q| q.iccid(s::DEVICE_ICCID))
            .map_err(dev)?;
        let c = r.execute(&Provision::new(url.as_str(), req))?;
        let d = format!("{}/{} with DeviceSecret", c.product_key, c.device_name);
        Ok((c, d))
    })?;
    rec.step("MQTT credentials", || {
        let m = one
            .mqtt_connect(&MqttOptions::new().client_id(s::DEVICE_IMEI))
            .map_err(dev)?;
        Ok(((), format!("{}:{} user {}", m.host, m.port, m.username)))
    })?;
    rec.step("/auth/devicename → iotToken", || {
        let t = r.execute(&Authenticate::new(
            base.as_str(),
            one.clone(),
            s::DEVICE_IMEI,
        ))?;
        Ok(((), format!("iotId {}", t.iot_id)))
    })?;
    let dynamic = rec.step("provision (一型一密)", || {
        let req = ProvisionRequest::new()
            .imei(s::DYN_DEVICE_IMEI)
            .map_err(dev)?;
        let c = r.execute(&Provision::new(url.as_str(), req))?;
        let d = format!("{}/{} with ProductSecret", c.product_key, c.device_name);
        Ok((c, d))
    })?;
    let registered = rec.step("dynamic registration", || {
        let c = r.execute(&Register::new(base.as_str(), dynamic))?;
        let n = c.device_secret.as_ref().map_or(0, |s| s.len());
        Ok((c, format!("DeviceSecret received ({n} characters)")))
    })?;
    rec.step("MQTT credentials (registered)", || {
        let m = registered.mqtt_connect(&MqttOptions::new()).map_err(dev)?;
        Ok(((), format!("{}:{} user {}", m.host, m.port, m.username)))
    })?;
    Ok(())
}

fn tf56(sb: &BlockingSandbox, r: &Runner, rec: &mut Recorder<'_>) -> Flow {
    use kaifang::tf56::server::{
        CODE_CLIENT_ID, CODE_CLIENT_REDIRECT_URI, CODE_CLIENT_SECRET, DEMO_PASSWORD, DEMO_USERNAME,
        PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET,
    };
    use kaifang::tf56::{Tf56, Tf56Config, Tf56Tokens};

    let access = |t: &Token| AccessToken::from(t.access.clone());
    let app =
        Tf56::new(Tf56Config::new(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_SECRET).base_url(sb.base_url()))?;
    let cc = Tf56Tokens::client_credentials(&app);
    let public = rec.step("client_credentials", || grant(r, &cc, &Plan::FullGrant))?;
    rec.step("sayHello", || {
        let h = r.execute(&app.say_hello(&access(&public)))?;
        Ok(((), h.message))
    })?;
    let pw = Tf56Tokens::password(&app, DEMO_USERNAME, SecretString::new(DEMO_PASSWORD));
    let user = rec.step("password", || grant(r, &pw, &Plan::FullGrant))?;
    let user = rec.step("refresh_token", || refreshed(r, &pw, &user))?;
    rec.step("queryUserInfo", || {
        let me = r.execute(&app.query_user_info(&access(&user)))?;
        Ok(((), format!("userId {}", me.user_id)))
    })?;
    let web = Tf56::new(
        Tf56Config::new(CODE_CLIENT_ID, CODE_CLIENT_SECRET)
            .base_url(sb.base_url())
            .redirect_uri(CODE_CLIENT_REDIRECT_URI),
    )?;
    rec.step("authorization_code", || {
        let code = minted(
            sb,
            "tf56",
            "code",
            json!({"client_id": CODE_CLIENT_ID, "user": DEMO_USERNAME}),
            "code",
        )?;
        let source = Tf56Tokens::authorization_code(&web).with_code(code);
        grant(r, &source, &Plan::FullGrant)
    })?;
    Ok(())
}

fn ilab(sb: &BlockingSandbox, r: &Runner, rec: &mut Recorder<'_>) -> Flow {
    use kaifang::ilab::upload::{DataUpload, Status, StepRecord};
    use kaifang::ilab::{
        Attachment, AttachmentUpload, DataUploadRequest, Ilab, IlabConfig, IlabTokens, Ticket,
    };
    use kaifang::sandbox::platforms::ilab::{SEED_APPID, SEED_SECRET};

    let app = Ilab::new(IlabConfig::new(sb.base_url(), SEED_APPID, SEED_SECRET))?;
    let raw = minted(
        sb,
        "ilab",
        "ticket",
        json!({"appid": SEED_APPID}),
        "ticket_encoded",
    )?;
    let source = IlabTokens::new(&app, Ticket::new(&raw)?);
    let token = rec.step("ticket → token (MD5 signature)", || {
        grant(r, &source, &Plan::FullGrant)
    })?;
    let token = rec.step("refresh", || refreshed(r, &source, &token))?;
    let un = token.extra["un"].as_str().unwrap_or_default().to_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let origin = format!("kaifang-demo-{now}");
    rec.step("score upload", || {
        let record = DataUpload::builder(&un, "电路虚拟仿真实验", &origin)
            .status(Status::Completed)
            .score(88)
            .times(now - 600_000, now)
            .step(
                StepRecord::builder("实验操作")
                    .times(now - 600_000, now)
                    .max_score(100)
                    .score(88),
            )
            .build()?;
        let receipt = r.execute(&DataUploadRequest::new(&app, &token.access, &record))?;
        Ok(((), format!("score {}: {}", record.score, receipt.message)))
    })?;
    rec.step("report upload", || {
        let report = Attachment::new(&origin, "report.txt", b"kaifang demo report\n".to_vec())?;
        let receipt = r.execute(&AttachmentUpload::new(&app, &token.access, report))?;
        Ok(((), receipt.message))
    })?;
    Ok(())
}
