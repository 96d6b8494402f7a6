//! Logs never carry the personal data that passes through the hub: `govhub demo` runs
//! at trace level, and no name, resident ID or phone of any record it published (or
//! sent to the dead-letter topic) appears anywhere in its log or its printed summary.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// Keys whose values are personal: canonical fields and the departments' native ones
/// (姓名 xm, 身份证号 sfzh / gmsfhm, 联系电话 lxdh).
const PERSONAL_KEYS: &[&str] = &[
    "name",
    "resident_id",
    "resident_id_unverified",
    "phone",
    "xm",
    "sfzh",
    "gmsfhm",
    "lxdh",
];

fn collect(value: &Value, key: Option<&str>, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                collect(v, Some(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
        // A one-character value (a surname alone) would match too much unrelated text
        // to say anything.
        Value::String(s)
            if key.is_some_and(|k| PERSONAL_KEYS.contains(&k)) && s.trim().chars().count() >= 2 =>
        {
            out.insert(s.trim().to_owned());
        }
        _ => {}
    }
}

/// Whether `text` contains `value` as a whole: digits not glued to other digits (an
/// 11-digit phone inside a 13-digit millisecond timestamp is not the phone).
fn mentions(text: &str, value: &str) -> bool {
    let digits = value.chars().all(|c| c.is_ascii_digit());
    text.match_indices(value).any(|(at, _)| {
        if !digits {
            return true;
        }
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn a_trace_level_run_logs_none_of_the_personal_data_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args(["demo", "--residents", "300", "--data-dir"])
        .arg(&data)
        .env("GOVHUB_LOG", "trace")
        .env_remove("GOVHUB_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.lines().count() > 500 && log.contains("TRACE"),
        "trace logging is on: {} lines",
        log.lines().count()
    );

    let mut personal = BTreeSet::new();
    for file in std::fs::read_dir(data.join("log")).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            collect(&event["value"], None, &mut personal);
        }
    }
    // Names, IDs and phones of a few hundred residents, valid and invalid alike.
    assert!(personal.len() > 500, "{} values", personal.len());
    assert!(
        personal.iter().any(|v| v.len() == 18),
        "resident IDs among them"
    );

    // The detector itself: a value on its own is found, digits inside a longer number
    // are not.
    assert!(mentions("caller 13800138000 hung up", "13800138000"));
    assert!(!mentions("at_ms=1713800138000", "13800138000"));
    assert!(mentions("name=张建军", "张建军"));

    let leaked: Vec<&String> = personal
        .iter()
        .filter(|v| mentions(&log, v) || mentions(&printed, v))
        .collect();
    // Say how many, not which: the assertion message is output too.
    assert!(
        leaked.is_empty(),
        "{} personal values appear in the log or the summary",
        leaked.len()
    );
}
