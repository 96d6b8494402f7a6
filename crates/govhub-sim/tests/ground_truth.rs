//! Determinism, ground truth and scale of the simulated departments, without HTTP.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use govhub_schema::formats::resident_id;
use govhub_schema::normalize;
use govhub_sim::Feed;
use govhub_sim::noise::IdNoise;
use govhub_sim::{Department, Departments, Faults, SimRecord};
use serde_json::Value;

/// Every record of every department at the clock's generation.
fn all_records(d: &Departments) -> Vec<(Department, SimRecord)> {
    let g = d.clock.generation();
    let mut out = Vec::new();
    out.extend(d.health.records(g).map(|r| (Department::Health, r)));
    out.extend(
        d.civil_affairs
            .records(g)
            .map(|r| (Department::CivilAffairs, r)),
    );
    out.extend(d.urban.records(g).map(|r| (Department::UrbanManagement, r)));
    out
}

#[test]
fn same_seed_same_records_and_ground_truth() {
    let a = Departments::new(7, 3000);
    let b = Departments::new(7, 3000);
    a.clock.advance(2);
    b.clock.advance(2);
    assert_eq!(all_records(&a), all_records(&b));
    assert_eq!(
        a.ground_truth().collect::<Vec<_>>(),
        b.ground_truth().collect::<Vec<_>>()
    );
    let students: Vec<_> = a.education.all().collect();
    assert_eq!(students, b.education.all().collect::<Vec<_>>());

    let other = Departments::new(8, 3000);
    other.clock.advance(2);
    assert_ne!(all_records(&a), all_records(&other));
}

/// The resident ID a person entry carries, by department.
fn native_id(department: Department, person: &Value) -> Option<&str> {
    match department {
        Department::Health => person["sfzh"].as_str().filter(|s| !s.is_empty()),
        Department::CivilAffairs => person["gmsfhm"].as_str(),
        _ => None,
    }
}

fn native_name(department: Department, person: &Value) -> &str {
    match department {
        Department::Education => person["name"].as_str(),
        _ => person["xm"].as_str(),
    }
    .unwrap_or("")
}

#[test]
fn every_person_entry_maps_to_its_resident() {
    let d = Departments::new(11, 5000);
    d.clock.advance(3);
    let mut checked_ids = 0;
    let mut noise_kinds = BTreeMap::new();
    for (department, record) in all_records(&d) {
        for person in &record.people {
            let resident = d.population.resident(person.resident_index);
            let entry = record.value.pointer(&person.pointer).unwrap();
            *noise_kinds
                .entry(format!("{:?}", person.noise.id))
                .or_insert(0) += 1;
            if department != Department::UrbanManagement {
                let id = native_id(department, entry);
                match person.noise.id {
                    None | Some(IdNoise::FullWidth | IdNoise::Legacy15) => {
                        let normalized = id.and_then(resident_id::normalize);
                        assert_eq!(normalized.as_deref(), Some(resident.resident_id.as_str()));
                        checked_ids += 1;
                    }
                    Some(IdNoise::Missing) => assert_eq!(id, None),
                    Some(IdNoise::Transposed | IdNoise::Mistyped) => {
                        assert_eq!(id.and_then(resident_id::normalize), None)
                    }
                }
            }
            let name = normalize::name(native_name(department, entry));
            assert!(
                person.noise.explains_name(&name, &resident.name),
                "{name}: {:?}",
                person.noise
            );
        }
    }
    assert!(checked_ids > 4000, "{checked_ids}");
    // Some of each ID noise occurs at default rates in a population this size.
    for kind in [
        "Some(FullWidth)",
        "Some(Legacy15)",
        "Some(Missing)",
        "Some(Transposed)",
        "Some(Mistyped)",
    ] {
        assert!(noise_kinds.contains_key(kind), "{kind}: {noise_kinds:?}");
    }

    // Students: the registry is clean.
    for student in d.education.all() {
        let resident = d.population.resident(student.resident_index);
        assert_eq!(
            student.value["student"]["resident_id"].as_str(),
            Some(resident.resident_id.as_str())
        );
        assert_eq!(
            native_name(Department::Education, &student.value["student"]),
            resident.name
        );
    }
}

