//! `govhub eval`: accuracy on a small simulated population, and a model trained from a
//! hub's own records that a config can then use.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;
use common::{demo, govhub, write_config};
use serde_json::Value;

#[test]
fn a_small_population_resolves_with_high_precision_and_recall() {
    let out = govhub(&["eval", "--residents", "3000", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let accuracy = &report["accuracy"];
    assert!(accuracy["records"].as_u64().unwrap() > 3000, "{report}");
    // A guard against regressions on a population small enough for every test run (a
    // handful of pairs move these by tenths of a percent); the measured figures at 100k
    // and 1M residents are in the README.
    assert!(accuracy["precision"].as_f64().unwrap() >= 0.99, "{report}");
    assert!(accuracy["recall"].as_f64().unwrap() >= 0.95, "{report}");
    assert!(
        accuracy["persons"].as_u64().unwrap() < accuracy["records"].as_u64().unwrap(),
        "records unified into fewer persons: {report}"
    );
}

#[test]
fn a_model_trained_on_a_hubs_records_is_accepted_by_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 1500);
    let model = dir.path().join("model.json");
    let out = govhub(&[
        "eval",
        "--train",
        model.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What training changed, weight by weight, against the model in use (built in).
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("the model in use → the one trained"),
        "{said}"
    );
    let exact = said
        .lines()
        .find(|l| l.trim_start().starts_with("name: exact"))
        .unwrap_or_else(|| panic!("no name: exact line in {said}"));
    assert!(
        exact.contains('→') && exact.trim_end().ends_with(')'),
        "{exact}"
    );
    let trained: Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert!(trained["prior"].as_f64().unwrap() > 0.0);
    assert!(
        trained["trained_on"]
            .as_str()
            .unwrap()
            .contains("records resolved under")
    );

    let with_model = |path: &std::path::Path| {
        write_config(dir.path(), "http://127.0.0.1:9/api/v1/students", |_| {});
        let config = dir.path().join("govhub.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            format!(
                "{text}\n[identity]\nmodel = {:?}\n",
                path.display().to_string()
            ),
        )
        .unwrap();
        govhub(&["check", "--config", config.to_str().unwrap()])
    };
    let ok = with_model(&model);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::write(dir.path().join("broken.json"), "{\"prior\": 2}").unwrap();
    let broken = with_model(&dir.path().join("broken.json"));
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("identity.model"), "{stderr}");
}

#[test]
fn training_needs_a_journal_and_evaluating_needs_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let out = govhub(&[
        "eval",
        "--train",
        model.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no hub state under"), "{stderr}");
    let usage = govhub(&["eval", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(usage.status.code(), Some(2), "--data-dir only with --train");
}
