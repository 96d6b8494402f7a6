//! Identity resolution on synthetic residents: the cases the standard's departments
//! really produce, one named test each, plus stability across restarts and arrival
//! order.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use govhub_resolve::identity::{
    IdentityConfig, Model, Observation, PersonView, RecordRef, Resolver, Rule, Sex,
};
use govhub_resolve::{Commit, StateStore};
use govhub_schema::formats::resident_id;
use proptest::prelude::*;

/// A valid 18-digit ID for a synthetic person.
fn id(division: &str, birth: &str, seq: u32) -> String {
    let body = format!("{division}{}{seq:03}", birth.replace('-', ""));
    format!("{body}{}", resident_id::check_char(&body).unwrap())
}

#[derive(Clone, Default)]
struct P {
    name: &'static str,
    id: Option<String>,
    birth: Option<String>,
    phone: Option<String>,
    sex: Option<Sex>,
    address: Option<&'static str>,
}

fn obs(department: &str, srid: &str, p: &P) -> Observation {
    Observation {
        record: RecordRef {
            department: department.into(),
            connector: department.replace('-', "_"),
            source_record_id: srid.into(),
        },
        at_ms: 1_700_000_000_000,
        name: Some(p.name.into()),
        resident_id: p.id.clone(),
        resident_id_unverified: None,
        sex: p.sex,
        birth_date: p.birth.clone(),
        phone: p.phone.clone(),
        division_code: None,
        address: p.address.map(str::to_owned),
        address_key: None,
    }
}

fn resolver() -> Resolver {
    // Parsed once: the property test builds two resolvers per case.
    static MODEL: OnceLock<Model> = OnceLock::new();
    let model = MODEL.get_or_init(|| Model::builtin().unwrap());
    Resolver::in_memory(&IdentityConfig::default(), model).unwrap()
}

fn zhang_wei() -> P {
    P {
        name: "张伟",
        id: Some(id("110105", "1985-03-12", 1)),
        birth: Some("1985-03-12".into()),
        phone: Some("13800138001".into()),
        sex: Some(Sex::Male),
        address: None,
    }
}

#[test]
fn the_same_resident_id_is_one_person_across_departments() {
    let mut r = resolver();
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs(
        "civil-affairs",
        "M1",
        &P {
            phone: None,
            name: "张卫", // a different name: the ID decides
            ..zhang_wei()
        },
    ));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(b.events[0].rule, "resident_id");
    assert_eq!(r.stats().residents, 1);
}

#[test]
fn a_link_is_a_record_joining_a_known_resident_not_a_new_one() {
    let mut r = resolver();
    r.observe(&obs("health", "H1", &zhang_wei()));
    assert_eq!(r.stats().links, 0, "the first record founds a resident");
    r.observe(&obs("education", "E1", &zhang_wei()));
    assert_eq!(r.stats().links, 1);
    let other = P {
        name: "李娜",
        id: Some(id("310104", "1990-07-01", 2)),
        ..P::default()
    };
    r.observe(&obs("health", "H2", &other));
    let stats = r.stats();
    assert_eq!((stats.residents, stats.records, stats.links), (2, 3, 1));
}

#[test]
fn a_legacy_15_digit_id_resolves_once_normalized() {
    let full = zhang_wei().id.unwrap();
    let legacy = format!("{}{}", &full[..6], &full[8..17]);
    let normalized = govhub_schema::normalize::Normalizer::ResidentId
        .apply(&legacy)
        .unwrap();
    assert_eq!(normalized, full);
    let mut r = resolver();
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs(
        "civil-affairs",
        "M1",
        &P {
            id: Some(normalized),
            ..zhang_wei()
        },
    ));
    assert_eq!(a.person_id, b.person_id);
}

/// The level `comparison` fell into in the decision that linked `outcome`'s record.
fn level_of(outcome: &govhub_resolve::identity::Outcome, comparison: &str) -> String {
    outcome.events[0]
        .evidence
        .iter()
        .find(|e| e.comparison == comparison)
        .map(|e| e.level.clone())
        .unwrap_or_default()
}

