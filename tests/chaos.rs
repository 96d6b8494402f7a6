//! The chaos test, small: `deploy/chaos.sh` with 5 hub kills (`kill -9`), 1 broker
//! restart under a running hub and a few hundred residents, against the `govhub`
//! binary of the same build (debug or release), then `govhub verify` of the result
//! against a clean run; exactly-once, so no event may be read twice by a
//! `read_committed` consumer (`govhub verify` and kcat both count).
//!
//! The same with three instances and the connectors spread over them
//! (`INSTANCES=3`): each kill strikes one of them at random.
//!
//! It stops and starts the local broker (`deploy/kafka/local.sh`), so it is a test
//! binary of its own: cargo runs test binaries one after another, so no other test of
//! the same `cargo test` sees the outage; its two tests take turns. The binary is not
//! built here: `cargo test --workspace` builds it beside this test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use govhub_tests::govhub_binary;

/// The script gets this long before it is stopped (it stops everything it started).
const DEADLINE: Duration = Duration::from_secs(300);

fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// The port of the local broker, from `GOVHUB_TEST_KAFKA` if it names one on 127.0.0.1.
fn local_broker_port() -> String {
    match std::env::var("GOVHUB_TEST_KAFKA") {
        Err(_) => "9092".to_owned(),
        Ok(servers) => match servers.strip_prefix("127.0.0.1:") {
            Some(port) if port.parse::<u16>().is_ok() => port.to_owned(),
            _ => panic!(
                "GOVHUB_TEST_KAFKA={servers}: the chaos test restarts the broker, so it needs \
                 the one deploy/kafka/local.sh runs on 127.0.0.1"
            ),
        },
    }
}

/// Held by the test restarting the broker: one at a time.
static BROKER: Mutex<()> = Mutex::new(());

#[test]
fn the_hub_survives_kills_and_a_broker_restart() {
    let output = chaos(&[]);
    for line in ["chaos: kills: 5 ", "broker restarts: 1,"] {
        assert!(
            output.contains(line),
            "no {line:?} in the output:\n{output}"
        );
    }
}

#[test]
fn spread_connectors_survive_kills_of_their_instances_and_a_broker_restart() {
    let output = chaos(&[("INSTANCES", "3")]);
    for line in [
        "chaos: 3 instances, the connectors spread over them",
        "chaos: the instances caught up: ok",
        "chaos: kills: 5 of 3 instances with the connectors spread",
        "broker restarts: 1,",
    ] {
        assert!(
            output.contains(line),
            "no {line:?} in the output:\n{output}"
        );
    }
}

/// Runs `deploy/chaos.sh 5 1 300 2026` with `env`, checks it passed with nothing read
/// twice, and returns its output.
fn chaos(env: &[(&str, &str)]) -> String {
    let _turn = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bin = govhub_binary();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_path = dir.path().join("chaos.out");
    let out = File::create(&out_path).expect("the output file");
    let err = out.try_clone().expect("the output file");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(workspace().join("deploy/chaos.sh"))
        .args(["5", "1", "300", "2026"])
        .env("GOVHUB_BIN", &bin)
        .env("GOVHUB_KAFKA_PORT", local_broker_port())
        .env_remove("KEEP")
        .env_remove("INSTANCES")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("bash runs deploy/chaos.sh");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for deploy/chaos.sh") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            // SIGTERM: the script's trap stops the hub and the simulators and brings the
            // broker back.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            panic!(
                "deploy/chaos.sh did not finish within {DEADLINE:?}:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let output = std::fs::read_to_string(&out_path).expect("the script's output");
    println!("{output}\ndeploy/chaos.sh took {elapsed:.1?}");
    assert!(
        status.success(),
        "deploy/chaos.sh failed ({status}):\n{output}"
    );
    for line in [
        "govhub verify: topic prefix clean",
        "govhub verify: topic prefix chaos",
        "partition",
        "chaos: mode: exactly-once",
        "chaos: duplicates found: 0 (govhub verify), 0 (kcat, read_committed)",
        "chaos: verdict: PASS",
    ] {
        assert!(
            output.contains(line),
            "no {line:?} in the output:\n{output}"
        );
    }
    assert!(
        elapsed < Duration::from_secs(200),
        "the small chaos run should take about a minute, took {elapsed:.1?}"
    );
    output
}
