//! `govhub tail <topic>`: print a topic's events, from Kafka or the embedded log.
//!
//! Reads with the readers the dead-letter commands use: `govhub_stream::kafka::
//! read_topic` (from given offsets to the high watermark) and [`EmbeddedLog::read`].
//! Following means reading again from the next offsets every poll: for Kafka only the
//! new messages travel; the embedded log's file is read whole each poll, which suits the
//! single-machine sizes it is for.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use govhub_schema::Standard;
use govhub_stream::{EmbeddedLog, KafkaSinkConfig, LogEntry, Topics, kafka};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{CONFIG_ERROR, load_config, load_standard};

/// Arguments of `govhub tail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic: its full name (`govhub.education.enrollment.v2`), or short: without
    /// the prefix (`education.enrollment.v2`) or also without the version
    /// (`education.enrollment`, `dlq`, `person`: the latest version).
    pub topic: String,
    /// The config file (TOML): Kafka when it has `[kafka]`, else the embedded log under
    /// its data_dir; and the topic prefix.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Read the embedded log under this data directory (`<DIR>/log`), whatever the
    /// config says.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Start at the first event. Without it only events written after tail starts are
    /// shown, so tail waits for them (as with --follow).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many events.
    #[arg(long, short = 'n')]
    pub limit: Option<u64>,
    /// Keep waiting for new events at the end of the topic, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// pretty: a header line per event (position, key, type, id, time) and the value as
    /// indented JSON; json: one JSON object per line with topic, partition, offset, key,
    /// headers and value.
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    pub format: Format,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Pretty,
    /// One JSON object per line, for `jq` and scripts.
    Json,
}

/// Where the events are read from.
#[derive(Debug)]
enum Reader {
    Kafka(KafkaSinkConfig),
    Log(EmbeddedLog),
}

/// How long one Kafka read may take before it fails.
const KAFKA_READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Reader {
    fn describe(&self) -> String {
        match self {
            Reader::Kafka(k) => format!("Kafka at {}", k.bootstrap_servers),
            Reader::Log(log) => format!("the embedded log at {}", log.dir().display()),
        }
    }

    /// How long to wait between reads when following.
    fn poll_interval(&self) -> Duration {
        match self {
            Reader::Kafka(_) => Duration::from_secs(1),
            Reader::Log(_) => Duration::from_millis(250),
        }
    }

    /// Events of `topic` at or after `next` (next offset per partition; partitions not
    /// in it from their first event), in partition and offset order.
    async fn read(&self, topic: &str, next: &BTreeMap<i32, u64>) -> anyhow::Result<Vec<LogEntry>> {
        match self {
            Reader::Kafka(config) => {
                let config = config.clone();
                let owned_topic = topic.to_owned();
                let from: BTreeMap<i32, i64> = next
                    .iter()
                    .map(|(p, o)| (*p, i64::try_from(*o).unwrap_or(i64::MAX)))
                    .collect();
                let entries = tokio::task::spawn_blocking(move || {
                    kafka::read_topic(&config, &owned_topic, &from, KAFKA_READ_TIMEOUT)
                })
                .await
                .context("the Kafka reader task failed")?
                .with_context(|| format!("reading {topic} from {}", self.describe()))?;
                Ok(entries)
            }
            Reader::Log(log) => {
                let entries = tokio::task::block_in_place(|| log.read(topic))
                    .with_context(|| format!("reading {topic} from {}", self.describe()))?;
                let from = next.get(&0).copied().unwrap_or(0);
                Ok(entries.into_iter().filter(|e| e.offset >= from).collect())
            }
        }
    }

    /// Topics the sink has: the embedded log's files; Kafka is not asked.
    fn existing_topics(&self) -> Vec<String> {
        match self {
            Reader::Kafka(_) => Vec::new(),
            Reader::Log(log) => log.topics().unwrap_or_default(),
        }
    }
}

