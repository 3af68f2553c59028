//! `<app> replay`: the replay gate. Histories of workflows this app runs (every open one on its
//! task queue, then the most recently closed ones per type, within caps; and/or history files)
//! are replayed against this build's workflow code with the SDK's replayer and its data
//! converter (the key ring included). A build that cannot replay what is running must not be
//! rolled out: it would strand every affected workflow on a non-determinism error.
//!
//! Memory stays bounded whatever the number of histories: they are listed lazily and fetched,
//! checked and replayed `replay.batch` at a time (`replay.concurrency` fetches in flight).
//! Types the app does not register are reported and skipped; a history that cannot be decoded
//! (a payload under a key this build does not have) is reported as such, not as
//! non-determinism. Payloads are never printed.

use crate::HostError;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use temporalio_client::{Client, WorkflowExecutionInfo, WorkflowFetchHistoryOptions, WorkflowHistory, WorkflowListOptions};
use temporalio_common::data_converters::DataConverter;
use temporalio_common::protos::temporal::api::history::v1::{History, HistoryEvent, history_event::Attributes};
use temporalio_sdk::WorkerOptions;
use temporalio_sdk::plugins::SimplePlugin;
use temporalio_sdk::workflow_replayer::{WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions};
use tk8s_config::Config;
use tracing::info;

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayArgs {
    /// History files, or directories searched for `*.json`.
    pub from: Vec<PathBuf>,
    /// Also (or, without `from`, only) the namespace.
    pub server: bool,
    /// Keep what was fetched from the namespace here, one file per history.
    pub save: Option<PathBuf>,
    /// The report as JSON on stdout.
    pub json: bool,
}

/// One history to replay, before it is fetched.
#[derive(Debug, Clone)]
enum Source {
    Server { workflow_id: String, run_id: String, workflow_type: String },
    File(PathBuf),
}

/// A history that did not replay.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    /// `nondeterminism`, `invalid-history`, `workflow-task-failure`, `internal`, `undecodable`.
    pub kind: &'static str,
    pub message: String,
    /// Where it diverged, when the SDK's message says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// The history file, for histories read from files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeCount {
    pub replayed: usize,
    pub failed: usize,
}

/// What a replay found: the verdict and everything behind it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub replayed: usize,
    pub failed: usize,
    /// Histories whose payloads this build cannot decode (a missing key).
    pub undecodable: usize,
    pub from_namespace: usize,
    pub from_files: usize,
    pub types: BTreeMap<String, TypeCount>,
    /// Workflow types on the task queue (or in the files) this app does not register: skipped.
    pub skipped_types: BTreeMap<String, usize>,
    pub failures: Vec<Failure>,
    pub events: u64,
    pub seconds: f64,
    /// The process's peak resident memory, in bytes (Linux), for the memory bound.
    pub peak_rss_bytes: Option<u64>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.undecodable == 0
    }

    /// For people: per type, then each failure.
    pub fn text(&self) -> String {
        let mut out = format!(
            "replayed {} histories ({} from the namespace, {} from files; {} events) in {:.1} s: {} failed, {} undecodable\n",
            self.replayed + self.failed + self.undecodable,
            self.from_namespace,
            self.from_files,
            self.events,
            self.seconds,
            self.failed,
            self.undecodable
        );
        for (t, c) in &self.types {
            out.push_str(&format!("  {t}: {} replayed, {} failed\n", c.replayed, c.failed));
        }
        for (t, n) in &self.skipped_types {
            out.push_str(&format!("  {t}: {n} skipped (this app does not register it)\n"));
        }
        for f in &self.failures {
            let at = f.event_id.map(|e| format!(" at event {e}")).unwrap_or_default();
            let file = f.file.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default();
            out.push_str(&format!(
                "FAILED {} {} (run {}): {}{at}: {}{file}\n",
                f.workflow_type, f.workflow_id, f.run_id, f.kind, f.message
            ));
        }
        out
    }
}

