//! Several hubs on the same topics, as separate `govhub run` processes against the
//! four simulated departments and the local broker: one is active, the others stand by.
//! The active one is killed (`kill -9`) in the middle of its sync; a standby takes over
//! (its store kept current from the state topic while it stood by), a third instance joins later without taking
//! the role, and at the end every record is on its topic exactly once for a
//! `read_committed` consumer (kcat), `govhub verify` passes, and the records are grouped
//! into the same persons as by a single instance's `run --once` on other topics. The
//! takeover time is printed.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use govhub::chaos::ExpectedRun;
use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub_sim::{Departments, Faults, Ports};
use govhub_stream::KafkaSinkConfig;
use govhub_tests::{events_read, govhub_binary, random_prefix, require_broker};

/// A `govhub run` process and its log.
struct Instance {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(
        name: &'static str,
        config: &Path,
        env: &BTreeMap<String, String>,
        dir: &Path,
        admin: &str,
    ) -> Instance {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(govhub_binary())
            .args(["run", "--admin", admin, "--config"])
            .arg(config)
            .envs(env)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Instance { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `count` lines containing `text`.
    async fn wait_for(&mut self, text: &str, count: usize, timeout: Duration) -> Instant {
        let started = Instant::now();
        loop {
            if self.log().matches(text).count() >= count {
                return Instant::now();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {text:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not log {text:?} {count} times in {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (code, body)
}

/// The instances `GET /api/cluster` on 127.0.0.1:`port` lists, as process id and
/// role; the answering instance must be among them.
fn roles(port: u16) -> Vec<String> {
    let (code, body) = get(port, "/api/cluster");
    assert_eq!(code, 200, "{body}");
    let cluster: serde_json::Value = serde_json::from_str(&body).unwrap();
    let this = cluster["this_instance"].as_str().unwrap();
    let instances = cluster["instances"].as_array().unwrap();
    assert!(instances.iter().any(|i| i["instance"] == this), "{body}");
    instances
        .iter()
        .map(|i| {
            let name = i["instance"].as_str().unwrap();
            let pid = name.rsplit('-').next().unwrap();
            format!("{pid} {}", i["role"].as_str().unwrap())
        })
        .collect()
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM (a graceful stop) and waits for the exit.
fn terminate(instance: &mut Instance) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &instance.child.id().to_string()])
        .status();
    instance.child.wait().unwrap()
}

const ACTIVE: &str = "this instance is active";
const STANDBY: &str = "standing by";
const CAUGHT_UP: &str = "caught up with the source";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_hub_and_every_event_arrives_once() {
    let servers = require_broker();
    // Slow departments (40 ms a page, pages of 10): a sync of some seconds, so that the
    // kill strikes in the middle of it.
    let departments = Departments::new(53, 2_000).with_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let running = departments.start(Ports::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = random_prefix();

    // One config per instance: the same topics, a data directory each (on one machine
    // they cannot share one).
    let write_config = |name: &str| -> (PathBuf, BTreeMap<String, String>) {
        let text = EXAMPLE_CONFIG
            .replace("page_size = 100", "page_size = 10")
            .replace("page_size = 200", "page_size = 10");
        let mut config = HubConfig::parse(&text, "example").unwrap();
        config.data_dir = dir.path().join(format!("{name}-data"));
        config.topic_prefix.clone_from(&prefix);
        config.kafka = Some(KafkaSinkConfig::new(&servers));
        let env = govhub::demo::point_at(&mut config, &running);
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        (path, env)
    };
    let (config_a, env) = write_config("a");
    let (config_b, _) = write_config("b");
    let (config_c, _) = write_config("c");

    let mut a = Instance::start("a", &config_a, &env, dir.path(), "off");
    a.wait_for(ACTIVE, 1, Duration::from_secs(60)).await;
    let b_admin = free_port();
    let mut b = Instance::start(
        "b",
        &config_b,
        &env,
        dir.path(),
        &format!("127.0.0.1:{b_admin}"),
    );
    b.wait_for(STANDBY, 1, Duration::from_secs(60)).await;
    b.wait_for("standing by: probes only", 1, Duration::from_secs(10))
        .await;
    // Standing by, its admin address is alive but not ready, and serves nothing else.
    assert_eq!(get(b_admin, "/healthz").0, 200);
    let (code, body) = get(b_admin, "/readyz");
    assert!(code == 503 && body.contains("standby"), "{code} {body}");
    assert_eq!(get(b_admin, "/api/connectors").0, 503);
    // It shows the cluster: a active, itself standing by.
    let (a_pid, b_pid) = (a.child.id(), b.child.id());
    assert_eq!(
        roles(b_admin),
        [format!("{a_pid} active"), format!("{b_pid} standby")]
    );
    // A sync well under way, not finished: kill the active instance.
    a.wait_for("hub ready", 1, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = a.child.kill();
    let killed = Instant::now();
    let _ = a.child.wait();
    // Read once it is dead: a connector that caught up just before the kill counts.
    let a_log = a.log();
    let remaining: Vec<&str> = ["education", "health", "civil_affairs", "urban"]
        .into_iter()
        .filter(|c| !a_log.contains(&format!("{CAUGHT_UP} connector={c} ")))
        .collect();
    assert!(
        !remaining.is_empty(),
        "the active hub caught up before the kill; the test needs a longer sync:\n{a_log}"
    );

    let took_over = b.wait_for(ACTIVE, 1, Duration::from_secs(120)).await;
    b.wait_for("admin server listening addr=", 1, Duration::from_secs(60))
        .await;
    let (code, body) = get(b_admin, "/api/connectors");
    assert!(
        code == 200 && body.contains("education"),
        "the active hub's API: {code} {body}"
    );
    let ready = b.wait_for("hub ready", 1, Duration::from_secs(120)).await;
    // It followed the topic while standing by: at most the last writes to read.
    let log = b.log();
    let agreed = log
        .lines()
        .find(|l| l.contains("exactly-once: the state store"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        agreed.contains("caught up with it") || agreed.contains("is current"),
        "the standby's store was not kept current: {agreed}\n{log}"
    );
    println!("at takeover: {agreed}");
    println!(
        "takeover: {:.1} s from kill -9 to the standby being active, {:.1} s to its hub ready",
        (took_over - killed).as_secs_f64(),
        (ready - killed).as_secs_f64()
    );
    // A third instance joins while the second works: it stands by, the role stays.
    let mut c = Instance::start("c", &config_c, &env, dir.path(), "off");
    c.wait_for(STANDBY, 1, Duration::from_secs(60)).await;
    // Each connector the killed hub had not finished (those it had find nothing new,
    // logged at DEBUG; one whose last batch died uncommitted is read again, and counts).
    for connector in &remaining {
        b.wait_for(
            &format!("{CAUGHT_UP} connector={connector} "),
            1,
            Duration::from_secs(300),
        )
        .await;
    }
    assert!(
        !c.log().contains(ACTIVE),
        "the joining instance took the role:\n{}",
        c.log()
    );
    // The killed instance has left the group; the joined one is listed.
    let c_pid = c.child.id();
    assert_eq!(
        roles(b_admin),
        [format!("{b_pid} active"), format!("{c_pid} standby")]
    );

    // A graceful stop hands the role over at once (the group is left, not timed out).
    let stopped = Instant::now();
    assert!(terminate(&mut b).success(), "{}", b.log());
    c.wait_for(ACTIVE, 1, Duration::from_secs(60)).await;
    println!(
        "handover after a graceful stop: {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    assert!(terminate(&mut c).success(), "{}", c.log());

    // What a downstream consumer reads: every event once.
    let read = events_read(&servers, &prefix);
    for (topic, line) in &read {
        assert_eq!(
            line.read_twice, 0,
            "{topic}: {} events read twice",
            line.read_twice
        );
    }
    let events: usize = read.values().map(|line| line.events).sum();
    assert!(events > 2_000, "{events} events");

    // And from the topics alone: every record arrived, was resolved, and persons hold.
    let expected = dir.path().join("expected.json");
    let config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
    let standard = govhub_schema::Standard::embedded().unwrap();
    ExpectedRun::of(&departments, &config, &standard, "none")
        .unwrap()
        .write(&expected)
        .unwrap();
    // Persons as one instance alone makes them: a clean `run --once` on other topics.
    let clean_prefix = random_prefix();
    let clean_config = {
        let (path, _) = write_config("clean");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&prefix, &clean_prefix);
        std::fs::write(&path, text).unwrap();
        path
    };
    let clean = Command::new(govhub_binary())
        .args(["run", "--once", "--admin", "off", "--config"])
        .arg(&clean_config)
        .envs(&env)
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let verify = Command::new(govhub_binary())
        .args([
            "verify",
            "--bootstrap-servers",
            &servers,
            "--topic-prefix",
            &prefix,
        ])
        .args(["--compare", &clean_prefix, "--expected"])
        .arg(&expected)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(report.contains("duplicates: 0"), "{report}");
    assert!(
        report.contains(" 0 records grouped differently"),
        "{report}"
    );
}
