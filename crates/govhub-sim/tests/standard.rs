//! The departments' native records against the unified standard: with a mapping of the
//! kind a connector config would carry, clean records pass, every defect fails, and of
//! the noise only the unrecoverable ID (a transposition or a typo) is rejected.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use govhub_schema::Standard;
use govhub_schema::mapping::{CompiledMapping, Mapping};
use govhub_sim::Feed;
use govhub_sim::noise::IdNoise;
use govhub_sim::{Departments, Faults, Noise, SimRecord};
use serde_json::{Value, json};

fn mapping(rules: Value) -> CompiledMapping {
    serde_json::from_value::<Mapping>(rules).unwrap().compile()
}

fn health_mapping() -> CompiledMapping {
    mapping(json!({
        "/encounter_id": {"from": "/jzlsh"},
        "/patient/name": {"from": "/hz/xm", "normalize": "name"},
        "/patient/identifiers/resident_id": {"from": "/hz/sfzh", "normalize": "resident_id", "optional": true},
        "/patient/sex": {"from": "/hz/xb", "codes": "sex_gb2261"},
        "/patient/birth_date": {"from": "/hz/csrq", "date": "compact"},
        "/patient/contacts/phone": {"from": "/hz/lxdh", "normalize": "mobile"},
        "/patient/address/text": {"from": "/hz/jzdz", "optional": true},
        "/encounter_type": {"from": "/lx", "codes": {"01": "outpatient", "02": "inpatient", "03": "emergency"}},
        "/visited_at": {"from": "/jzsj", "datetime": "auto"},
        "/discharged_at": {"from": "/cysj", "datetime": "auto", "optional": true},
        "/facility/name": {"from": "/jg/jgmc"},
        "/facility/uscc": {"from": "/jg/jgdm"},
        "/facility/division_code": {"from": "/jg/xzqh"},
        "/department": {"from": "/ksmc"},
        "/diagnosis_codes": {"from": "/zdbm"},
    }))
}

fn urban_mapping() -> CompiledMapping {
    mapping(json!({
        "/case_id": {"from": "/case_id"},
        "/category": {"from": "/ajlb", "codes": {
            "01": "environment_sanitation", "02": "public_facilities", "03": "street_order",
            "04": "illegal_construction", "05": "construction_site", "06": "noise",
            "07": "traffic_parking", "08": "landscaping", "09": "safety_hazard",
            "10": "dispute", "99": "other"}},
        "/status": {"from": "/ajzt", "codes": {
            "1": "reported", "2": "dispatched", "3": "handling", "4": "resolved", "5": "closed"}},
        "/channel": {"from": "/sbqd", "codes": {"1": "grid_worker", "2": "hotline", "3": "app", "9": "other"}},
        "/reported_at": {"from": "/sbsj", "datetime": "auto"},
        "/closed_at": {"from": "/jasj", "datetime": "auto", "optional": true},
        "/location/address/division_code": {"from": "/xzqh"},
        "/location/address/text": {"from": "/dz"},
        "/location/address/coordinates/longitude": {"from": "/lng"},
        "/location/address/coordinates/latitude": {"from": "/lat"},
        "/location/grid_code": {"from": "/wgbm"},
        "/description": {"from": "/wtms"},
        "/reporter/name": {"from": "/sbr/xm", "normalize": "name", "optional": true},
        "/reporter/phone": {"from": "/sbr/lxdh", "normalize": "mobile", "optional": true},
    }))
}

/// Applies to one member of a household, as a connector splitting households into
/// members would present it: `{"hh_id", "address", "member"}`.
fn member_mapping() -> CompiledMapping {
    mapping(json!({
        "/member_id": {"from": "/member/cybh"},
        "/household_id": {"from": "/hh_id"},
        "/member/name": {"from": "/member/xm", "normalize": "name"},
        "/member/sex": {"from": "/member/xb", "codes": "sex_gb2261"},
        "/member/birth_date": {"from": "/member/csrq", "date": "chinese"},
        "/member/ethnicity": {"from": "/member/mz"},
        "/member/identifiers/resident_id": {"from": "/member/gmsfhm", "normalize": "resident_id", "optional": true},
        "/member/contacts/phone": {"from": "/member/lxdh", "normalize": "mobile"},
        "/relation_to_head": {"from": "/member/yhzgx", "codes": {
            "02": "head", "10": "spouse", "20": "child", "30": "child", "51": "parent", "52": "parent"}},
        "/address/division_code": {"from": "/address/xzqh"},
        "/address/text": {"from": "/address/xxdz"},
        "/registered_on": {"from": "/member/rhrq", "date": "chinese"},
    }))
}