/// The key ids payloads in `events` are encrypted under.
fn key_ids(events: &[HistoryEvent]) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(id) = m.get("metadata").and_then(|md| md.get(tk8s_codec::METADATA_KEY_ID)).and_then(|id| id.as_str()) {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(id).unwrap_or_else(|_| id.as_bytes().to_vec());
                    out.insert(String::from_utf8_lossy(&bytes).into_owned());
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for e in events {
        if let Ok(v) = serde_json::to_value(e) {
            walk(&v, &mut out);
        }
    }
    out
}

/// The workflow type, id and run id a history records in its first event.
fn identity(events: &[HistoryEvent]) -> (String, String, String) {
    match events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => (
            a.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            a.workflow_id.clone(),
            a.original_execution_run_id.clone(),
        ),
        _ => (String::new(), String::new(), String::new()),
    }
}

/// The first number after "event" in an SDK message (`... event 5 ...`, `EventId: 5`).
fn event_id(message: &str) -> Option<i64> {
    let lower = message.to_ascii_lowercase();
    for (i, _) in lower.match_indices("event") {
        let rest = &lower[i + 5..];
        let digits: String =
            rest.trim_start_matches(|c: char| !c.is_ascii_digit() && c != '\n').chars().take_while(char::is_ascii_digit).collect();
        let gap = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(usize::MAX);
        if !digits.is_empty() && gap <= 12 {
            return digits.parse().ok();
        }
    }
    None
}

/// The SDK's own words inside a wrapped failure (`... Failure { message: "<this>", ... }`).
fn innermost(message: &str) -> String {
    match message.split_once("message: \"").and_then(|(_, rest)| rest.split_once("\", ")) {
        Some((inner, _)) => inner.replace("\\'", "'"),
        None => message.to_string(),
    }
}

fn kind(f: &WorkflowReplayFailure) -> (&'static str, String) {
    let (kind, message) = kind_of(f);
    (kind, innermost(&message))
}

fn kind_of(f: &WorkflowReplayFailure) -> (&'static str, String) {
    match f {
        WorkflowReplayFailure::Nondeterminism { message } => ("nondeterminism", message.clone()),
        WorkflowReplayFailure::InvalidHistory { message } => ("invalid-history", message.clone()),
        WorkflowReplayFailure::WorkflowTaskFailure { message } => ("workflow-task-failure", message.clone()),
        WorkflowReplayFailure::Internal { reason, message } => ("internal", format!("{reason}: {message}")),
        other => ("internal", other.to_string()),
    }
}

/// History files under `paths`: files as given, directories searched for `*.json` recursively,
/// in name order.
fn history_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|source| HostError::ReplayInput { path: p.clone(), reason: source.to_string() })?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(HostError::ReplayInput { path: p.clone(), reason: "no such file or directory".into() });
        }
    }
    Ok(out)
}

/// What to replay from the namespace: per registered type, the open workflows, then the most
/// recently closed within the window, within the caps; and the count of open workflows of types
/// the app does not register.
async fn listed(client: &Client, config: &Config, types: &BTreeSet<String>, report: &mut Report) -> Result<Vec<Source>, HostError> {
    let r = &config.replay;
    let queue = config.worker.task_queue.replace('\'', "\\'");
    let extra = r.query.as_ref().map(|q| format!(" AND ({q})")).unwrap_or_default();
    let list = |query: String, limit: usize| {
        let client = client.clone();
        async move {
            client
                .list_workflows(query, WorkflowListOptions::builder().limit(limit).build())
                .map_ok(|w| Source::Server {
                    workflow_id: w.id().to_string(),
                    run_id: w.run_id().to_string(),
                    workflow_type: w.workflow_type().to_string(),
                })
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| HostError::ReplayUnavailable(e.to_string()))
        }
    };
    let mut out = Vec::new();
    for t in types {
        let left = r.max_total.saturating_sub(out.len()).min(r.max_per_type);
        if left == 0 {
            break;
        }
        let t_q = t.replace('\'', "\\'");
        let open = list(format!("TaskQueue = '{queue}' AND WorkflowType = '{t_q}' AND ExecutionStatus = 'Running'{extra}"), left).await?;
        let mut left = left - open.len();
        out.extend(open);
        if left > 0 && !r.closed_within.is_zero() {
            let since = SystemTime::now() - r.closed_within;
            let since = time_rfc3339(since);
            let closed = list(
                format!(
                    "TaskQueue = '{queue}' AND WorkflowType = '{t_q}' AND ExecutionStatus != 'Running' AND CloseTime > '{since}'{extra}"
                ),
                left,
            )
            .await?;
            left -= closed.len();
            out.extend(closed);
        }
        let _ = left;
    }
    // Open workflows of other types on the queue: reported, not replayed.
    let others = list(format!("TaskQueue = '{queue}' AND ExecutionStatus = 'Running'{extra}"), r.max_total).await?;
    for s in others {
        if let Source::Server { workflow_type, .. } = s
            && !types.contains(&workflow_type)
        {
            *report.skipped_types.entry(workflow_type).or_default() += 1;
        }
    }
    Ok(out)
}

