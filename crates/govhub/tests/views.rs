//! Data-sharing views over the four simulated departments (the demo's, into the
//! embedded log): each view topic carries exactly the ids of its kind's topic, with the
//! same key, type and extensions; masked fields are masked, dropped ones absent, hashed
//! resident IDs equal for one resident across kinds and different between views with
//! different keys; and no resident ID or phone a view masks, hashes or drops appears
//! anywhere in its topic (key, headers, value), nor such a name as a value (a name of up
//! to four characters could be part of a shared facility name, so it is matched whole).
//! `GET /api/views` counts what was sent, behind the token.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use govhub::admin::{self, AdminState, Token};
use govhub::demo::{Demo, DemoOptions};
use govhub::views::fields::MaskRule;
use govhub::views::transform::{hash, mask_str};
use govhub::views::{Action, DefaultAction, KindView, ViewConfig};
use govhub_connect::SecretRef;
use govhub_stream::{EmbeddedLog, LogEntry};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

mod common;
use common::admin::get;

/// The admin token of this test's server.
const TOKEN: &str = "test-token-views";

/// Synthetic keys of the two views.
const URBAN_KEY: &str = "urban-app-test-key";
const RESEARCH_KEY: &str = "research-test-key";

const ENCOUNTER: &str = "health.encounter";
const MEMBER: &str = "civil-affairs.household-member";

fn kind(default: DefaultAction, fields: &[(&str, Action)]) -> KindView {
    KindView {
        default,
        fields: fields.iter().map(|(p, a)| ((*p).to_owned(), *a)).collect(),
    }
}

/// `urban_app` sees only what is listed; `research` everything but what is listed.
fn views() -> BTreeMap<String, ViewConfig> {
    use Action::*;
    let urban = ViewConfig {
        hash_key: Some(SecretRef::env("GOVHUB_VIEW_URBAN_APP_KEY")),
        kinds: BTreeMap::from([
            (
                ENCOUNTER.to_owned(),
                kind(
                    DefaultAction::Drop,
                    &[
                        ("/encounter_id", Share),
                        ("/patient/name", Mask),
                        ("/patient/identifiers/resident_id", Hash),
                        ("/patient/contacts/phone", Mask),
                        ("/diagnosis_codes", Drop),
                    ],
                ),
            ),
            (
                MEMBER.to_owned(),
                kind(
                    DefaultAction::Drop,
                    &[
                        ("/member_id", Share),
                        ("/member/name", Mask),
                        ("/member/identifiers/resident_id", Hash),
                    ],
                ),
            ),
        ]),
    };
    let research = ViewConfig {
        hash_key: Some(SecretRef::env("GOVHUB_VIEW_RESEARCH_KEY")),
        kinds: BTreeMap::from([(
            ENCOUNTER.to_owned(),
            kind(
                DefaultAction::Share,
                &[
                    ("/patient/name", Drop),
                    ("/patient/identifiers/resident_id", Hash),
                    ("/patient/identifiers/resident_id_unverified", Drop),
                    ("/patient/contacts", Drop),
                ],
            ),
        )]),
    };
    BTreeMap::from([
        ("urban_app".to_owned(), urban),
        ("research".to_owned(), research),
    ])
}

fn by_id(entries: Vec<LogEntry>) -> BTreeMap<String, LogEntry> {
    entries
        .into_iter()
        .map(|e| (e.header("ce_id").unwrap().to_owned(), e))
        .collect()
}

/// Everything of an entry a subscriber reads: key, headers, value.
fn readable(entry: &LogEntry) -> String {
    let headers: Vec<String> = entry
        .headers
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    format!(
        "{:?} {} {}",
        entry.key,
        headers.join(" "),
        serde_json::to_string(&entry.value).unwrap()
    )
}

