//! Exactly-once against the real broker: each write is one Kafka transaction holding
//! its events and the state they leave behind (the `state.v1` topic). Checked from the
//! outside with kcat as a `read_committed` consumer: a hub on an empty data directory
//! resumes from the topic and publishes nothing twice, and a hub fenced by a newer one
//! with the same topics cannot commit. Kills (`kill -9`) are in `chaos.rs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;

use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub::hub::Hub;
use govhub::pipeline::Counts;
use govhub_schema::Standard;
use govhub_sim::{Departments, Ports, RunningDepartments};
use govhub_stream::KafkaSinkConfig;
use govhub_tests::{events_read, random_prefix, require_broker, topics_with_prefix};
use tokio_util::sync::CancellationToken;

/// The example config at the simulators, the broker, `prefix` and `data_dir`, and the
/// simulators' credentials.
fn hub_config(
    servers: &str,
    prefix: &str,
    data_dir: &std::path::Path,
    running: &RunningDepartments,
) -> (HubConfig, BTreeMap<String, String>) {
    let mut config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
    config.data_dir = data_dir.to_owned();
    config.topic_prefix = prefix.to_owned();
    config.kafka = Some(KafkaSinkConfig::new(servers));
    let env = govhub::demo::point_at(&mut config, running);
    (config, env)
}

async fn build(config: &HubConfig, env: &BTreeMap<String, String>) -> Hub {
    let standard = Arc::new(Standard::embedded().unwrap());
    Hub::build_with_env(config, standard, &|var| env.get(var).cloned())
        .await
        .unwrap()
}

async fn sync(hub: &mut Hub) -> Result<Counts, String> {
    let mut counts = BTreeMap::new();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .map_err(|(connector, e)| format!("{connector}: {e}"))?;
    Ok(counts.values().fold(Counts::default(), |mut all, c| {
        all.add(c);
        all
    }))
}

/// Per topic of `prefix` (but the state topic), the events a `read_committed` consumer
/// reads and how many of them repeat an event id read before.
fn delivered(servers: &str, prefix: &str) -> BTreeMap<String, (usize, usize)> {
    events_read(servers, prefix)
        .into_iter()
        .map(|(topic, line)| {
            assert_eq!(line.without_id, 0, "{topic}: an event without ce_id");
            (topic, (line.events, line.read_twice))
        })
        .collect()
}

fn duplicates(delivered: &BTreeMap<String, (usize, usize)>) -> usize {
    delivered.values().map(|(_, d)| d).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_directory_resumes_from_the_state_topic_and_nothing_arrives_twice() {
    let servers = require_broker();
    let departments = Departments::new(41, 400);
    let running = departments.start(Ports::default()).await.unwrap();
    let prefix = random_prefix();
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let (config, env) = hub_config(&servers, &prefix, first_dir.path(), &running);
    let mut first = build(&config, &env).await;
    let counts = sync(&mut first).await.unwrap();
    assert!(counts.published > 300, "{counts:?}");
    drop(first);
    let before = delivered(&servers, &prefix);
    assert_eq!(duplicates(&before), 0, "{before:?}");
    assert!(
        topics_with_prefix(&servers, &prefix)
            .iter()
            .any(|t| t.ends_with("state.v1")),
        "the state topic exists"
    );

    // Another machine, an empty disk: the store is rebuilt from the state topic, so the
    // same records are recognised as published and nothing goes out again.
    let (config, env) = hub_config(&servers, &prefix, second_dir.path(), &running);
    let mut second = build(&config, &env).await;
    let again = sync(&mut second).await.unwrap();
    assert_eq!(again.published, 0, "{again:?}");
    assert_eq!(delivered(&servers, &prefix), before);

    // Records change: each change arrives once, resolved against the restored identity
    // state (no new person for a resident seen before).
    departments.clock.set(1);
    let changed = sync(&mut second).await.unwrap();
    assert!(changed.published > 0, "{changed:?}");
    let after = delivered(&servers, &prefix);
    assert_eq!(duplicates(&after), 0, "{after:?}");
    let grew: usize = after.values().map(|(n, _)| n).sum::<usize>()
        - before.values().map(|(n, _)| n).sum::<usize>();
    assert!(grew as u64 >= changed.published, "{grew} < {changed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_fenced_by_a_newer_one_on_the_same_topics_cannot_commit() {
    let servers = require_broker();
    let departments = Departments::new(43, 300);
    let running = departments.start(Ports::default()).await.unwrap();
    let prefix = random_prefix();
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let (old_config, old_env) = hub_config(&servers, &prefix, old_dir.path(), &running);
    let mut old = build(&old_config, &old_env).await;
    // A newer hub on the same topics (a restarted pod, a second copy started by
    // mistake) takes over; the old one is a zombie from then on.
    let (new_config, new_env) = hub_config(&servers, &prefix, new_dir.path(), &running);
    let mut new = build(&new_config, &new_env).await;

    let refused = sync(&mut old).await.unwrap_err();
    assert!(refused.contains("fenced"), "{refused}");
    let nothing = delivered(&servers, &prefix);
    assert!(
        nothing.values().all(|(n, _)| *n == 0),
        "a read_committed consumer sees nothing of the fenced hub: {nothing:?}"
    );

    let counts = sync(&mut new).await.unwrap();
    assert!(counts.published > 200, "{counts:?}");
    let written = delivered(&servers, &prefix);
    assert_eq!(duplicates(&written), 0, "{written:?}");
    // Exactly the new hub's records on the kinds' topics: none of the old hub's.
    let on_kind_topics: usize = written
        .iter()
        .filter(|(topic, _)| {
            !["dlq.v1", "identity.v1", "person.v1"]
                .iter()
                .any(|t| topic.ends_with(t))
        })
        .map(|(_, (n, _))| n)
        .sum();
    assert_eq!(on_kind_topics as u64, counts.published, "{written:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_before_fills_the_empty_topic_and_one_ahead_of_its_topic_is_refused()
{
    let servers = require_broker();
    let departments = Departments::new(47, 200);
    let running = departments.start(Ports::default()).await.unwrap();
    let prefix = random_prefix();
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // A hub that ran at-least-once: its state is in its data directory alone.
    let (mut config, env) = hub_config(&servers, &prefix, old_dir.path(), &running);
    config.kafka.as_mut().unwrap().exactly_once = false;
    let mut before = build(&config, &env).await;
    assert!(sync(&mut before).await.unwrap().published > 100);
    drop(before);
    let published = delivered(&servers, &prefix);

    // Exactly-once on: the empty state topic is filled from the directory, and the
    // records it had published are recognised.
    config.kafka.as_mut().unwrap().exactly_once = true;
    let mut seeded = build(&config, &env).await;
    assert_eq!(sync(&mut seeded).await.unwrap().published, 0);
    drop(seeded);
    // A new machine rebuilds the same state from the topic.
    let (fresh, env) = hub_config(&servers, &prefix, new_dir.path(), &running);
    let mut restored = build(&fresh, &env).await;
    assert_eq!(sync(&mut restored).await.unwrap().published, 0);
    drop(restored);
    assert_eq!(delivered(&servers, &prefix), published);

    // The same directory pointed at other topics: its store is ahead of their empty
    // state topic, which is an error naming it, not a silent fresh start.
    config.topic_prefix = random_prefix();
    let standard = Arc::new(Standard::embedded().unwrap());
    let refused = Hub::build_with_env(&config, standard, &|var| env.get(var).cloned())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("ahead of the state topic") && refused.contains(&config.topic_prefix),
        "{refused}"
    );
}
