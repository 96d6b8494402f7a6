//! Several hubs on the same topics, as separate `govhub run` processes against the
//! four simulated departments and the local broker.
//!
//! - One is active, the others stand by. The active one is killed (`kill -9`) in the
//!   middle of its sync; a standby takes over (its store kept current from the state
//!   topic while it stood by), a third instance joins later without taking the role.
//! - With `[cluster] spread_connectors`, three instances share the connectors; one
//!   that runs connectors is killed mid-sync, the others take its connectors over,
//!   and a fourth instance joins later and takes a share.
//!
//! At the end of each, every record is on its topic exactly once for a
//! `read_committed` consumer (kcat), `govhub verify` passes, and the records are grouped
//! into the same persons as by a single instance's `run --once` on other topics. The
//! takeover times are printed.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use govhub::chaos::ExpectedRun;
use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub_sim::{Departments, Faults, Ports, RunningDepartments};
use govhub_stream::KafkaSinkConfig;
use govhub_tests::instances::{Instance, free_port, get, roles, terminate, try_get};
use govhub_tests::{events_read, govhub_binary, random_prefix, require_broker};

/// Slow departments of `residents` (40 ms a page; pages of 10 in [`write_config`]): a
/// sync of some seconds, so that a kill strikes in the middle of it.
fn slow_departments(residents: u64) -> Departments {
    Departments::new(53, residents).with_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    })
}

/// Writes `<dir>/<name>.toml`: the example config on `prefix` of the broker at
/// `servers`, pointed at `running`, pages of 10, a data directory of its own (on one
/// machine instances cannot share one), connectors spread when `spread`. Returns its
/// path and the environment its secrets are read from.
fn write_config(
    dir: &Path,
    name: &str,
    prefix: &str,
    servers: &str,
    running: &RunningDepartments,
    spread: bool,
) -> (PathBuf, BTreeMap<String, String>) {
    let text = EXAMPLE_CONFIG
        .replace("page_size = 100", "page_size = 10")
        .replace("page_size = 200", "page_size = 10");
    let mut config = HubConfig::parse(&text, "example").unwrap();
    config.data_dir = dir.join(format!("{name}-data"));
    config.topic_prefix = prefix.to_owned();
    config.kafka = Some(KafkaSinkConfig::new(servers));
    config.cluster.spread_connectors = spread;
    let env = govhub::demo::point_at(&mut config, running);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    (path, env)
}

/// What a downstream consumer reads of `prefix` is every event once, every record of
/// `departments` arrived, and the persons are those of a clean single-instance
/// `run --once` (on a config written like the others, its own topics): `govhub verify`
/// passes. Returns its report.
fn assert_delivered_once(
    servers: &str,
    prefix: &str,
    departments: &Departments,
    dir: &Path,
    running: &RunningDepartments,
) -> String {
    let read = events_read(servers, prefix);
    for (topic, line) in &read {
        assert_eq!(
            line.read_twice, 0,
            "{topic}: {} events read twice",
            line.read_twice
        );
    }
    let events: usize = read.values().map(|line| line.events).sum();
    assert!(events > 2_000, "{events} events");

    let expected = dir.join("expected.json");
    let config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
    let standard = govhub_schema::Standard::embedded().unwrap();
    ExpectedRun::of(departments, &config, &standard, "none")
        .unwrap()
        .write(&expected)
        .unwrap();
    let clean_prefix = random_prefix();
    let (clean_config, env) = write_config(dir, "clean", &clean_prefix, servers, running, false);
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
            servers,
            "--topic-prefix",
            prefix,
        ])
        .args(["--compare", &clean_prefix, "--expected"])
        .arg(&expected)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
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
    report
}

