//! The binary as a service: `govhub demo --serve` answers `govhub status`, `pause` and
//! `resume`, and stops on SIGTERM with exit 0 and every cursor committed; a batch that
//! cannot finish makes it exit 1 once the shutdown deadline has passed; an admin server
//! beyond loopback without a token does not start.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{Guard, govhub, sigterm, wait_exit, write_config};

/// Generous: other builds and tests may be sharing two cores.
const STARTUP: Duration = Duration::from_secs(120);

/// The lines of the child's stdout, read on a thread, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// A plain HTTP/1.1 GET: the whole response, status line first.
fn get(addr: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return "no connection".to_owned();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

#[test]
fn demo_serve_answers_the_cli_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args([
            "demo",
            "--serve",
            "--admin",
            "127.0.0.1:0",
            "--residents",
            "300",
        ])
        .args(["--shutdown-timeout", "20", "--data-dir"])
        .arg(&data)
        .env_remove("GOVHUB_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let stdout = lines(&mut child.0);

    // The demo prints where its admin server listens (it asked for port 0).
    let started = Instant::now();
    let addr = loop {
        let line = stdout
            .recv_timeout(STARTUP.saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("no admin line; stderr:\n{}", stderr_of(&mut child.0)));
        if let Some(rest) = line.strip_prefix("admin: http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    // The initial sync is done when the demo says it is serving; then it must be ready.
    loop {
        let line = stdout
            .recv_timeout(STARTUP.saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("not serving; stderr:\n{}", stderr_of(&mut child.0)));
        if line.starts_with("serving the dashboard at") {
            break;
        }
    }
    loop {
        let answer = get(&addr, "/readyz");
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < STARTUP, "never ready: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // govhub status: a table with every connector, idle once the first poll after the
    // initial sync (which starts at once) has found nothing new.
    loop {
        let status = govhub(&["status", "--admin", &addr]);
        let table = String::from_utf8_lossy(&status.stdout).into_owned();
        assert_eq!(status.status.code(), Some(0), "{table}");
        let states: Vec<&str> = ["civil_affairs", "education", "health", "urban"]
            .iter()
            .map(|connector| {
                let row = table
                    .lines()
                    .find(|l| l.starts_with(connector))
                    .unwrap_or_else(|| panic!("no {connector} in\n{table}"));
                row.split_whitespace().nth(1).unwrap_or_default()
            })
            .collect();
        if states.iter().all(|s| *s == "idle") {
            break;
        }
        assert!(
            states.iter().all(|s| *s == "idle" || *s == "running"),
            "{table}"
        );
        assert!(started.elapsed() < STARTUP, "never all idle:\n{table}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let json = govhub(&["status", "--admin", &format!("http://{addr}/"), "--json"]);
    let overview: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(overview["connectors"].as_array().unwrap().len(), 4);
    let education = overview["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "education")
        .unwrap();
    assert!(education["counts"]["published"].as_u64().unwrap() > 0);

    let paused = govhub(&["pause", "education", "--admin", &addr]);
    assert_eq!(paused.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&paused.stdout),
        "education: paused\n"
    );
    let resumed = govhub(&["resume", "education", "--admin", &addr]);
    assert_eq!(resumed.status.code(), Some(0));
    let unknown = govhub(&["pause", "nosuch", "--admin", &addr]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nosuch"));

    sigterm(&child.0);
    let exit = wait_exit(&mut child.0, Duration::from_secs(25));
    let stderr = stderr_of(&mut child.0);
    assert_eq!(exit.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    // Every connector's cursor is committed.
    let store = govhub_resolve::StateStore::open(&data).unwrap();
    for connector in ["civil_affairs", "education", "health", "urban"] {
        assert!(store.cursor(connector).unwrap().is_some(), "{connector}");
    }

    // Nobody listens there any more: unreachable is exit 1; a bad address is usage.
    let gone = govhub(&["status", "--admin", &addr]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot reach"));
    let bad = govhub(&["status", "--admin", "ftp://nowhere"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// A page whose request is still in flight holds nothing to commit: on SIGTERM it is
/// abandoned (the cursor has not moved; the next start reads it again), so a department
/// that never answers does not hold up the shutdown until the deadline.
#[test]
fn a_request_in_flight_does_not_hold_up_a_shutdown() {
    // A department API that accepts connections and never answers.
    let api = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}/api/v1/students", api.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &url, ten_minute_timeout);

    let child = Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args([
            "run",
            "--admin",
            "off",
            "--shutdown-timeout",
            "1",
            "--config",
        ])
        .arg(&path)
        .env("GOVHUB_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    // Once the hub's request has arrived, its batch is in hand.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(api.accept());
    });
    let _connection = rx
        .recv_timeout(STARTUP)
        .unwrap_or_else(|_| panic!("no request; stderr:\n{}", stderr_of(&mut child.0)))
        .unwrap();
    let signalled = std::time::Instant::now();
    sigterm(&child.0);
    let exit = wait_exit(&mut child.0, Duration::from_secs(20));
    let stderr = stderr_of(&mut child.0);
    assert_eq!(exit.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        signalled.elapsed()
    );
}

#[test]
fn an_admin_server_beyond_loopback_without_a_token_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "http://127.0.0.1:9/api/v1/students",
        ten_minute_timeout,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args(["run", "--admin", "0.0.0.0:0", "--config"])
        .arg(&path)
        .env("GOVHUB_LOG", "error")
        .env_remove("GOVHUB_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("GOVHUB_ADMIN_TOKEN"), "{stderr}");
}

/// A ten-minute request timeout: a stuck batch outlives any shutdown deadline.
fn ten_minute_timeout(education: &mut toml::Table) {
    education["timeout_secs"] = 600.into();
}