#[test]
fn a_homophone_name_without_an_id_resolves_by_pinyin() {
    let mut r = resolver();
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs(
        "education",
        "E1",
        &P {
            name: "章伟",
            id: None,
            ..zhang_wei()
        },
    ));
    assert_eq!(a.person_id, b.person_id);
    let link = &b.events[0];
    assert_eq!(link.rule, "probabilistic");
    assert_eq!(level_of(&b, "name"), "pinyin");
    assert!(link.probability.unwrap() >= 0.99, "{link:?}");
}

#[test]
fn another_day_of_the_same_month_with_name_and_phone_still_resolves() {
    let mut r = resolver();
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs(
        "education",
        "E1",
        &P {
            id: None,
            birth: Some("1985-03-27".into()),
            ..zhang_wei()
        },
    ));
    assert_eq!(
        a.person_id, b.person_id,
        "a mistyped day is not another person"
    );
    assert_eq!(level_of(&b, "birth_date"), "same_year_month");
}

/// 张伟 at home, with no ID and no phone: the school knows his address, not his number.
fn zhang_wei_at_home(srid_birth: &str, address: &'static str) -> P {
    P {
        id: None,
        phone: None,
        birth: Some(srid_birth.into()),
        address: Some(address),
        ..zhang_wei()
    }
}

#[test]
fn the_same_address_written_differently_links_another_day_of_birth_without_a_phone() {
    let mut r = resolver();
    let home = zhang_wei_at_home("1985-03-12", "北京市朝阳区幸福路12号3栋2单元1203室");
    let a = r.observe(&obs("health", "H1", &home));
    // Another day of the same month, the address without its city and in full width.
    let b = r.observe(&obs(
        "education",
        "E1",
        &zhang_wei_at_home("1985-03-27", "朝阳区幸福路１２号３栋２单元１２０３室"),
    ));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(level_of(&b, "address"), "same");
    assert_eq!(level_of(&b, "birth_date"), "same_year_month");

    // The same two records without the address: a common name and a month are not
    // enough.
    let mut r = resolver();
    let a = r.observe(&obs(
        "health",
        "H1",
        &P {
            address: None,
            ..home
        },
    ));
    let b = r.observe(&obs(
        "education",
        "E1",
        &P {
            address: None,
            ..zhang_wei_at_home("1985-03-27", "")
        },
    ));
    assert_ne!(a.person_id, b.person_id);
}

#[test]
fn an_address_key_outlives_the_text_when_the_index_rebuilds_a_record() {
    let mut r = resolver();
    r.observe(&obs(
        "health",
        "H1",
        &zhang_wei_at_home("1985-03-12", "北京市朝阳区幸福路12号3栋2单元1203室"),
    ));
    r.observe(&obs(
        "civil-affairs",
        "M1",
        &zhang_wei_at_home("1985-03-12", "幸福路12号3棟2單元1203室"),
    ));
    let keys: Vec<Option<u64>> = r
        .snapshot()
        .into_iter()
        .filter_map(|entry| match entry {
            govhub_resolve::identity::Entry::Record { observation, .. } => {
                assert_eq!(observation.address, None, "the text is not kept");
                Some(observation.address_key)
            }
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].is_some());
    assert_eq!(keys[0], keys[1], "one address, written two ways");
}

#[test]
fn a_dropped_given_name_character_with_birth_date_and_phone_resolves() {
    let mut r = resolver();
    let full = P {
        name: "张建军",
        id: Some(id("110105", "1979-11-02", 3)),
        birth: Some("1979-11-02".into()),
        phone: Some("13900139002".into()),
        sex: Some(Sex::Male),
        address: None,
    };
    let a = r.observe(&obs("civil-affairs", "M1", &full));
    let b = r.observe(&obs(
        "health",
        "H1",
        &P {
            name: "张建",
            id: None,
            ..full
        },
    ));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(level_of(&b, "name"), "contained");
}

#[test]
fn a_one_character_name_is_weak_evidence_not_a_rare_one() {
    // Two records cut short to the surname, with the same birth date and nothing else:
    // as likely two people surnamed 刘 born that day as one.
    let mut r = resolver();
    let liu = P {
        name: "刘",
        id: None,
        birth: Some("1988-06-15".into()),
        phone: None,
        sex: None,
        address: None,
    };
    let a = r.observe(&obs("health", "H1", &liu));
    let b = r.observe(&obs("education", "E1", &liu));
    assert_ne!(a.person_id, b.person_id);
    // A full, rarer name with the same evidence is one person.
    let ouyang = P {
        name: "欧阳娜娜",
        ..liu
    };
    let a = r.observe(&obs("health", "H2", &ouyang));
    let b = r.observe(&obs("education", "E2", &ouyang));
    assert_eq!(a.person_id, b.person_id);
}