fn time_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// A fetched (or read) history with where it came from.
struct Fetched {
    events: Vec<HistoryEvent>,
    file: Option<PathBuf>,
}

async fn fetch(client: Option<&Client>, namespace: &str, source: &Source) -> Result<Fetched, HostError> {
    match source {
        Source::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| HostError::ReplayInput { path: path.clone(), reason: e.to_string() })?;
            let history: History = serde_json::from_slice(&bytes).map_err(|e| HostError::ReplayInput {
                path: path.clone(),
                reason: format!("not a workflow history (the JSON `temporal workflow show --output json` writes): {e}"),
            })?;
            Ok(Fetched { events: history.events, file: Some(path.clone()) })
        }
        Source::Server { workflow_id, run_id, .. } => {
            let Some(client) = client else { return Err(HostError::ReplayUnavailable("no connection".into())) };
            let handle = WorkflowExecutionInfo::builder()
                .namespace(namespace.to_string())
                .workflow_id(workflow_id.clone())
                .run_id(run_id.clone())
                .build()
                .bind_untyped(client.clone());
            let events = handle
                .fetch_history(WorkflowFetchHistoryOptions::default())
                .into_events()
                .await
                .map_err(|e| HostError::ReplayUnavailable(format!("fetching the history of {workflow_id}: {e}")))?;
            Ok(Fetched { events, file: None })
        }
    }
}

