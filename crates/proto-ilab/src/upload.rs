//! 数据回传 (score upload) and 实验报告上传 (report upload).
//!
//! ```text
//! POST {addr}/oauth/api/v1/data_upload?access_token=<URL-encoded once>
//! Content-Type: application/json
//!
//! {"username":…,"title":…,"status":1,"score":66,"startTime":…,"endTime":…,"timeUsed":…,
//!  "appid":…,"originId":…,"steps":[{"seq":1,"title":…,"startTime":…,"endTime":…,"timeUsed":…,
//!  "expectTime":…,"maxScore":100,"score":55,"repeatCount":1,"evaluation":…,"scoringModel":…,"remarks":…}]}
//!
//! POST {addr}/oauth/api/v1/attachment_upload?access_token=&appid=&originId=&filename=&title=&remarks=
//! Content-Type: application/octet-stream
//!
//! <the file's bytes>
//! ```
//! Upload the score first, then the report with the same `originId`. Both need a token with the
//! scope `callback:score` that is still valid: refresh first when the experiment outlived it
//! ([`needs_refresh`](crate::needs_refresh)).
//!
//! ```
//! use kaifang_proto_ilab::upload::{DataUpload, Status, StepRecord};
//! let t0 = 1_625_952_587_963;
//! let upload = DataUpload::builder("1701808169793138690", "电路实验", "rec-42")
//!     .status(Status::Completed)
//!     .score(66)
//!     .times(t0, t0 + 12 * 60_000)
//!     .step(StepRecord::builder("实验操作").times(t0, t0 + 60_000).max_score(100).score(55).evaluation("优秀"))
//!     .build()?;
//! let json = String::from_utf8(upload.to_json("1681600222748241929"))?;
//! assert!(json.starts_with(r#"{"username":"1701808169793138690","title":"电路实验","status":1,"score":66,"startTime":1625952587963,"endTime":1625953307963,"timeUsed":12,"appid":"1681600222748241929","originId":"rec-42","steps":[{"seq":1,"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use kaifang_proto_core::Error;
use kaifang_proto_core::context::Context;
use kaifang_proto_core::envelope::de;
use kaifang_proto_core::exchange::Exchange;
use kaifang_proto_core::redact;
use kaifang_proto_core::secret::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::Ilab;
use crate::codes::Endpoint;
use crate::response;

/// The smallest accepted time in ms (2001-09-09): a smaller value is seconds sent by mistake.
pub const MIN_MILLIS: i64 = 1_000_000_000_000;
/// The largest accepted time in ms (2286-11-20).
pub const MAX_MILLIS: i64 = 9_999_999_999_999;
/// The highest score of an experiment.
pub const MAX_SCORE: u32 = 100;

/// Why an upload was refused before sending (or, server side, why its body is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required text is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field's JSON path.
        field: String,
    },
    /// A required field is missing.
    #[error("`{field}` is missing")]
    Missing {
        /// The field's JSON path.
        field: String,
    },
    /// A field has the wrong type or value.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// The field's JSON path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A time is not Unix milliseconds (seconds, or out of range).
    #[error(
        "`{field}` = {value} is not a time in Unix milliseconds (expected {MIN_MILLIS}..={MAX_MILLIS}; seconds must be multiplied by 1000)"
    )]
    NotMillis {
        /// The field's JSON path.
        field: String,
        /// The value given.
        value: i64,
    },
    /// An end time before its start time.
    #[error("`{field}endTime` ({end}) is before `{field}startTime` ({start})")]
    EndBeforeStart {
        /// The path prefix (`""` or `steps[0].`).
        field: String,
        /// startTime.
        start: i64,
        /// endTime.
        end: i64,
    },
    /// The experiment's score is above 100.
    #[error("`score` = {score} is outside 0..=100")]
    ScoreOutOfRange {
        /// The score given.
        score: u32,
    },
    /// A step's score is above its maxScore.
    #[error("`steps[{index}].score` = {score} is above its maxScore {max_score}")]
    StepScoreAboveMax {
        /// The step's index.
        index: usize,
        /// Its score.
        score: u32,
        /// Its maxScore.
        max_score: u32,
    },
    /// Step numbers must be 1, 2, 3 ... in order.
    #[error("`steps[{index}].seq` = {got}, expected {expected} (seq counts from 1 without gaps)")]
    SeqNotIncreasing {
        /// The step's index.
        index: usize,
        /// The seq expected there.
        expected: u32,
        /// The seq given.
        got: u32,
    },
    /// No step: the platform wants at least one.
    #[error("`steps` is empty: give at least one step")]
    NoSteps,
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::Config(format!("ilab upload: {e}"))
    }
}