#[test]
fn traditional_characters_resolve_as_folded() {
    let mut r = resolver();
    let chen = P {
        name: "陈小红",
        id: Some(id("440305", "1990-07-21", 2)),
        birth: Some("1990-07-21".into()),
        phone: Some("13900139002".into()),
        sex: Some(Sex::Female),
        address: None,
    };
    let a = r.observe(&obs("civil-affairs", "M1", &chen));
    let b = r.observe(&obs(
        "health",
        "H1",
        &P {
            name: "陳小紅",
            id: None,
            ..chen
        },
    ));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(level_of(&b, "name"), "folded");
}

#[test]
fn a_birth_date_with_day_and_month_swapped_still_resolves() {
    let mut r = resolver();
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs(
        "education",
        "E1",
        &P {
            id: None,
            birth: Some("1985-12-03".into()),
            ..zhang_wei()
        },
    ));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(level_of(&b, "birth_date"), "day_month_swapped");
}

#[test]
fn different_resident_ids_never_merge_whatever_else_matches() {
    let mut r = resolver();
    let twin_b = P {
        id: Some(id("110105", "1985-03-12", 3)),
        ..zhang_wei()
    };
    let a = r.observe(&obs("health", "H1", &zhang_wei()));
    let b = r.observe(&obs("health", "H2", &twin_b));
    assert_ne!(a.person_id, b.person_id);
    // A record without an ID matching both links to one of them and merges nothing.
    let c = r.observe(&obs(
        "education",
        "E1",
        &P {
            id: None,
            ..zhang_wei()
        },
    ));
    assert!([&a.person_id, &b.person_id].contains(&&c.person_id));
    assert!(
        c.events.iter().all(|e| e.event != "merge"),
        "{:?}",
        c.events
    );
    assert_eq!(r.stats().residents, 2);
}

/// Two records of one person that do not match each other (one lacks the birth date,
/// the other the phone), then a record matching both: a merge into the older person.
fn merge_scenario(r: &mut Resolver) -> String {
    let with_birth = P {
        phone: None,
        ..zhang_wei()
    };
    let with_phone = P {
        id: None,
        birth: None,
        sex: None,
        ..zhang_wei()
    };
    let older = r
        .observe(&obs("civil-affairs", "M1", &with_birth))
        .person_id;
    let younger = r
        .observe(&obs("urban-management", "U1", &with_phone))
        .person_id;
    assert_ne!(older, younger, "not enough in common on their own");
    let bridge = r.observe(&obs(
        "health",
        "H1",
        &P {
            id: None,
            ..zhang_wei()
        },
    ));
    assert_eq!(bridge.person_id, older, "a merge keeps the older id");
    let merge = bridge.events.iter().find(|e| e.event == "merge").unwrap();
    assert_eq!(merge.from_person_ids, vec![younger.clone()]);
    assert_eq!(bridge.retired, vec![younger]);
    older
}

#[test]
fn a_record_matching_two_persons_merges_them_into_the_older() {
    let mut r = resolver();
    merge_scenario(&mut r);
    assert_eq!(r.stats().residents, 1);
    assert_eq!(r.stats().merges, 1);
}