#[test]
fn ground_truth_lists_every_person_entry_once_and_as_csv() {
    let d = Departments::new(5, 2000);
    d.clock.advance(1);
    let truth: Vec<_> = d.ground_truth().collect();
    let mut expected: Vec<_> = d
        .education
        .all()
        .map(|s| (Department::Education, s.id, s.resident_index))
        .collect();
    for (department, record) in all_records(&d) {
        for p in record.people {
            expected.push((department, p.record_id, p.resident_index));
        }
    }
    assert_eq!(truth, expected);
    let ids: std::collections::BTreeSet<_> = truth.iter().map(|(d, id, _)| (*d, id)).collect();
    assert_eq!(ids.len(), truth.len(), "source record ids are unique");

    // Coverage: departments see overlapping subsets of residents.
    let seen = |dep| {
        truth
            .iter()
            .filter(|(d, _, _)| *d == dep)
            .map(|(_, _, i)| *i)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (health, civil) = (seen(Department::Health), seen(Department::CivilAffairs));
    assert!((1150..=1300).contains(&health.len()), "{}", health.len());
    assert!((800..=1200).contains(&civil.len()), "{}", civil.len());
    let both = health.intersection(&civil).count();
    assert!(both > 300 && both < civil.len(), "{both}");
    assert_eq!(seen(Department::Education).len(), 400);

    let mut csv = Vec::new();
    let rows = d.write_ground_truth_csv(&mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("department,source_record_id,resident_index")
    );
    assert_eq!(rows as usize, truth.len());
    let (dep, id, index) = &truth[500];
    assert_eq!(lines.nth(500), Some(format!("{dep},{id},{index}").as_str()));
}

#[test]
fn invalid_records_name_their_defect() {
    let d = Departments::new(3, 2000).with_faults(Faults {
        invalid_rate: 0.2,
        ..Faults::default()
    });
    let mut defects = BTreeMap::new();
    let mut total = 0;
    for (department, record) in all_records(&d) {
        total += 1;
        if let Some(defect) = record.defect {
            *defects.entry((department, defect)).or_insert(0) += 1;
        }
    }
    let invalid: usize = defects.values().sum();
    assert!(
        invalid * 100 / total >= 15 && invalid * 100 / total <= 25,
        "{invalid}/{total}"
    );
    // Four defects per department, all occurring.
    assert_eq!(defects.len(), 12, "{defects:?}");
}

#[test]
fn the_last_record_of_five_million_residents_is_generated_alone() {
    // Building the population looks at every resident's ID once (to make them unique);
    // after that, nothing is proportional to the population.
    let d = Departments::new(1, 5_000_000);
    let started = Instant::now();
    let last = d.population.resident(4_999_999);
    assert!(resident_id::is_valid(&last.resident_id));
    assert_eq!(d.health.len(0), 3_000_000);
    let health = d.health.record(2_999_999, 0).unwrap();
    let civil = d
        .civil_affairs
        .record(d.civil_affairs.len(0) - 1, 0)
        .unwrap();
    let urban = d.urban.record(d.urban.len(0) - 1, 0).unwrap();
    let student = d.education.student(d.education.students - 1);
    assert_eq!(d.education.students, 1_000_000);
    for record in [&health, &civil, &urban] {
        assert!(!record.id.is_empty());
    }
    assert!(student.resident_index < 5_000_000);
    // A few generations later the same holds, and nothing grew with the population.
    let later = d.urban.record(d.urban.len(5) - 1, 5).unwrap();
    assert!(later.updated_at > urban.updated_at);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}: something is proportional to the population",
        started.elapsed()
    );
}