/// Runs `govhub tail`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => match load_config(path) {
            Ok(c) => Some(c),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let topics = match &config {
        Some(c) => match c.topics() {
            Ok(t) => t,
            Err(problem) => {
                eprintln!("{problem}");
                return Ok(ExitCode::from(CONFIG_ERROR));
            }
        },
        None => Topics::default(),
    };
    let reader = match (&args.data_dir, &config) {
        (Some(dir), _) => open_log(dir)?,
        (None, Some(c)) => match &c.kafka {
            Some(kafka) => Reader::Kafka(kafka.clone()),
            None => open_log(&c.data_dir)?,
        },
        (None, None) => {
            eprintln!(
                "govhub tail needs --config FILE (Kafka, or the embedded log of its data_dir) \
                 or --data-dir DIR (the embedded log under DIR/log)"
            );
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
    };
    let standard = match load_standard(config.as_ref()) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let mut known = hub_topics(&standard, &topics);
    known.extend(reader.existing_topics());
    known.sort();
    known.dedup();
    let Some(topic) = resolve(&args.topic, &topics, &known) else {
        eprintln!(
            "unknown topic {:?}; known topics (full or without the prefix {:?}, with or \
             without the version):\n  {}",
            args.topic,
            topics.prefix(),
            known.join("\n  ")
        );
        return Ok(ExitCode::from(CONFIG_ERROR));
    };

    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let mut next: BTreeMap<i32, u64> = BTreeMap::new();
    if !args.from_beginning {
        // Only new events: start after everything the topic holds now. The readers have
        // no end-offset query, so this reads the topic once (as `dlq list` does).
        let current = tokio::select! {
            r = reader.read(&topic, &next) => r?,
            () = stop.cancelled() => return Ok(ExitCode::SUCCESS),
        };
        advance(&mut next, &current);
    }
    let follow = args.follow || !args.from_beginning;
    if follow {
        eprintln!(
            "tail: {topic} on {}: waiting for new events (Ctrl-C to stop)",
            reader.describe()
        );
    }
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    loop {
        let entries = if printed < limit {
            tokio::select! {
                r = reader.read(&topic, &next) => r?,
                () = stop.cancelled() => break,
            }
        } else {
            Vec::new()
        };
        let mut out = std::io::BufWriter::new(stdout.lock());
        for entry in entries
            .iter()
            .take(usize::try_from(limit - printed).unwrap_or(usize::MAX))
        {
            let written = match args.format {
                Format::Pretty => write_pretty(&mut out, &topic, entry),
                Format::Json => write_json(&mut out, &topic, entry),
            };
            if let Err(e) = written {
                return finish_output(e);
            }
            printed += 1;
        }
        if let Err(e) = out.flush() {
            return finish_output(e);
        }
        drop(out);
        advance(&mut next, &entries);
        if printed >= limit || !follow {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(reader.poll_interval()) => {}
            () = stop.cancelled() => break,
        }
    }
    if !follow {
        eprintln!(
            "tail: {printed} event(s) of {topic} on {}",
            reader.describe()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The embedded log under `data_dir`, which must exist (tail never creates one).
fn open_log(data_dir: &Path) -> anyhow::Result<Reader> {
    let dir = data_dir.join("log");
    if !dir.is_dir() {
        anyhow::bail!(
            "no embedded log at {}: the data directory has none yet (run the hub on it, or \
             pass the data_dir of a hub that writes to the embedded log)",
            dir.display()
        );
    }
    Ok(Reader::Log(EmbeddedLog::open(&dir).with_context(|| {
        format!("opening the embedded log at {}", dir.display())
    })?))
}

/// Every topic the hub writes under `topics`: each kind and version of the standard,
/// the person and identity topics, and the dead-letter topic.
pub fn hub_topics(standard: &Standard, topics: &Topics) -> Vec<String> {
    let mut names: Vec<String> = standard
        .iter()
        .map(|schema| topics.kind(&schema.topic_suffix()))
        .collect();
    names.push(topics.person());
    names.push(topics.identity());
    names.push(topics.dlq());
    names
}

/// The full name of the topic `given` means among `known`: itself, itself after the
/// prefix, or the latest version of `<prefix><given>.v<N>`.
fn resolve(given: &str, topics: &Topics, known: &[String]) -> Option<String> {
    let prefixed = format!("{}{given}", topics.prefix());
    for candidate in [given, prefixed.as_str()] {
        if known.iter().any(|k| k == candidate) {
            return Some(candidate.to_owned());
        }
    }
    let stem = format!("{prefixed}.v");
    known
        .iter()
        .filter_map(|k| {
            let version: u32 = k.strip_prefix(&stem)?.parse().ok()?;
            Some((version, k))
        })
        .max()
        .map(|(_, k)| k.clone())
}

/// Moves `next` past `entries`.
fn advance(next: &mut BTreeMap<i32, u64>, entries: &[LogEntry]) {
    for entry in entries {
        let n = next.entry(entry.partition).or_default();
        *n = (*n).max(entry.offset + 1);
    }
}

/// `pretty`: `<topic> <partition>:<offset>  key=… type=… id=… time=…` and the value as
/// indented JSON.
fn write_pretty(out: &mut impl Write, topic: &str, entry: &LogEntry) -> std::io::Result<()> {
    let header = |name: &str| entry.header(name).unwrap_or("-").to_owned();
    writeln!(
        out,
        "{topic} {}:{}  key={}  type={}  id={}  time={}",
        entry.partition,
        entry.offset,
        entry.key.as_deref().unwrap_or("-"),
        header("ce_type"),
        header("ce_id"),
        header("ce_time"),
    )?;
    let value = serde_json::to_string_pretty(&entry.value).unwrap_or_default();
    for line in value.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// `json`: `{"topic", "partition", "offset", "key", "headers", "value"}` on one line;
/// headers as an object (the first of a repeated name wins).
fn write_json(out: &mut impl Write, topic: &str, entry: &LogEntry) -> std::io::Result<()> {
    let mut headers = serde_json::Map::new();
    for (name, value) in &entry.headers {
        headers
            .entry(name.clone())
            .or_insert_with(|| Value::String(value.clone()));
    }
    let line = json!({
        "topic": topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "key": entry.key,
        "headers": headers,
        "value": entry.value,
    });
    writeln!(out, "{line}")
}

/// A closed stdout (`govhub tail … | head`) ends tail quietly; other errors are errors.
fn finish_output(e: std::io::Error) -> anyhow::Result<ExitCode> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(e).context("writing to stdout")
    }
}

/// Cancels `stop` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    stop.cancel();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn short_names_resolve_to_the_latest_version() {
        let topics = Topics::new("x.").unwrap();
        let known: Vec<String> = [
            "x.education.enrollment.v1",
            "x.education.enrollment.v2",
            "x.dlq.v1",
            "other",
        ]
        .map(String::from)
        .to_vec();
        let r = |given: &str| resolve(given, &topics, &known);
        assert_eq!(
            r("x.education.enrollment.v1").as_deref(),
            Some("x.education.enrollment.v1")
        );
        assert_eq!(
            r("education.enrollment.v1").as_deref(),
            Some("x.education.enrollment.v1")
        );
        assert_eq!(
            r("education.enrollment").as_deref(),
            Some("x.education.enrollment.v2")
        );
        assert_eq!(r("dlq").as_deref(), Some("x.dlq.v1"));
        assert_eq!(r("other").as_deref(), Some("other"));
        assert_eq!(r("education"), None);
        assert_eq!(r("health.encounter"), None);
    }

    #[test]
    fn advance_keeps_the_next_offset_per_partition() {
        let entry = |partition, offset| LogEntry {
            partition,
            offset,
            key: None,
            headers: Vec::new(),
            value: Value::Null,
        };
        let mut next = BTreeMap::new();
        advance(&mut next, &[entry(0, 4), entry(1, 0), entry(0, 5)]);
        assert_eq!(next, BTreeMap::from([(0, 6), (1, 1)]));
    }
}
