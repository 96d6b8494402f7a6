//! The `govhub` binary as operators run it: exit codes, `run --once`, `backfill`,
//! `check`, against the simulated education registry and the embedded log.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;

use govhub_sim::education::{EducationSim, STUDENTS_PATH};

mod common;
use common::{govhub, write_config};

const SIM: EducationSim = EducationSim {
    seed: 9,
    students: 150,
    invalid_every: 30,
};

/// pulled, published, rejected, duplicates of the education connector.
fn counts(output: &Output) -> [u64; 4] {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("education"))
        .unwrap_or_else(|| panic!("no education line in {stdout}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    [n[0], n[1], n[2], n[3]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_then_backfill_re_reads_everything() {
    let server = govhub_sim::serve(SIM.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.url(STUDENTS_PATH), |_| {})
        .display()
        .to_string();

    let checked = govhub(&["check", "--config", &config]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let first = govhub(&["run", "--config", &config, "--once"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(counts(&first), [150, 147, 3, 0]);
    let again = govhub(&["run", "--config", &config, "--once"]);
    assert_eq!(counts(&again), [0, 0, 0, 0], "the cursor is committed");

    let backfill = govhub(&["backfill", "education", "--config", &config]);
    assert_eq!(
        backfill.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&backfill.stderr)
    );
    assert_eq!(
        counts(&backfill),
        [150, 0, 0, 150],
        "re-read, all recognised"
    );
    let republish = govhub(&["backfill", "education", "--config", &config, "--republish"]);
    assert_eq!(counts(&republish), [150, 147, 3, 0]);

    // --since needs an incremental connector; page numbers have no time.
    let since = govhub(&[
        "backfill",
        "education",
        "--config",
        &config,
        "--since",
        "2026-01-01 00:00:00",
    ]);
    assert_eq!(since.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&since.stderr).contains("updated_since"));
    let unknown = govhub(&["backfill", "nope", "--config", &config]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("known: education"));

    // While another process owns the data directory (a running hub), commands that
    // write its state are refused, and the cursor is left alone.
    let cursor = || {
        let store = govhub_resolve::StateStore::open(dir.path()).unwrap();
        store.cursor("education").unwrap()
    };
    let before = cursor();
    assert!(before.is_some(), "run --once committed a cursor");
    let held = govhub::lock::DataDirLock::acquire(dir.path()).unwrap();
    for args in [
        vec!["backfill", "education", "--config", &config],
        vec!["run", "--config", &config, "--once"],
        vec!["dlq", "replay", "--config", &config],
    ] {
        let refused = govhub(&args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("in use by another govhub process"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(cursor(), before, "cursor untouched");
    drop(held);
    assert!(
        govhub(&["run", "--config", &config, "--once"])
            .status
            .success()
    );
}

#[test]
fn a_broken_config_exits_2_with_every_problem_and_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "ftp://nowhere/", |_| {})
        .display()
        .to_string();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "kind = \"education.enrollment\"",
        "kind = \"education.nothing\"",
    ) + "\n[connectors.education.auth]\nstyle = \"bearer\"\ntoken = \"written-in-the-file\"\n";
    std::fs::write(&config, text).unwrap();
    let out = govhub(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: connectors.education.auth.token: put secrets in the environment"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connectors.education.kind: no schema"),
        "{stderr}"
    );
    assert!(
        stderr.contains("connectors.education.url: must be an http"),
        "{stderr}"
    );
}

#[test]
fn an_unset_secret_is_a_config_error_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9/", |education| {
        let auth: toml::Table =
            toml::from_str("style = \"bearer\"\ntoken = \"${GOVHUB_TEST_NEVER_SET}\"").unwrap();
        education.insert("auth".into(), auth.into());
    })
    .display()
    .to_string();
    let expected = "connectors.education.auth.token: environment variable \
                    GOVHUB_TEST_NEVER_SET is not set";

    let check = govhub(&["check", "--config", &config]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("warning: {expected}")), "{stderr}");
    assert!(String::from_utf8_lossy(&check.stdout).contains("1 warning(s)"));

    let strict = govhub(&["check", "--strict", "--config", &config]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&strict.stderr).contains(&format!("  {expected}")));

    let run = govhub(&["run", "--once", "--config", &config]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(
        !dir.path().join("govhub.lock").exists(),
        "refused before the data directory was touched"
    );

    // With Kafka and exactly-once, before joining the other instances: no broker
    // answers at 127.0.0.1:1, and the refusal is about the secret all the same.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n");
    std::fs::write(&config, text).unwrap();
    let run = govhub(&["run", "--admin", "off", "--config", &config]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("joining"), "{stderr}");
}