#[test]
fn a_record_whose_corrected_id_differs_is_split_out() {
    let mut r = resolver();
    let a = r.observe(&obs("civil-affairs", "M1", &zhang_wei()));
    let b = r.observe(&obs("health", "H1", &zhang_wei()));
    assert_eq!(a.person_id, b.person_id);
    // The health platform corrects H1's ID: it is somebody else after all.
    let corrected = r.observe(&obs(
        "health",
        "H1",
        &P {
            id: Some(id("110105", "1985-03-12", 5)),
            ..zhang_wei()
        },
    ));
    assert_ne!(corrected.person_id, a.person_id);
    let split = &corrected.events[0];
    assert_eq!(split.event, "split");
    assert_eq!(split.from_person_ids, vec![a.person_id.clone()]);
    assert_eq!(r.stats().residents, 2);
    assert_eq!(r.stats().splits, 1);
    // Both persons' golden records changed; each now has one source.
    assert_eq!(corrected.changed.len(), 2);
    for person in &corrected.changed {
        let (_, golden) = r.golden(*person).unwrap();
        assert_eq!(golden["sources"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn golden_records_follow_survivorship_and_keep_provenance() {
    let mut config = IdentityConfig::default();
    config.survivorship.name = Rule::Trusted {
        order: vec!["civil-affairs".into(), "health".into()],
    };
    let mut r = Resolver::in_memory(&config, &Model::builtin().unwrap()).unwrap();
    let mut newer = obs(
        "health",
        "H1",
        &P {
            name: "章伟",
            phone: Some("13700137007".into()),
            ..zhang_wei()
        },
    );
    newer.at_ms += 1000;
    r.observe(&obs("civil-affairs", "M1", &zhang_wei()));
    let out = r.observe(&newer);
    let (_, golden) = r.golden(out.changed[0]).unwrap();
    assert_eq!(
        golden["name"], "张伟",
        "civil affairs is trusted first for names"
    );
    assert_eq!(golden["provenance"]["name"]["department"], "civil-affairs");
    assert_eq!(golden["phone"], "13700137007", "the most recent phone wins");
    assert_eq!(golden["provenance"]["phone"]["source_record_id"], "H1");
    assert_eq!(golden["sources"].as_array().unwrap().len(), 2);
}

#[test]
fn person_ids_merges_and_splits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig::default();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut r = Resolver::open(&mut store, &config).unwrap();
    let older = merge_scenario(&mut r);
    r.observe(&obs(
        "civil-affairs",
        "M9",
        &P {
            name: "李娜",
            id: Some(id("320102", "1992-11-02", 8)),
            birth: Some("1992-11-02".into()),
            phone: None,
            sex: Some(Sex::Female),
            address: None,
        },
    ));
    commit(&mut store, &mut r);
    let before: BTreeMap<RecordRef, String> = r.assignments().collect();
    let residents = r.stats().residents;
    drop(r);

    let mut again = Resolver::open(&mut store, &config).unwrap();
    let after: BTreeMap<RecordRef, String> = again.assignments().collect();
    assert_eq!(before, after);
    assert_eq!(again.stats().residents, residents);
    assert_eq!(
        again.stats().comparisons,
        0,
        "restart replays decisions, it does not re-resolve"
    );
    let next = again.observe(&obs(
        "education",
        "E7",
        &P {
            id: None,
            ..zhang_wei()
        },
    ));
    assert_eq!(next.person_id, older);

    // Decisions not committed to the store are not there after a restart.
    drop(again);
    let third = Resolver::open(&mut store, &config).unwrap();
    assert_eq!(third.assignments().count(), before.len());
}

#[test]
fn a_long_journal_is_compacted_on_open_and_keeps_ids_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig::default();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut r = Resolver::open(&mut store, &config).unwrap();
    let person = merge_scenario(&mut r);
    // The health platform changes H1's phone 1,500 times: 1,500 journal lines.
    let mut last = None;
    for n in 0..1500u32 {
        let out = r.observe(&obs(
            "health",
            "H1",
            &P {
                id: None,
                phone: Some(format!("1390{n:07}")),
                ..zhang_wei()
            },
        ));
        assert_eq!(out.person_id, person);
        last = Some(out.changed[0]);
    }
    commit(&mut store, &mut r);
    let before: BTreeMap<RecordRef, String> = r.assignments().collect();
    let (_, golden) = r.golden(last.unwrap()).unwrap();
    let version = golden["version"].as_u64().unwrap();
    drop(r);

    assert!(store.journal().unwrap().len() > 1500);
    let again = Resolver::open(&mut store, &config).unwrap();
    assert_eq!(
        store.journal().unwrap().len(),
        before.len() + 1,
        "one entry per live record, and one per retired person id"
    );
    assert_eq!(again.assignments().collect::<BTreeMap<_, _>>(), before);
    drop(again);
    let mut third = Resolver::open(&mut store, &config).unwrap();
    assert_eq!(third.assignments().collect::<BTreeMap<_, _>>(), before);
    let out = third.observe(&obs(
        "health",
        "H1",
        &P {
            id: None,
            phone: Some("13711112222".into()),
            ..zhang_wei()
        },
    ));
    let (_, golden) = third.golden(out.changed[0]).unwrap();
    assert!(
        golden["version"].as_u64().unwrap() > version,
        "versions keep growing"
    );
}

/// `valid` with one digit of its date part typed wrong, so its check character fails.
fn mistyped(valid: &str, at: usize) -> String {
    let mut bytes = valid.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
    let typo = String::from_utf8(bytes).unwrap();
    assert!(!resident_id::is_valid(&typo));
    typo
}

/// A health record that kept only a mistyped ID besides the name (set aside by the
/// mapping): no birth date, no phone. Read as the hub reads it, so the birth date and
/// sex come from the ID.
fn with_mistyped_id(srid: &str, typo: &str) -> Observation {
    let canonical = serde_json::json!({"patient": {"name": "张伟",
        "identifiers": {"resident_id_unverified": typo}}});
    let location = govhub_schema::PersonLocation {
        person: "/patient".into(),
        phone: None,
        division_code: None,
        address_text: None,
    };
    let record = RecordRef {
        department: "health".into(),
        connector: "health".into(),
        source_record_id: srid.into(),
    };
    Observation::from_canonical(&location, record, 1_700_000_000_000, &canonical).unwrap()
}

#[test]
fn a_record_whose_id_fails_its_check_joins_the_person_it_was_mistyped_from() {
    let valid = zhang_wei().id.unwrap();
    // In the sequence digits: the birth date the ID encodes is right.
    let typo = mistyped(&valid, 15);
    for order in [[0, 1], [1, 0]] {
        let records = [
            obs("civil-affairs", "M1", &zhang_wei()),
            with_mistyped_id("H1", &typo),
        ];
        let mut r = resolver();
        let outcomes: Vec<_> = order.iter().map(|i| r.observe(&records[*i])).collect();
        assert_eq!(
            outcomes[0].person_id, outcomes[1].person_id,
            "order {order:?}"
        );
        assert_eq!(level_of(&outcomes[1], "resident_id"), "one_keystroke");
    }
    // Another resident's valid ID is not one keystroke away: the same common name alone
    // does not join them.
    let mut r = resolver();
    let other = P {
        id: Some(id("310104", "1979-06-30", 5)),
        birth: Some("1979-06-30".into()),
        ..zhang_wei()
    };
    let a = r.observe(&obs("civil-affairs", "M2", &other));
    let b = r.observe(&with_mistyped_id("H2", &typo));
    assert_ne!(a.person_id, b.person_id);
}

#[test]
fn a_mistyped_birth_digit_in_the_id_still_finds_the_person() {
    let valid = zhang_wei().id.unwrap();
    // In the day of birth: the record's own birth date (read from the ID) is one digit
    // off, and the ID one keystroke.
    let typo = mistyped(&valid, 13);
    let mut r = resolver();
    let a = r.observe(&obs("civil-affairs", "M1", &zhang_wei()));
    let b = r.observe(&with_mistyped_id("H1", &typo));
    assert_eq!(a.person_id, b.person_id);
    assert_eq!(level_of(&b, "birth_date"), "one_digit");
}

#[test]
fn the_model_is_re_estimated_once_after_retrain_after_records_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig {
        retrain_after: Some(30),
        ..IdentityConfig::default()
    };
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut r = Resolver::open(&mut store, &config).unwrap();
    let builtin = Model::builtin().unwrap();
    let records = population();
    for o in &records[..29] {
        r.observe(o);
    }
    assert!(!r.retrain_due(), "29 records resolved of 30");
    r.observe(&records[29]);
    assert!(r.retrain_due());
    let retrained = r.retrain().unwrap();
    assert_eq!(retrained.before, builtin);
    assert_eq!(retrained.report.records, 30);
    assert_ne!(r.model(), &builtin);
    assert!(!r.retrain_due(), "once");
    let commit = Commit {
        journal: r.take_journal(),
        model: Some(serde_json::to_string(&retrained.after).unwrap()),
        ..Commit::default()
    };
    store.commit(&commit).unwrap();
    drop(r);
    let again = Resolver::open(&mut store, &config).unwrap();
    assert_eq!(
        again.model(),
        &retrained.after,
        "the store keeps the new model"
    );
    assert!(!again.retrain_due());
}

/// Synthetic persons, each recorded three ways: with the ID, without it (name, birth
/// date, phone), and as a reporter (name and phone only).
fn population() -> Vec<Observation> {
    const NAMES: [&str; 12] = [
        "王芳", "李强", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "徐明", "孙丽",
        "马超",
    ];
    let mut out = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let birth = format!("19{}-0{}-1{}", 60 + i, 1 + i % 9, i % 10);
        let p = P {
            name,
            id: Some(id("110105", &birth, i as u32)),
            birth: Some(birth),
            phone: Some(format!("1380000{i:04}")),
            sex: Some(if i % 2 == 0 { Sex::Female } else { Sex::Male }),
            address: None,
        };
        out.push(obs("civil-affairs", &format!("M{i}"), &p));
        out.push(obs(
            "health",
            &format!("H{i}"),
            &P {
                id: None,
                ..p.clone()
            },
        ));
        out.push(obs(
            "urban-management",
            &format!("U{i}"),
            &P {
                id: None,
                birth: None,
                sex: None,
                ..p
            },
        ));
    }
    out
}

