//! `govhub tail` on the embedded log: a demo run fills a data directory, then tail reads
//! it from the beginning, waits for new events, follows until Ctrl-C, and refuses
//! topics that do not exist.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use govhub_core::{Header, OutEvent, Sink};
use govhub_stream::{EmbeddedLog, LogEntry};
use serde_json::{Value, json};

mod common;
use common::{demo, govhub};

const ENROLLMENT: &str = "govhub.education.enrollment.v2";

/// What the demo wrote to `topic`, read directly from the log.
fn stored(data: &Path, topic: &str) -> Vec<LogEntry> {
    EmbeddedLog::open(&data.join("log"))
        .unwrap()
        .read(topic)
        .unwrap()
}

fn tail(data: &Path, args: &[&str]) -> Output {
    let mut all = vec!["tail", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    govhub(&all)
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "tail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reads_a_topic_from_the_beginning_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 200);
    let expected = stored(&data, ENROLLMENT);
    assert!(expected.len() > 10);

    // Everything, one JSON object per line, as stored.
    let out = tail(&data, &[ENROLLMENT, "--from-beginning", "--format", "json"]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), expected.len());
    for (line, entry) in lines.iter().zip(&expected) {
        assert_eq!(line["topic"], ENROLLMENT);
        assert_eq!(line["partition"], 0);
        assert_eq!(line["offset"], entry.offset);
        assert_eq!(line["key"], json!(entry.key));
        assert_eq!(line["value"], entry.value);
        assert_eq!(line["headers"]["ce_id"], entry.header("ce_id").unwrap());
        assert_eq!(line["headers"]["ce_type"], ENROLLMENT);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} event(s) of {ENROLLMENT}", expected.len())),
        "{stderr}"
    );

    // Short names: without the prefix, and without the version (the latest).
    for short in ["education.enrollment", "education.enrollment.v2"] {
        let lines = json_lines(&tail(
            &data,
            &[short, "--from-beginning", "-n", "3", "--format", "json"],
        ));
        let offsets: Vec<&Value> = lines.iter().map(|l| &l["offset"]).collect();
        assert_eq!(offsets, [&json!(0), &json!(1), &json!(2)], "{short}");
        assert_eq!(lines[0]["topic"], ENROLLMENT);
    }
    let letters = json_lines(&tail(
        &data,
        &["dlq", "--from-beginning", "--format", "json"],
    ));
    assert_eq!(letters.len(), stored(&data, "govhub.dlq.v1").len());
    assert!(!letters.is_empty());
    for letter in &letters {
        assert_eq!(letter["headers"]["ce_type"], "govhub.dlq.rejected.v1");
        assert!(letter["value"]["violations"].is_array());
    }
    let people = json_lines(&tail(
        &data,
        &["person", "--from-beginning", "-n", "1", "--format", "json"],
    ));
    assert_eq!(people[0]["topic"], "govhub.person.v1");
    assert_eq!(people[0]["key"], people[0]["value"]["person_id"]);

    // Pretty: a header line per event, then the value as indented JSON.
    let out = tail(
        &data,
        &["education.enrollment", "--from-beginning", "-n", "2"],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let first = &expected[0];
    let header = format!(
        "{ENROLLMENT} 0:0  key={}  type={ENROLLMENT}  id={}  time={}",
        first.key.as_deref().unwrap(),
        first.header("ce_id").unwrap(),
        first.header("ce_time").unwrap()
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header.as_str()), "{text}");
    let body: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.starts_with("  "))
        .map(|l| &l[2..])
        .collect();
    let value: Value = serde_json::from_str(&body.join("\n")).unwrap();
    assert_eq!(value, first.value);
    assert_eq!(text.lines().filter(|l| !l.starts_with(' ')).count(), 2);

    // The same through a config file: its data_dir and topic prefix.
    let config = dir.path().join("govhub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[connectors.education]\ndepartment = \"education\"\nkind = \"education.enrollment\"\nurl = \"http://127.0.0.1:1/\"\nrecord_id = \"/student_id\"\n[connectors.education.pagination]\nstyle = \"page_number\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let lines = json_lines(&govhub(&[
        "tail",
        "--config",
        config.to_str().unwrap(),
        "health.encounter",
        "--from-beginning",
        "-n",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["topic"], "govhub.health.encounter.v1");
}