const ACTIVE: &str = "this instance is active";
const STANDBY: &str = "standing by";
const CAUGHT_UP: &str = "caught up with the source";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_hub_and_every_event_arrives_once() {
    let servers = require_broker();
    let departments = slow_departments(2_000);
    let running = departments.start(Ports::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = random_prefix();
    let config = |name| write_config(dir.path(), name, &prefix, &servers, &running, false);
    let (config_a, env) = config("a");
    let (config_b, _) = config("b");
    let (config_c, _) = config("c");

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

    assert_delivered_once(&servers, &prefix, &departments, dir.path(), &running);
}

const RUNS_CONNECTOR: &str = "this instance runs the connector";

/// The instances `GET /api/cluster` on 127.0.0.1:`port` lists: process id, whether it is
/// active, and the connectors it runs; nothing while the instance's admin server moves
/// from standby to active.
fn spread(port: u16) -> Vec<(u32, bool, BTreeSet<String>)> {
    let Ok((code, body)) = try_get(port, "/api/cluster") else {
        return Vec::new();
    };
    assert_eq!(code, 200, "{body}");
    let cluster: serde_json::Value = serde_json::from_str(&body).unwrap();
    cluster["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let pid = i["instance"].as_str().unwrap().rsplit('-').next().unwrap();
            let connectors = i["connectors"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}"));
            (
                pid.parse().unwrap(),
                i["role"] == "active",
                connectors
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// How often `text` appears in the logs of `instances` together.
fn count_in(instances: &[&Instance], text: &str) -> usize {
    instances
        .iter()
        .map(|i| i.log().matches(text).count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_connectors_move_off_a_killed_instance_and_every_event_arrives_once() {
    let servers = require_broker();
    // Three times as many residents: each connector syncs on its own instance.
    let departments = slow_departments(6_000);
    let running = departments.start(Ports::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = random_prefix();
    let config = |name| write_config(dir.path(), name, &prefix, &servers, &running, true);
    let names = ["a", "b", "c"];
    let mut instances: Vec<(Instance, u16)> = Vec::new();
    for name in names {
        let (path, env) = config(name);
        let port = free_port();
        let admin = format!("127.0.0.1:{port}");
        let mut instance = Instance::start(name, &path, &env, dir.path(), &admin);
        instance
            .wait_for(RUNS_CONNECTOR, 1, Duration::from_secs(60))
            .await;
        instances.push((instance, port));
    }
    // The group settles with every connector on one instance, and on more than one
    // instance in all.
    let all: BTreeSet<String> = ["civil_affairs", "education", "health", "urban"]
        .map(str::to_owned)
        .into();
    let started = Instant::now();
    let listed = loop {
        let listed = spread(instances[0].1);
        let held: Vec<&BTreeSet<String>> = listed.iter().map(|(_, _, c)| c).collect();
        let union: BTreeSet<String> = held.iter().flat_map(|c| c.iter().cloned()).collect();
        let count: usize = held.iter().map(|c| c.len()).sum();
        let busy = held.iter().filter(|c| !c.is_empty()).count();
        if listed.len() == 3 && union == all && count == all.len() && busy >= 2 {
            break listed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the connectors were not spread: {listed:?}\n{}",
            instances
                .iter()
                .map(|(i, _)| i.log())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("spread: {listed:?}");
    // Kill the instance with the most connectors (the active one on a tie) mid-sync.
    let (victim_pid, victim_active, victim_connectors) = listed
        .iter()
        .max_by_key(|(_, active, c)| (c.len(), *active))
        .cloned()
        .unwrap();
    let index = instances
        .iter()
        .position(|(i, _)| i.child.id() == victim_pid)
        .unwrap();
    let (mut victim, _) = instances.remove(index);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let survivors: Vec<&Instance> = instances.iter().map(|(i, _)| i).collect();
    let resumed_before: Vec<usize> = victim_connectors
        .iter()
        .map(|c| count_in(&survivors, &format!("{RUNS_CONNECTOR} connector={c} ")))
        .collect();
    let _ = victim.child.kill();
    let killed = Instant::now();
    let _ = victim.child.wait();
    let victim_log = victim.log();
    assert!(
        victim_connectors
            .iter()
            .any(|c| !victim_log.contains(&format!("{CAUGHT_UP} connector={c} "))),
        "the killed instance's connectors caught up before the kill; the test needs a longer sync:\n{victim_log}"
    );
    // Its connectors resume on the others.
    for (connector, before) in victim_connectors.iter().zip(resumed_before) {
        let text = format!("{RUNS_CONNECTOR} connector={connector} ");
        while count_in(&instances.iter().map(|(i, _)| i).collect::<Vec<_>>(), &text) <= before {
            assert!(
                killed.elapsed() < Duration::from_secs(120),
                "{connector} was not taken over"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "connectors taken over {:.1} s after kill -9 (the killed instance {} active)",
        killed.elapsed().as_secs_f64(),
        if victim_active { "was" } else { "was not" }
    );
    if victim_active {
        let mut waited = 0;
        while count_in(&[&instances[0].0, &instances[1].0], ACTIVE) == 0 {
            assert!(waited < 2_400, "no instance took the active role");
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        println!(
            "active role taken over {:.1} s after kill -9",
            killed.elapsed().as_secs_f64()
        );
    }
    // A fourth instance joins later and gets a share.
    let (path, env) = config("d");
    let d_port = free_port();
    let mut d = Instance::start("d", &path, &env, dir.path(), &format!("127.0.0.1:{d_port}"));
    d.wait_for("joined the instances", 1, Duration::from_secs(60))
        .await;
    let joined = Instant::now();
    loop {
        let listed = spread(instances[0].1);
        let d_share = listed
            .iter()
            .find(|(pid, _, _)| *pid == d.child.id())
            .is_some_and(|(_, active, c)| *active || !c.is_empty());
        if d_share {
            println!("after d joined: {listed:?}");
            break;
        }
        assert!(
            joined.elapsed() < Duration::from_secs(90),
            "the joining instance got no share: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every connector caught up with its source (on whichever instance runs it now),
    // then the active instance has published every page: the topics stop growing.
    // (A connector that caught up before it moved finds nothing new: logged at DEBUG.)
    let everyone = |d: &Instance| {
        let mut logs: Vec<&Instance> = instances.iter().map(|(i, _)| i).collect();
        logs.extend([d, &victim]);
        all.iter()
            .all(|c| count_in(&logs, &format!("{CAUGHT_UP} connector={c} ")) > 0)
    };
    while !everyone(&d) {
        assert!(
            killed.elapsed() < Duration::from_secs(400),
            "not every connector caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now: usize = events_read(&servers, &prefix)
            .values()
            .map(|line| line.events)
            .sum();
        if now == last && now > 0 {
            break;
        }
        last = now;
        assert!(
            killed.elapsed() < Duration::from_secs(500),
            "the topics kept growing"
        );
    }
    for (mut instance, _) in instances {
        assert!(terminate(&mut instance).success(), "{}", instance.log());
    }
    assert!(terminate(&mut d).success(), "{}", d.log());
    let report = assert_delivered_once(&servers, &prefix, &departments, dir.path(), &running);
    println!("{report}");
}
