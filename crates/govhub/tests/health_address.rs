//! The example config's health mapping over the simulated platform's encounters, now
//! that they carry the patient's address (`hz.jzdz`): every encounter without a
//! deliberate defect still maps and validates, an address not recorded (absent or `""`)
//! leaves `/patient/address` out, and a recorded one arrives as written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub_schema::Standard;
use govhub_sim::{Departments, Faults, Feed};
use serde_json::json;

#[test]
fn every_encounter_mapped_with_the_example_config_validates_with_or_without_an_address() {
    let config = HubConfig::parse(EXAMPLE_CONFIG, "deploy/govhub.example.toml").unwrap();
    let mapping = config.connectors["health"].mapping.compile();
    let standard = Standard::embedded().unwrap();
    let encounter = standard.latest("health.encounter").unwrap();
    let departments = Departments::new(31, 4000).with_faults(Faults {
        invalid_rate: 0.05,
        ..Faults::default()
    });
    departments.clock.advance(3);
    let generation = departments.clock.generation();
    let (mut with, mut without, mut defective) = (0, 0, 0);
    for record in departments.health.records(generation) {
        let mapped = mapping.apply(&record.value);
        let valid = mapped
            .as_ref()
            .is_ok_and(|canonical| encounter.validate(canonical).is_empty());
        assert_eq!(
            valid,
            record.defect.is_none(),
            "{:?} {mapped:?}",
            record.defect
        );
        if record.defect.is_some() {
            defective += 1;
            continue;
        }
        let canonical = mapped.unwrap();
        match record.value["hz"]["jzdz"].as_str().unwrap_or("") {
            "" => {
                assert_eq!(canonical.pointer("/patient/address"), None);
                without += 1;
            }
            text => {
                assert_eq!(canonical["patient"]["address"], json!({"text": text}));
                with += 1;
            }
        }
    }
    assert!(defective > 0 && with > 0 && without > 0);
    // About a fifth of encounters have no address.
    let share = without as f64 / (with + without) as f64;
    assert!((0.15..0.25).contains(&share), "{share}");
}