/// `status`: 1 = completed, 2 = not completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// `1`: 完成.
    #[default]
    Completed,
    /// `2`: 未完成.
    NotCompleted,
}

impl Status {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            Status::Completed => 1,
            Status::NotCompleted => 2,
        }
    }

    /// From the wire value.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Status::Completed),
            2 => Some(Status::NotCompleted),
            _ => None,
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

/// The unit of `timeUsed` when derived from the times: the iLab-x specification reads minutes
/// for the experiment; some clients send seconds. Give `time_used` explicitly to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Whole minutes, rounded up.
    #[default]
    Minutes,
    /// Whole seconds, rounded up.
    Seconds,
}

impl TimeUnit {
    fn of(self, start: i64, end: i64) -> u64 {
        let ms = u64::try_from(end.saturating_sub(start)).unwrap_or(0);
        let unit = match self {
            TimeUnit::Minutes => 60_000,
            TimeUnit::Seconds => 1000,
        };
        ms.div_ceil(unit)
    }
}

/// One step of the experiment, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// 1, 2, 3 ...
    pub seq: u32,
    /// The step's name.
    pub title: String,
    /// Start, Unix ms.
    pub start_time: i64,
    /// End, Unix ms.
    pub end_time: i64,
    /// Time used.
    pub time_used: u64,
    /// Expected time.
    pub expect_time: u64,
    /// Full marks of the step.
    pub max_score: u32,
    /// The step's score (≤ `max_score`).
    pub score: u32,
    /// How many attempts.
    pub repeat_count: u32,
    /// 评价 (e.g. 优秀).
    pub evaluation: String,
    /// 赋分模型.
    pub scoring_model: String,
    /// 备注.
    pub remarks: String,
}

impl StepRecord {
    /// A builder for a step called `title`.
    pub fn builder(title: impl Into<String>) -> StepBuilder {
        StepBuilder {
            seq: None,
            title: title.into(),
            times: None,
            time_used: None,
            expect_time: None,
            max_score: MAX_SCORE,
            score: None,
            repeat_count: 1,
            evaluation: String::new(),
            scoring_model: String::new(),
            remarks: String::new(),
        }
    }
}

/// Builds a [`StepRecord`]; validated by [`DataUploadBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StepBuilder {
    seq: Option<u32>,
    title: String,
    times: Option<(i64, i64)>,
    time_used: Option<u64>,
    expect_time: Option<u64>,
    max_score: u32,
    score: Option<u32>,
    repeat_count: u32,
    evaluation: String,
    scoring_model: String,
    remarks: String,
}