#[test]
fn unknown_topics_and_missing_logs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 200);

    let out = tail(&data, &["education.nothing", "--from-beginning"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown topic \"education.nothing\""),
        "{stderr}"
    );
    for known in [
        "govhub.health.encounter.v1",
        "govhub.person.v1",
        "govhub.identity.v1",
        "govhub.dlq.v1",
    ] {
        assert!(stderr.contains(known), "{known} not listed: {stderr}");
    }

    let out = govhub(&["tail", ENROLLMENT]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));

    let empty = dir.path().join("empty");
    let out = tail(&empty, &[ENROLLMENT, "--from-beginning"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no embedded log at"), "{stderr}");
    assert!(!empty.exists(), "tail created {}", empty.display());
}

/// A running `govhub tail`, killed if the test ends early.
struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn spawn_tail(data: &Path, args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govhub"))
        .arg("tail")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("GOVHUB_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    Running {
        child,
        stdout,
        stderr,
    }
}

const WAIT: Duration = Duration::from_secs(60);

impl Running {
    /// Waits until tail says it is waiting for new events.
    fn wait_ready(&self) {
        loop {
            let line = self
                .stderr
                .recv_timeout(WAIT)
                .expect("tail never said it was waiting");
            if line.contains("waiting for new events") {
                return;
            }
        }
    }

    fn next_json(&self) -> Value {
        let line = self.stdout.recv_timeout(WAIT).expect("no event from tail");
        serde_json::from_str(&line).unwrap()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("tail did not exit");
    }
}

/// Appends `n` made-up events to `topic` in the log, as another writer would.
async fn append(data: &Path, topic: &str, n: u64) {
    let mut log = EmbeddedLog::open(&data.join("log")).unwrap();
    let events = (0..n)
        .map(|i| OutEvent {
            topic: topic.to_owned(),
            key: Some(format!("NEW{i}")),
            headers: vec![Header {
                name: "ce_id".into(),
                value: format!("new-{i}"),
            }],
            value: json!({ "appended": i }).to_string().into_bytes(),
        })
        .collect();
    log.write(events).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_from_beginning_only_new_events_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 200);
    let before = stored(&data, ENROLLMENT).len() as u64;

    let mut running = spawn_tail(
        &data,
        &["education.enrollment", "--format", "json", "-n", "2"],
    );
    running.wait_ready();
    append(&data, ENROLLMENT, 3).await;
    let first = running.next_json();
    let second = running.next_json();
    assert_eq!(first["offset"], before);
    assert_eq!(first["key"], "NEW0");
    assert_eq!(first["value"], json!({ "appended": 0 }));
    assert_eq!(second["offset"], before + 1);
    // -n 2: it stops by itself after two.
    assert!(running.wait_exit().success());
    assert!(running.stdout.recv_timeout(Duration::from_secs(1)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_keeps_reading_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 200);
    let letters = stored(&data, "govhub.dlq.v1").len();
    assert!(letters > 0);

    let mut running = spawn_tail(
        &data,
        &["dlq", "--from-beginning", "--follow", "--format", "json"],
    );
    for offset in 0..letters {
        assert_eq!(running.next_json()["offset"], offset);
    }
    running.wait_ready();
    append(&data, "govhub.dlq.v1", 1).await;
    let new = running.next_json();
    assert_eq!(new["offset"], letters);
    assert_eq!(new["key"], "NEW0");

    let status = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        running.wait_exit().success(),
        "Ctrl-C is a normal way to stop"
    );
}