fn members(household: &Value) -> Vec<Value> {
    household["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"hh_id": household["hh_id"], "address": household["address"], "member": m}))
        .collect()
}

/// Whether `native` maps and validates as `kind`.
fn passes(
    standard: &Standard,
    kind: &str,
    mapping: &CompiledMapping,
    native: &Value,
) -> Result<(), String> {
    let canonical = mapping.apply(native).map_err(|v| format!("map: {v:?}"))?;
    let violations = standard.latest(kind).unwrap().validate(&canonical);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(format!("validate: {violations:?} in {canonical}"))
    }
}

/// Whether an ID recorded in `record` is invalid beyond repair (transposed or mistyped
/// digits; a missing one is optional).
fn unrecoverable_id(record: &SimRecord) -> bool {
    record.people.iter().any(|p| invalid_id(p.noise.id))
}

fn invalid_id(noise: Option<IdNoise>) -> bool {
    matches!(noise, Some(IdNoise::Transposed | IdNoise::Mistyped))
}

#[test]
fn records_meet_the_standard_unless_broken_on_purpose() {
    let standard = Standard::embedded().unwrap();
    let (health, urban, member) = (health_mapping(), urban_mapping(), member_mapping());
    for noise in [Noise::NONE, Noise::default()] {
        let mut d = Departments::new(21, 4000);
        d.health.noise = noise;
        d.civil_affairs.noise = noise;
        d.urban.noise = noise;
        d.clock.advance(4);
        let g = d.clock.generation();
        let mut rejected = 0;
        let (mut addresses, mut without) = (0, 0);
        for record in d.health.records(g) {
            let result = passes(&standard, "health.encounter", &health, &record.value);
            assert_eq!(result.is_ok(), !unrecoverable_id(&record), "{result:?}");
            rejected += usize::from(result.is_err());
            // An address not recorded (absent or "") leaves the canonical field out.
            let Ok(canonical) = health.apply(&record.value) else {
                continue;
            };
            let recorded = record.value["hz"]["jzdz"].as_str().unwrap_or("");
            let text = canonical.pointer("/patient/address/text");
            if recorded.is_empty() {
                assert_eq!(canonical.pointer("/patient/address"), None);
                without += 1;
            } else {
                assert_eq!(text, Some(&json!(recorded)));
                addresses += 1;
            }
        }
        assert!(addresses > 0 && without > 0, "{addresses} {without}");
        for record in d.urban.records(g) {
            let result = passes(
                &standard,
                "urban-management.grid-case",
                &urban,
                &record.value,
            );
            assert!(result.is_ok(), "{result:?} {}", record.value);
        }
        for record in d.civil_affairs.records(g) {
            for (m, person) in members(&record.value).iter().zip(&record.people) {
                let result = passes(&standard, "civil-affairs.household-member", &member, m);
                let bad = invalid_id(person.noise.id);
                assert_eq!(result.is_ok(), !bad, "{result:?}");
            }
        }
        assert_eq!(rejected > 0, noise != Noise::NONE);
    }

    let enrollment = standard.latest("education.enrollment").unwrap();
    let sim = govhub_sim::education::EducationSim {
        seed: 21,
        students: 600,
        invalid_every: 7,
    };
    for student in sim.all() {
        let violations = enrollment.validate(&student.value);
        assert_eq!(
            violations.is_empty(),
            student.defect.is_none(),
            "{violations:?}"
        );
    }
}

#[test]
fn every_defect_is_a_rejection() {
    let standard = Standard::embedded().unwrap();
    let mut d = Departments::new(22, 2000).with_faults(Faults {
        invalid_rate: 1.0,
        ..Faults::default()
    });
    d.health.noise = Noise::NONE;
    d.civil_affairs.noise = Noise::NONE;
    d.urban.noise = Noise::NONE;
    for record in d.health.records(0) {
        assert!(record.defect.is_some());
        let result = passes(
            &standard,
            "health.encounter",
            &health_mapping(),
            &record.value,
        );
        assert!(result.is_err(), "{:?} passed", record.defect);
    }
    for record in d.urban.records(0) {
        let result = passes(
            &standard,
            "urban-management.grid-case",
            &urban_mapping(),
            &record.value,
        );
        assert!(result.is_err(), "{:?} passed", record.defect);
    }
    for record in d.civil_affairs.records(0) {
        // Every defect breaks the first member (the head) at least.
        let first = &members(&record.value)[0];
        let result = passes(
            &standard,
            "civil-affairs.household-member",
            &member_mapping(),
            first,
        );
        assert!(result.is_err(), "{:?} passed", record.defect);
    }
}