impl StepBuilder {
    /// `seq` (default: the step's position, from 1).
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = Some(seq);
        self
    }
    /// Start and end, Unix ms (required).
    pub fn times(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.times = Some((start_ms, end_ms));
        self
    }
    /// `timeUsed` (default: derived from the times in the upload's [`TimeUnit`]).
    pub fn time_used(mut self, time_used: u64) -> Self {
        self.time_used = Some(time_used);
        self
    }
    /// `expectTime` (default: the time used).
    pub fn expect_time(mut self, expect_time: u64) -> Self {
        self.expect_time = Some(expect_time);
        self
    }
    /// `maxScore` (default 100).
    pub fn max_score(mut self, max_score: u32) -> Self {
        self.max_score = max_score;
        self
    }
    /// `score` (required).
    pub fn score(mut self, score: u32) -> Self {
        self.score = Some(score);
        self
    }
    /// `repeatCount` (default 1).
    pub fn repeat_count(mut self, repeat_count: u32) -> Self {
        self.repeat_count = repeat_count;
        self
    }
    /// `evaluation`.
    pub fn evaluation(mut self, evaluation: impl Into<String>) -> Self {
        self.evaluation = evaluation.into();
        self
    }
    /// `scoringModel`.
    pub fn scoring_model(mut self, scoring_model: impl Into<String>) -> Self {
        self.scoring_model = scoring_model.into();
        self
    }
    /// `remarks`.
    pub fn remarks(mut self, remarks: impl Into<String>) -> Self {
        self.remarks = remarks.into();
        self
    }

    fn build(self, index: usize, unit: TimeUnit) -> Result<StepRecord, ValidationError> {
        let path = |f: &str| format!("steps[{index}].{f}");
        let expected = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let seq = self.seq.unwrap_or(expected);
        if seq != expected {
            return Err(ValidationError::SeqNotIncreasing {
                index,
                expected,
                got: seq,
            });
        }
        non_empty(&self.title, &path("title"))?;
        let (start, end) = self.times.ok_or_else(|| ValidationError::Missing {
            field: path("startTime"),
        })?;
        check_times(start, end, &format!("steps[{index}]."))?;
        let score = self.score.ok_or_else(|| ValidationError::Missing {
            field: path("score"),
        })?;
        if self.max_score == 0 {
            return Err(ValidationError::Invalid {
                field: path("maxScore"),
                reason: "must be above 0".into(),
            });
        }
        if score > self.max_score {
            return Err(ValidationError::StepScoreAboveMax {
                index,
                score,
                max_score: self.max_score,
            });
        }
        if self.repeat_count == 0 {
            return Err(ValidationError::Invalid {
                field: path("repeatCount"),
                reason: "must be at least 1".into(),
            });
        }
        let time_used = self.time_used.unwrap_or_else(|| unit.of(start, end));
        Ok(StepRecord {
            seq,
            title: self.title,
            start_time: start,
            end_time: end,
            time_used,
            expect_time: self.expect_time.unwrap_or(time_used),
            max_score: self.max_score,
            score,
            repeat_count: self.repeat_count,
            evaluation: self.evaluation,
            scoring_model: self.scoring_model,
            remarks: self.remarks,
        })
    }
}

/// An experiment record, validated: what [`DataUploadRequest`] sends (with the app's appid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataUpload {
    /// The user's `un` from the token answer.
    pub username: String,
    /// The experiment's name.
    pub title: String,
    /// Completed or not.
    pub status: Status,
    /// 0..=100.
    pub score: u32,
    /// Start, Unix ms.
    pub start_time: i64,
    /// End, Unix ms.
    pub end_time: i64,
    /// Time used (see [`TimeUnit`]).
    pub time_used: u64,
    /// Your record's id (实验记录ID), reused by the report upload.
    pub origin_id: String,
    /// The steps, `seq` 1, 2, 3 ...
    pub steps: Vec<StepRecord>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    username: &'a str,
    title: &'a str,
    status: Status,
    score: u32,
    start_time: i64,
    end_time: i64,
    time_used: u64,
    appid: &'a str,
    origin_id: &'a str,
    steps: &'a [StepRecord],
}

impl DataUpload {
    /// A builder: `username` is the token answer's `un`, `origin_id` your record's id.
    pub fn builder(
        username: impl Into<String>,
        title: impl Into<String>,
        origin_id: impl Into<String>,
    ) -> DataUploadBuilder {
        DataUploadBuilder {
            username: username.into(),
            title: title.into(),
            origin_id: origin_id.into(),
            status: Status::Completed,
            score: None,
            times: None,
            time_used: None,
            unit: TimeUnit::Minutes,
            steps: Vec::new(),
        }
    }

