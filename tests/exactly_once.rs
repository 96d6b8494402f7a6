//! Exactly-once against the real broker: each write is one Kafka transaction holding
//! its events and the state they leave behind (the `state.v1` topic). Checked from the
//! outside with kcat as a `read_committed` consumer: a hub on an empty data directory
//! resumes from the topic and publishes nothing twice, and a hub fenced by a newer one
//! with the same topics cannot commit. Kills (`kill -9`) are in `chaos.rs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

    // Running as `govhub run` does (retrying a refused write for ever), it stops at
    // its first write: being fenced is for good.
    let stop = CancellationToken::new();
    let (connector, refused) = tokio::time::timeout(Duration::from_secs(120), old.run(&stop))
        .await
        .expect("a fenced hub stops instead of retrying")
        .unwrap_err();
    assert!(
        refused.to_string().contains("fenced"),
        "{connector}: {refused}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_broker_refuses_abort_their_transaction_and_only_they_go_to_the_dead_letters() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let servers = require_broker();
    let departments = Departments::new(59, 120);
    let running = departments.start(Ports::default()).await.unwrap();
    let prefix = random_prefix();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = hub_config(&servers, &prefix, dir.path(), &running);
    // The encounters' topic takes batches of at most 500 bytes: the broker refuses
    // every encounter, inside transactions that also hold the other departments'
    // events, identity decisions, golden records and the state update.
    let health = config.topics().unwrap().kind("health.encounter.v1");
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap();
    let small =
        NewTopic::new(&health, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "500");
    let created = admin
        .create_topics([&small], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let mut hub = build(&config, &env).await;
    let counts = sync(&mut hub).await.unwrap();
    let read = delivered(&servers, &prefix);
    assert_eq!(duplicates(&read), 0, "{read:?}");
    assert_eq!(read.get(&health).map_or(0, |(n, _)| *n), 0, "{read:?}");
    let letters = govhub::dlq::read(&config).await.unwrap();
    let refused: Vec<_> = letters
        .iter()
        .filter(|s| s.letter.stage == "sink")
        .collect();
    assert!(
        refused.len() > 20,
        "{} refused of {counts:?}",
        refused.len()
    );
    assert!(
        refused.iter().all(|s| s.letter.connector == "health"
            && s.letter.violations[0]
                .message
                .starts_with("refused by the sink")),
        "only encounters are refused"
    );
    // Each refused encounter once, not once per aborted try.
    let ids: std::collections::BTreeSet<_> =
        refused.iter().map(|s| &s.letter.source_record_id).collect();
    assert_eq!(ids.len(), refused.len());
    // The other departments' events arrived (once, above).
    let others: usize = [
        "education.enrollment.v2",
        "civil-affairs.household-member.v1",
        "urban-management.grid-case.v1",
    ]
    .iter()
    .map(|kind| read.get(&format!("{prefix}{kind}")).map_or(0, |(n, _)| *n))
    .sum();
    assert!(others > 50, "{read:?}");

    // Committed with their dead letters: nothing is tried again.
    drop(hub);
    let mut again = build(&config, &env).await;
    assert_eq!(sync(&mut again).await.unwrap().published, 0);
    assert_eq!(delivered(&servers, &prefix), read);
    assert_eq!(
        govhub::dlq::read(&config).await.unwrap().len(),
        letters.len()
    );
}