#[test]
fn a_taken_admin_port_stops_run_before_the_hub_starts_and_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = write_config(dir.path(), "http://127.0.0.1:9/", |_| {})
        .display()
        .to_string();

    let run = govhub(&["run", "--once", "--admin", &addr, "--config", &config]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("admin server: cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--admin ADDR"), "{stderr}");
    assert!(
        !stderr.contains("hub ready"),
        "bound before the hub started: {stderr}"
    );
    assert!(
        !dir.path().join("govhub.lock").exists(),
        "refused before the data directory was touched"
    );
}

/// `govhub check` knows the admin address `run` will be given: beyond loopback without
/// a token it fails, as does `run` — before connecting to the broker or locking the
/// data directory. A malformed `[admin] allowed_hosts` entry is caught the same way.
#[test]
fn an_admin_bind_beyond_loopback_without_a_token_fails_check_and_run_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    // The "broker": a socket that records whether anything connected to it.
    let broker = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    broker.set_nonblocking(true).unwrap();
    let write = |admin: Option<toml::Table>| {
        let path = write_config(dir.path(), "http://127.0.0.1:9/", |_| {});
        let mut config: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut kafka = toml::Table::new();
        let servers = broker.local_addr().unwrap().to_string();
        kafka.insert("bootstrap_servers".into(), servers.into());
        config.insert("kafka".into(), kafka.into());
        if let Some(admin) = admin {
            config.insert("admin".into(), admin.into());
        }
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        path.display().to_string()
    };
    let config = write(None);
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let checked = govhub(&["check", "--config", &config, "--admin", "0.0.0.0:9464"]);
    assert_eq!(checked.status.code(), Some(2), "{}", stderr(&checked));
    assert!(
        stderr(&checked).contains("--admin: "),
        "{}",
        stderr(&checked)
    );
    assert!(
        stderr(&checked).contains("GOVHUB_ADMIN_TOKEN"),
        "{}",
        stderr(&checked)
    );
    // The same config is fine on loopback (the default), or with a token.
    let local = govhub(&["check", "--config", &config]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let with_token = std::process::Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args(["check", "--config", &config, "--admin", "0.0.0.0:9464"])
        .env("GOVHUB_LOG", "error")
        .env("GOVHUB_ADMIN_TOKEN", "synthetic-token")
        .output()
        .unwrap();
    assert_eq!(with_token.status.code(), Some(0), "{}", stderr(&with_token));

    let run = govhub(&["run", "--config", &config, "--admin", "0.0.0.0:0"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("GOVHUB_ADMIN_TOKEN"),
        "{}",
        stderr(&run)
    );

    let mut admin = toml::Table::new();
    admin.insert(
        "allowed_hosts".into(),
        toml::Value::Array(vec!["https://hub.internal".into()]),
    );
    let config = write(Some(admin));
    for args in [
        vec!["check", "--config", &config],
        vec!["run", "--config", &config, "--admin", "127.0.0.1:0"],
    ] {
        let out = govhub(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("admin.allowed_hosts[0]: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    let connected = broker.accept();
    assert!(
        matches!(&connected, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "something connected to the broker: {connected:?}"
    );
    assert!(
        !dir.path().join("govhub.lock").exists(),
        "refused before the data directory was locked"
    );
}