    /// The JSON body for `appid`, keys in the platform's order.
    pub fn to_json(&self, appid: &str) -> Vec<u8> {
        let wire = Wire {
            username: &self.username,
            title: &self.title,
            status: self.status,
            score: self.score,
            start_time: self.start_time,
            end_time: self.end_time,
            time_used: self.time_used,
            appid,
            origin_id: &self.origin_id,
            steps: &self.steps,
        };
        // Strings and integers always serialize.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a received body leniently (numbers as strings, `appid` as a number, `timeUsed`
    /// missing) and validates it as the builder does: the server half's parser. Returns the
    /// `appid` sent and the record.
    ///
    /// # Errors
    /// The first [`ValidationError`], with the JSON path of the field.
    pub fn from_json(body: &[u8]) -> Result<(String, DataUpload), ValidationError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ValidationError::Invalid {
            field: ".".into(),
            reason: format!("not JSON: {e}"),
        })?;
        let r: Received = serde_json::from_value(value).map_err(|e| ValidationError::Invalid {
            field: ".".into(),
            reason: e.to_string(),
        })?;
        let appid = required(r.appid, "appid")?;
        non_empty(&appid, "appid")?;
        let status_code = required(r.status, "status")?;
        let status = Status::from_code(status_code).ok_or_else(|| ValidationError::Invalid {
            field: "status".into(),
            reason: format!("{status_code} (1 = completed, 2 = not completed)"),
        })?;
        let mut b = DataUpload::builder(
            required(r.username, "username")?,
            required(r.title, "title")?,
            required(r.origin_id, "originId")?,
        )
        .status(status)
        .score(required(r.score, "score")?)
        .times(
            required(r.start_time, "startTime")?,
            required(r.end_time, "endTime")?,
        );
        if let Some(t) = r.time_used {
            b = b.time_used(t);
        }
        for (i, s) in required(r.steps, "steps")?.into_iter().enumerate() {
            let p = |f: &str| format!("steps[{i}].{f}");
            let mut sb = StepRecord::builder(required(s.title, &p("title"))?)
                .seq(required(s.seq, &p("seq"))?)
                .times(
                    required(s.start_time, &p("startTime"))?,
                    required(s.end_time, &p("endTime"))?,
                )
                .max_score(required(s.max_score, &p("maxScore"))?)
                .score(required(s.score, &p("score"))?)
                .repeat_count(s.repeat_count.unwrap_or(1))
                .evaluation(s.evaluation.unwrap_or_default())
                .scoring_model(s.scoring_model.unwrap_or_default())
                .remarks(s.remarks.unwrap_or_default());
            if let Some(t) = s.time_used {
                sb = sb.time_used(t);
            }
            if let Some(t) = s.expect_time {
                sb = sb.expect_time(t);
            }
            b = b.step(sb);
        }
        Ok((appid, b.build()?))
    }
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, ValidationError> {
    v.ok_or_else(|| ValidationError::Missing {
        field: field.to_owned(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Received {
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    username: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    status: Option<u8>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    score: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    start_time: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    end_time: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    time_used: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    appid: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    origin_id: Option<String>,
    #[serde(default)]
    steps: Option<Vec<ReceivedStep>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceivedStep {
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    seq: Option<u32>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    start_time: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    end_time: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    time_used: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    expect_time: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    max_score: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    score: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_num_or_str")]
    repeat_count: Option<u32>,
    #[serde(default)]
    evaluation: Option<String>,
    #[serde(default)]
    scoring_model: Option<String>,
    #[serde(default)]
    remarks: Option<String>,
}

/// Builds a [`DataUpload`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DataUploadBuilder {
    username: String,
    title: String,
    origin_id: String,
    status: Status,
    score: Option<u32>,
    times: Option<(i64, i64)>,
    time_used: Option<u64>,
    unit: TimeUnit,
    steps: Vec<StepBuilder>,
}

impl DataUploadBuilder {
    /// `status` (default completed).
    pub fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }
    /// `score`, 0..=100 (required).
    pub fn score(mut self, score: u32) -> Self {
        self.score = Some(score);
        self
    }
    /// Start and end of the experiment, Unix ms (required).
    pub fn times(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.times = Some((start_ms, end_ms));
        self
    }
    /// `timeUsed` (default: derived from the times in [`TimeUnit`]).
    pub fn time_used(mut self, time_used: u64) -> Self {
        self.time_used = Some(time_used);
        self
    }
    /// The unit of derived `timeUsed` values (default minutes).
    pub fn time_unit(mut self, unit: TimeUnit) -> Self {
        self.unit = unit;
        self
    }
    /// Appends a step.
    pub fn step(mut self, step: StepBuilder) -> Self {
        self.steps.push(step);
        self
    }

    /// Validates everything.
    ///
    /// # Errors
    /// The first [`ValidationError`]: empty username, title or originId; missing or non-ms
    /// times; endTime before startTime; score above 100; no steps; a step out of sequence, with
    /// a score above its maxScore, or with a bad field.
    pub fn build(self) -> Result<DataUpload, ValidationError> {
        non_empty(&self.username, "username")?;
        non_empty(&self.title, "title")?;
        non_empty(&self.origin_id, "originId")?;
        let (start, end) = self.times.ok_or_else(|| ValidationError::Missing {
            field: "startTime".into(),
        })?;
        check_times(start, end, "")?;
        let score = self.score.ok_or_else(|| ValidationError::Missing {
            field: "score".into(),
        })?;
        if score > MAX_SCORE {
            return Err(ValidationError::ScoreOutOfRange { score });
        }
        if self.steps.is_empty() {
            return Err(ValidationError::NoSteps);
        }
        let unit = self.unit;
        let steps = self
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.build(i, unit))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DataUpload {
            username: self.username,
            title: self.title,
            status: self.status,
            score,
            start_time: start,
            end_time: end,
            time_used: self.time_used.unwrap_or_else(|| unit.of(start, end)),
            origin_id: self.origin_id,
            steps,
        })
    }
}

fn non_empty(value: &str, field: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::Empty {
            field: field.to_owned(),
        });
    }
    Ok(())
}