/// The string at `pointer` of every entry.
fn values_at(entries: &BTreeMap<String, LogEntry>, pointer: &str) -> BTreeSet<String> {
    entries
        .values()
        .filter_map(|e| e.value.pointer(pointer).and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_publish_what_each_subscriber_may_read_in_the_same_batches() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        seed: 11,
        residents: 300,
        invalid_every: 25,
        generation: 0,
        data_dir: dir.path().join("data"),
    };
    // The simulators run while `_departments` lives.
    let Demo {
        mut hub,
        config,
        departments: _departments,
    } = Demo::start_with(&options, |config, env| {
        config.views = views();
        env.insert("GOVHUB_VIEW_URBAN_APP_KEY".into(), URBAN_KEY.into());
        env.insert("GOVHUB_VIEW_RESEARCH_KEY".into(), RESEARCH_KEY.into());
    })
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .unwrap();

    let log = EmbeddedLog::open(&config.data_dir.join("log")).unwrap();
    let read = |topic: &str| by_id(log.read(topic).unwrap());
    let encounters = read("govhub.health.encounter.v1");
    let members = read("govhub.civil-affairs.household-member.v1");
    let urban = read("govhub.view.urban_app.health.encounter.v1");
    let urban_members = read("govhub.view.urban_app.civil-affairs.household-member.v1");
    let research = read("govhub.view.research.health.encounter.v1");
    assert!(encounters.len() > 50 && members.len() > 50);
    // Views only of the kinds they name: nothing else under view.
    let view_topics: BTreeSet<String> = log
        .topics()
        .unwrap()
        .into_iter()
        .filter(|t| t.starts_with("govhub.view."))
        .collect();
    assert_eq!(
        view_topics,
        BTreeSet::from([
            "govhub.view.research.health.encounter.v1".to_owned(),
            "govhub.view.urban_app.civil-affairs.household-member.v1".to_owned(),
            "govhub.view.urban_app.health.encounter.v1".to_owned(),
        ])
    );

    // Exactly the source topic's ids, with its key, type and extensions, without its
    // dataschema.
    for (view, source) in [
        (&urban, &encounters),
        (&research, &encounters),
        (&urban_members, &members),
    ] {
        assert_eq!(
            view.keys().collect::<Vec<_>>(),
            source.keys().collect::<Vec<_>>()
        );
        for (id, entry) in view {
            let original = &source[id];
            assert_eq!(entry.key, original.key);
            let mut expected = original.headers.clone();
            expected.retain(|(name, _)| name != "ce_dataschema");
            assert_eq!(entry.headers, expected);
            assert!(original.header("ce_dataschema").is_some());
        }
    }

    let mut urban_hash_of = BTreeMap::new();
    let mut hashed_encounters = 0;
    for (id, entry) in &urban {
        let source = &encounters[id].value;
        let patient = &source["patient"];
        let mut expected = json!({
            "encounter_id": source["encounter_id"],
            "patient": {"name": mask_str(patient["name"].as_str().unwrap(), MaskRule::Name)}
        });
        if let Some(phone) = patient.pointer("/contacts/phone").and_then(Value::as_str) {
            expected["patient"]["contacts"] = json!({"phone": mask_str(phone, MaskRule::Phone)});
            assert!(mask_str(phone, MaskRule::Phone).starts_with("*******"));
        }
        if let Some(resident_id) = patient.pointer("/identifiers/resident_id") {
            let hashed = hash(resident_id, URBAN_KEY.as_bytes());
            expected["patient"]["identifiers"] = json!({"resident_id": hashed});
            urban_hash_of.insert(resident_id.as_str().unwrap().to_owned(), hashed);
            hashed_encounters += 1;
        }
        assert_eq!(entry.value, expected, "{id}");
    }
    assert!(hashed_encounters > 20);

    // One resident, one hash in a view, whatever the kind: the subscriber joins its
    // health and household records on it.
    let mut joined = 0;
    for (id, entry) in &urban_members {
        let source = &members[id].value;
        assert_eq!(entry.value["member_id"], source["member_id"]);
        assert!(entry.value.get("relation_to_head").is_none());
        assert!(entry.value.pointer("/member/birth_date").is_none());
        let Some(resident_id) = source
            .pointer("/member/identifiers/resident_id")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let hashed = entry
            .value
            .pointer("/member/identifiers/resident_id")
            .unwrap();
        assert_eq!(
            hashed,
            &json!(hash(&json!(resident_id), URBAN_KEY.as_bytes()))
        );
        if let Some(in_health) = urban_hash_of.get(resident_id) {
            assert_eq!(hashed, in_health);
            joined += 1;
        }
    }
    assert!(joined > 10, "residents in both kinds: {joined}");

    // Another view, another key: the same resident's hash differs, so two subscribers
    // cannot join their views.
    for (id, entry) in &research {
        let source = &encounters[id].value;
        let mut expected = source.clone();
        let patient = expected["patient"].as_object_mut().unwrap();
        patient.remove("name");
        patient.remove("contacts");
        if let Some(ids) = patient
            .get_mut("identifiers")
            .and_then(Value::as_object_mut)
        {
            ids.remove("resident_id_unverified");
            if let Some(resident_id) = ids.get("resident_id").and_then(Value::as_str) {
                let hashed = hash(&json!(resident_id), RESEARCH_KEY.as_bytes());
                assert_ne!(Some(&hashed), urban_hash_of.get(resident_id));
                ids.insert("resident_id".into(), json!(hashed));
            }
            if ids.is_empty() {
                patient.remove("identifiers");
            }
        }
        // An identifiers object left empty by the view stays, empty.
        let mut got = entry.value.clone();
        if got.pointer("/patient/identifiers") == Some(&json!({})) {
            got["patient"]
                .as_object_mut()
                .unwrap()
                .remove("identifiers");
        }
        assert_eq!(got, expected, "{id}");
    }

    // No value of a field a view masks, hashes or drops, in any form a subscriber reads.
    let mut secret = BTreeSet::new();
    for pointer in [
        "/patient/name",
        "/patient/identifiers/resident_id",
        "/patient/identifiers/resident_id_unverified",
        "/patient/contacts/phone",
    ] {
        secret.extend(values_at(&encounters, pointer));
    }
    for pointer in [
        "/member/name",
        "/member/identifiers/resident_id",
        "/member/contacts/phone",
    ] {
        secret.extend(values_at(&members, pointer));
    }
    assert!(secret.len() > 100);
    let diagnoses: BTreeSet<String> = encounters
        .values()
        .filter_map(|e| e.value["diagnosis_codes"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    assert!(!diagnoses.is_empty());
    for view in [&urban, &urban_members, &research] {
        for entry in view.values() {
            let text = readable(entry);
            for value in &secret {
                // Names are matched as whole JSON strings: a two-character name can be
                // part of a shared facility or department name.
                let found = if value.chars().count() <= 4 {
                    text.contains(&format!("\"{value}\""))
                } else {
                    text.contains(value.as_str())
                };
                assert!(
                    !found,
                    "a protected value in {}",
                    entry.header("ce_id").unwrap()
                );
            }
        }
    }
    for entry in urban.values() {
        let text = readable(entry);
        assert!(
            diagnoses
                .iter()
                .all(|d| !text.contains(&format!("\"{d}\"")))
        );
    }

    // The sharing log: per subscriber, kind and UTC day, the events and what each
    // listed field got; counts and field names, never a value.
    let state = AdminState::new(hub.status()).with_views(hub.sharing_log());
    let app = admin::app(state.clone().with_token(Token::configured(Some(TOKEN))));
    assert_eq!(
        get(&app, "/api/views", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (code, _, body) = get(&app, "/api/views", Some(TOKEN)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let lines = body["views"].as_array().unwrap();
    let today = chrono::Utc::now().date_naive().to_string();
    let line = |subscriber: &str, kind: &str| {
        lines
            .iter()
            .filter(|l| l["subscriber"] == subscriber && l["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let urban_lines = line("urban_app", ENCOUNTER);
    assert_eq!(urban_lines.len(), 1, "{body}");
    let urban_line = urban_lines[0];
    assert_eq!(urban_line["day"], today.as_str());
    assert_eq!(urban_line["unlisted_fields"], "drop");
    assert_eq!(urban_line["events"], urban.len());
    assert_eq!(urban_line["fields"]["/patient/name"]["mask"], urban.len());
    assert_eq!(urban_line["fields"]["/encounter_id"]["share"], urban.len());
    assert_eq!(
        urban_line["fields"]["/patient/identifiers/resident_id"]["hash"],
        hashed_encounters
    );
    assert!(
        urban_line["fields"]["/diagnosis_codes"]["drop"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(line("urban_app", MEMBER)[0]["events"], urban_members.len());
    assert_eq!(line("research", ENCOUNTER)[0]["events"], research.len());
    assert_eq!(line("research", ENCOUNTER)[0]["unlisted_fields"], "share");
    let text = body.to_string();
    assert!(secret.iter().all(|v| !text.contains(v.as_str())));
    // A server that runs no hub has no log to show.
    let without =
        admin::app(AdminState::new(hub.status()).with_token(Token::configured(Some(TOKEN))));
    assert_eq!(
        get(&without, "/api/views", Some(TOKEN)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A hub over the demo's departments at `generation`, with the views, on `data_dir`.
async fn hub_with_views(data_dir: &std::path::Path, generation: u64) -> Demo {
    let options = DemoOptions {
        seed: 12,
        residents: 200,
        invalid_every: 25,
        generation,
        data_dir: data_dir.to_owned(),
    };
    Demo::start_with(&options, |config, env| {
        config.views = views();
        env.insert("GOVHUB_VIEW_URBAN_APP_KEY".into(), URBAN_KEY.into());
        env.insert("GOVHUB_VIEW_RESEARCH_KEY".into(), RESEARCH_KEY.into());
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharing_log_outlives_a_restart_and_counts_each_write_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let events_of = |report: &[govhub::views::log::SharingDay], subscriber: &str| -> u64 {
        report
            .iter()
            .filter(|l| l.subscriber == subscriber)
            .map(|l| l.events)
            .sum()
    };
    let view_topic = |subscriber: &str| -> usize {
        let log = EmbeddedLog::open(&data_dir.join("log")).unwrap();
        let topics = log.topics().unwrap();
        topics
            .iter()
            .filter(|t| t.starts_with(&format!("govhub.view.{subscriber}.")))
            .map(|t| log.read(t).unwrap().len())
            .sum()
    };

    let mut first = hub_with_views(&data_dir, 0).await;
    first
        .hub
        .sync_all(&mut BTreeMap::new(), &CancellationToken::new())
        .await
        .unwrap();
    let before = first.hub.sharing_log().report();
    assert!(events_of(&before, "urban_app") > 50, "{before:?}");
    drop(first);

    // A new process on the same data directory starts from the committed log; the same
    // records again publish nothing and count nothing.
    let mut again = hub_with_views(&data_dir, 0).await;
    assert_eq!(again.hub.sharing_log().report(), before);
    again
        .hub
        .sync_all(&mut BTreeMap::new(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(again.hub.sharing_log().report(), before);
    drop(again);

    // Changed records: the log adds exactly the view events written, on top of the
    // restored counts.
    let mut later = hub_with_views(&data_dir, 1).await;
    later
        .hub
        .sync_all(&mut BTreeMap::new(), &CancellationToken::new())
        .await
        .unwrap();
    let after = later.hub.sharing_log().report();
    for subscriber in ["urban_app", "research"] {
        let written = view_topic(subscriber) as u64;
        assert!(
            written > events_of(&before, subscriber),
            "{subscriber}: nothing changed"
        );
        assert_eq!(events_of(&after, subscriber), written, "{subscriber}");
    }
}