fn partition(observations: &[Observation]) -> BTreeSet<BTreeSet<String>> {
    let mut r = resolver();
    for o in observations {
        r.observe(o);
    }
    let mut by_person: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (record, person) in r.assignments() {
        by_person
            .entry(person)
            .or_default()
            .insert(record.source_record_id);
    }
    by_person.into_values().collect()
}

#[test]
fn each_synthetic_person_is_one_cluster() {
    let clusters = partition(&population());
    assert_eq!(clusters.len(), 12, "{clusters:?}");
    assert!(clusters.iter().all(|c| c.len() == 3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn final_clusters_do_not_depend_on_arrival_order(
        shuffled in Just(population()).prop_shuffle()
    ) {
        prop_assert_eq!(partition(&shuffled), partition(&population()));
    }
}

/// Commits the resolver's decisions so far, as the hub does after a sink write.
fn commit(store: &mut StateStore, r: &mut Resolver) {
    let commit = Commit {
        journal: r.take_journal(),
        ..Commit::default()
    };
    store.commit(&commit).unwrap();
}

/// A synthetic person of a rare name recorded with a birth date or a phone or both:
/// two records match when they agree on the name and on one of those, never on the
/// name alone.
fn ouyang(srid: &str, birth: Option<&str>, phone: Option<&str>) -> Observation {
    obs(
        "health",
        srid,
        &P {
            name: "欧阳娜娜",
            birth: birth.map(Into::into),
            phone: phone.map(Into::into),
            ..P::default()
        },
    )
}

/// Three persons C, B, A (in that order, so C is the oldest); A is merged into B, then
/// B into C. Returns the three ids and the handle of C after the second merge.
fn merge_chain(r: &mut Resolver) -> ([String; 3], u32) {
    const BIRTH_C: &str = "1985-03-12";
    const BIRTH_A: &str = "1990-07-25";
    const PHONE_B: &str = "13800138001";
    let c = r.observe(&ouyang("C1", Some(BIRTH_C), None)).person_id;
    let b = r.observe(&ouyang("B1", None, Some(PHONE_B))).person_id;
    let a = r.observe(&ouyang("A1", Some(BIRTH_A), None)).person_id;
    assert_eq!(r.stats().residents, 3, "nothing in common but the name");
    let first = r.observe(&ouyang("AB", Some(BIRTH_A), Some(PHONE_B)));
    assert_eq!(first.merged_into, vec![(a.clone(), b.clone())]);
    let second = r.observe(&ouyang("BC", Some(BIRTH_C), Some(PHONE_B)));
    assert_eq!(second.merged_into, vec![(b.clone(), c.clone())]);
    assert_eq!(r.stats().residents, 1);
    ([a, b, c], second.changed[0])
}

#[test]
fn a_retired_person_id_leads_through_its_merges_to_the_live_person() {
    let mut r = resolver();
    let ([a, b, c], handle) = merge_chain(&mut r);
    let (_, golden) = r.golden(handle).unwrap();

    let view = r.person(&a).unwrap();
    assert_eq!(view.requested, a);
    assert_eq!(view.person_id, c);
    assert_eq!(view.merged_chain, vec![a.clone(), b.clone()]);
    assert_eq!(
        view.golden, golden,
        "the golden record the person topic gets"
    );
    let ids: Vec<_> = view
        .records
        .iter()
        .map(|rec| rec.source_record_id.as_str())
        .collect();
    assert_eq!(ids, ["A1", "AB", "B1", "BC", "C1"]);
    assert!(view.records.iter().all(|rec| rec.department == "health"));

    assert_eq!(r.person(&b).unwrap().merged_chain, vec![b.clone()]);
    let live = r.person(&c).unwrap();
    assert_eq!(
        (live.person_id.as_str(), live.merged_chain.len()),
        (c.as_str(), 0)
    );
    assert_eq!(live.golden, golden);

    assert!(r.person("p0123456789abcdef").is_none(), "never given");
    for malformed in ["", "nope", &c.to_uppercase(), &format!("{c}0"), &c[1..]] {
        assert!(r.person(malformed).is_none(), "{malformed:?}");
    }
}

#[test]
fn a_person_left_empty_by_a_split_leads_to_where_its_record_went() {
    let mut r = resolver();
    let registered = r
        .observe(&obs("civil-affairs", "M1", &zhang_wei()))
        .person_id;
    // Another ID: another person, of one record.
    let other = P {
        id: Some(id("110105", "1985-03-12", 5)),
        ..zhang_wei()
    };
    let alone = r.observe(&obs("health", "H1", &other)).person_id;
    assert_ne!(alone, registered);
    // The health platform corrects H1's ID to the registered one.
    let corrected = r.observe(&obs("health", "H1", &zhang_wei()));
    assert_eq!(corrected.person_id, registered);
    assert_eq!(corrected.retired, vec![alone.clone()]);
    assert!(corrected.merged_into.is_empty(), "a split, not a merge");

    let view = r.person(&alone).unwrap();
    assert_eq!(view.person_id, registered);
    assert_eq!(view.merged_chain, vec![alone]);
    assert_eq!(view.records.len(), 2);
}

#[test]
fn retired_person_ids_are_followed_after_a_restart_and_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig::default();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut r = Resolver::open(&mut store, &config).unwrap();
    let ([a, b, c], _) = merge_chain(&mut r);
    // And a person emptied by a split (its one record's ID corrected).
    let registered = r
        .observe(&obs("civil-affairs", "M1", &zhang_wei()))
        .person_id;
    let other = P {
        id: Some(id("110105", "1985-03-12", 5)),
        ..zhang_wei()
    };
    let alone = r.observe(&obs("health", "H1", &other)).person_id;
    r.observe(&obs("health", "H1", &zhang_wei()));
    commit(&mut store, &mut r);
    let asked = [&a, &b, &c, &alone, &registered];
    let before: Vec<_> = asked.iter().map(|id| r.person(id).unwrap()).collect();
    drop(r);

    let reopened = Resolver::open(&mut store, &config).unwrap();
    let after: Vec<_> = asked
        .iter()
        .map(|id| reopened.person(id).unwrap())
        .collect();
    assert_eq!(after, before, "replayed from the journal");

    store.rewrite_journal(&reopened.snapshot()).unwrap();
    drop(reopened);
    let mut compacted = Resolver::open(&mut store, &config).unwrap();
    // Compaction keeps golden-record versions growing, not equal: the rest is equal.
    let unversioned = |mut view: PersonView| {
        view.golden.as_object_mut().unwrap().remove("version");
        view
    };
    let after: Vec<_> = asked
        .iter()
        .map(|id| compacted.person(id).unwrap())
        .collect();
    assert_eq!(
        after.into_iter().map(unversioned).collect::<Vec<_>>(),
        before.into_iter().map(unversioned).collect::<Vec<_>>(),
        "replayed from the compacted journal"
    );
    assert_eq!(compacted.stats().residents, 2);

    // A1 founded A; A1 now carries an ID of its own and founds a person again, under
    // another id than the retired one.
    let with_id = P {
        name: "欧阳娜娜",
        id: Some(id("320102", "1990-07-25", 3)),
        ..P::default()
    };
    let refounded = compacted.observe(&obs("health", "A1", &with_id)).person_id;
    assert_ne!(refounded, a, "a retired id is never given again");
    assert_eq!(compacted.person(&a).unwrap().person_id, c);
}