fn check_times(start: i64, end: i64, prefix: &str) -> Result<(), ValidationError> {
    for (name, value) in [("startTime", start), ("endTime", end)] {
        if !(MIN_MILLIS..=MAX_MILLIS).contains(&value) {
            return Err(ValidationError::NotMillis {
                field: format!("{prefix}{name}"),
                value,
            });
        }
    }
    if end < start {
        return Err(ValidationError::EndBeforeStart {
            field: prefix.to_owned(),
            start,
            end,
        });
    }
    Ok(())
}

/// The platform's receipt for an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReceipt {
    /// `msg`.
    pub message: String,
}

fn receipt(ctx: &Context, resp: &http::Response<Vec<u8>>) -> Result<UploadReceipt, Error> {
    let body = response::check(Endpoint::Upload, ctx, resp)?;
    let message = body
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(UploadReceipt { message })
}

/// `POST data_upload`. Not idempotent (a retry may store the record twice).
#[derive(Clone)]
pub struct DataUploadRequest {
    app: Ilab,
    access: SecretString,
    body: Vec<u8>,
}

impl std::fmt::Debug for DataUploadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataUploadRequest")
            .field("app", &self.app)
            .field("access", &self.access)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl DataUploadRequest {
    /// The upload of `record` with the access token `access` (as received, decoded).
    pub fn new(app: &Ilab, access: &SecretString, record: &DataUpload) -> Self {
        DataUploadRequest {
            app: app.clone(),
            access: access.clone(),
            body: record.to_json(app.appid()),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Exchange for DataUploadRequest {
    type Output = UploadReceipt;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        let url = self.app.url(
            self.app.paths().data_upload,
            &[("access_token", self.access.expose_secret())],
        );
        http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(self.body.clone())
            .map_err(|e| Error::Config(format!("ilab: cannot build request: {e}")))
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<UploadReceipt, Error> {
        receipt(ctx, &resp)
    }

    fn name(&self) -> &'static str {
        "ilab.data_upload"
    }
}

/// A report file to upload (实验报告), validated. `Debug` shows the file's length, not its
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The record id of the score upload.
    pub origin_id: String,
    /// The file name, with its extension (`report.pdf`).
    pub filename: String,
    /// The report's title.
    pub title: String,
    /// Remarks.
    pub remarks: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("origin_id", &self.origin_id)
            .field("filename", &self.filename)
            .field("title", &self.title)
            .field("remarks", &self.remarks)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Attachment {
    /// A report for the record `origin_id`; the title defaults to the file name.
    ///
    /// # Errors
    /// [`ValidationError`] for an empty `origin_id`, a file name without extension, or an
    /// empty file.
    pub fn new(
        origin_id: impl Into<String>,
        filename: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Result<Self, ValidationError> {
        let origin_id = origin_id.into();
        let filename = filename.into();
        non_empty(&origin_id, "originId")?;
        check_filename(&filename)?;
        if bytes.is_empty() {
            return Err(ValidationError::Empty {
                field: "body".into(),
            });
        }
        Ok(Attachment {
            origin_id,
            title: filename.clone(),
            filename,
            remarks: String::new(),
            bytes,
        })
    }

    /// Sets the title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the remarks.
    #[must_use]
    pub fn remarks(mut self, remarks: impl Into<String>) -> Self {
        self.remarks = remarks.into();
        self
    }
}

/// A file name must be non-empty and carry an extension (`report.pdf`).
///
/// # Errors
/// [`ValidationError::Empty`] or [`ValidationError::Invalid`] on `filename`.
pub fn check_filename(filename: &str) -> Result<(), ValidationError> {
    non_empty(filename, "filename")?;
    match filename.rsplit_once('.') {
        Some((stem, ext))
            if !stem.trim().is_empty()
                && !ext.is_empty()
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok(())
        }
        _ => Err(ValidationError::Invalid {
            field: "filename".into(),
            reason: "needs an extension (e.g. report.pdf)".into(),
        }),
    }
}

/// `POST attachment_upload`. Not idempotent.
#[derive(Clone)]
pub struct AttachmentUpload {
    app: Ilab,
    access: SecretString,
    attachment: Attachment,
}

impl std::fmt::Debug for AttachmentUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentUpload")
            .field("app", &self.app)
            .field("access", &self.access)
            .field("origin_id", &self.attachment.origin_id)
            .field("filename", &self.attachment.filename)
            .field("len", &self.attachment.bytes.len())
            .finish()
    }
}