/// Replay what `args` and the configuration select; the report. `client` is `None` when only
/// files are replayed.
pub async fn run(
    config: &Config,
    client: Option<Client>,
    register: &crate::Register,
    data_converter: DataConverter,
    keys: Option<Arc<tk8s_codec::Codec>>,
    args: &ReplayArgs,
) -> Result<Report, HostError> {
    let started = std::time::Instant::now();
    let mut options = WorkerOptions::new(config.worker.task_queue.clone()).build();
    register(&mut options).map_err(|e| HostError::startup("registering workflows", e))?;
    let definitions = options.workflows();
    let types: BTreeSet<String> = definitions.workflow_definitions().map(|d| d.workflow_type.clone()).collect();
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .namespace(config.temporal.namespace.clone())
            .task_queue(config.worker.task_queue.clone())
            .data_converter(data_converter)
            .worker_plugin(SimplePlugin::builder("tk8s-replay").workflows(definitions).build())
            .build(),
    )
    .map_err(|e| HostError::startup("the replayer", e))?;
    let mut report = Report::default();
    let mut sources: Vec<Source> = history_files(&args.from)?.into_iter().map(Source::File).collect();
    report.from_files = sources.len();
    if let Some(client) = &client {
        let listed = listed(client, config, &types, &mut report).await?;
        report.from_namespace = listed.len();
        sources.extend(listed);
    }
    info!(histories = sources.len(), types = ?types, "replaying");
    let progress = progress_bar(sources.len() as u64);
    let known: Option<BTreeSet<String>> = keys.map(|c| c.ring().ids().into_iter().map(String::from).collect());
    let namespace = config.temporal.namespace.clone();
    for chunk in sources.chunks(config.replay.batch.max(1)) {
        let fetched: Vec<Result<Fetched, HostError>> = stream::iter(chunk.iter().map(|s| fetch(client.as_ref(), &namespace, s)))
            .buffered(config.replay.concurrency.max(1))
            .collect()
            .await;
        let mut batch = Vec::new();
        for (source, f) in chunk.iter().zip(fetched) {
            let f = f?;
            let (workflow_type, workflow_id, run_id) = identity(&f.events);
            let file = f.file.as_ref().map(|p| p.display().to_string());
            if let (Some(dir), Source::Server { .. }) = (&args.save, source) {
                save(dir, &workflow_type, &workflow_id, &run_id, &f.events)?;
            }
            report.events += f.events.len() as u64;
            if !types.contains(&workflow_type) {
                *report.skipped_types.entry(workflow_type).or_default() += 1;
                progress.inc(1);
                continue;
            }
            let missing: Vec<String> = key_ids(&f.events).into_iter().filter(|id| known.as_ref().is_none_or(|k| !k.contains(id))).collect();
            if !missing.is_empty() {
                report.undecodable += 1;
                let where_ = match &config.codec {
                    Some(c) => match &c.keys {
                        tk8s_config::CodecKeys::Dir(d) => format!("the key directory {}", d.display()),
                        tk8s_config::CodecKeys::Inline(_) => format!("the inline keys ({})", tk8s_config::spec::CODEC_KEYS.env),
                    },
                    None => format!("nowhere: no keys are configured ({})", tk8s_config::spec::CODEC_KEYS_DIR.env),
                };
                report.failures.push(Failure {
                    workflow_id,
                    run_id,
                    workflow_type,
                    kind: "undecodable",
                    message: format!("payloads are encrypted under key {}, which is not in {where_}", missing.join(", ")),
                    event_id: None,
                    file,
                });
                progress.inc(1);
                continue;
            }
            batch.push((workflow_type, workflow_id, run_id, file, f.events));
        }
        let (metas, histories): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|(t, id, run, file, events)| ((t, id, run, file), WorkflowHistory::from(History { events }))).unzip();
        let results = replayer.replay_workflows(histories).await.map_err(|e| HostError::startup("replaying", e))?;
        for ((workflow_type, workflow_id, run_id, file), result) in metas.into_iter().zip(results) {
            let count = report.types.entry(workflow_type.clone()).or_default();
            match result.replay_failure {
                None => {
                    count.replayed += 1;
                    report.replayed += 1;
                }
                Some(failure) => {
                    count.failed += 1;
                    report.failed += 1;
                    let (kind, message) = kind(&failure);
                    report.failures.push(Failure { event_id: event_id(&message), workflow_id, run_id, workflow_type, kind, message, file });
                }
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    report.peak_rss_bytes = peak_rss();
    Ok(report)
}

fn save(dir: &Path, workflow_type: &str, workflow_id: &str, run_id: &str, events: &[HistoryEvent]) -> Result<(), HostError> {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect::<String>();
    let path = dir.join(clean(workflow_type)).join(format!("{}__{}.json", clean(workflow_id), clean(run_id)));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        let text = serde_json::to_vec_pretty(&History { events: events.to_vec() }).map_err(std::io::Error::other)?;
        std::fs::write(&path, text)
    };
    write().map_err(|e| HostError::ReplayInput { path: path.clone(), reason: format!("cannot save: {e}") })
}

/// A progress bar on a terminal; hidden otherwise (logs and CI).
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying {bar:30} {pos}/{len} histories ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_where_a_replay_diverged_is_read_from_the_message_when_it_is_there() {
        assert_eq!(
            event_id("Nondeterminism error: Activity machine does not handle this event: HistoryEvent(id: 5, ActivityTaskScheduled)"),
            Some(5)
        );
        assert_eq!(event_id("[TMPRL1100] Nondeterminism error: ... at event 12"), Some(12));
        assert_eq!(event_id("no event numbers here"), None);
    }

    #[test]
    fn the_sdks_words_are_unwrapped() {
        let wrapped = "Workflow activation completion failed: Failure { failure: Some(Failure { message: \"[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'a' does not match 'b'\", source: \"\" }) }";
        assert_eq!(innermost(wrapped), "[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'a' does not match 'b'");
        assert_eq!(innermost("plain"), "plain");
    }

    #[test]
    fn dates_for_visibility_queries() {
        assert_eq!(time_rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(time_rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_300_000)), "2026-12-03T12:13:20Z");
    }
}