impl AttachmentUpload {
    /// The upload of `attachment` with the access token `access`.
    pub fn new(app: &Ilab, access: &SecretString, attachment: Attachment) -> Self {
        AttachmentUpload {
            app: app.clone(),
            access: access.clone(),
            attachment,
        }
    }

    /// The URL (with the token in clear: never log it; see [`redact::url`]).
    pub fn url(&self) -> String {
        let a = &self.attachment;
        self.app.url(
            self.app.paths().attachment_upload,
            &[
                ("access_token", self.access.expose_secret()),
                ("appid", self.app.appid()),
                ("originId", &a.origin_id),
                ("filename", &a.filename),
                ("title", &a.title),
                ("remarks", &a.remarks),
            ],
        )
    }
}

impl Exchange for AttachmentUpload {
    type Output = UploadReceipt;

    fn build(&self, _ctx: &Context) -> Result<http::Request<Vec<u8>>, Error> {
        http::Request::post(self.url())
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::ACCEPT, "application/json")
            .body(self.attachment.bytes.clone())
            .map_err(|e| {
                Error::Config(format!(
                    "ilab: cannot build request for {}: {e}",
                    redact::url(&self.url())
                ))
            })
    }

    fn parse(&self, ctx: &Context, resp: http::Response<Vec<u8>>) -> Result<UploadReceipt, Error> {
        receipt(ctx, &resp)
    }

    fn name(&self) -> &'static str {
        "ilab.attachment_upload"
    }
}
