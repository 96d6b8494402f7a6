use serde_json::{Value, json};

use super::*;

fn mapping(toml_text: &str) -> Mapping {
    toml::from_str(toml_text).expect("mapping parses")
}

/// The health department's native patient record: pinyin-initial field names
/// (姓名 xm, 身份证号 sfzh, 性别 xb, 出生日期 csrq), codes and compact dates.
fn native() -> Value {
    json!({
        "jzlsh": "MZ20260001",
        "hz": {"xm": " 陈 伟 ", "sfzh": "11010519491231002x", "xb": 1, "csrq": "19491231",
               "lxdh": "+86 139-1234-5678"},
        "jzrq": "2026年3月5日",
        "jzsj": "2026-03-05 14:03:00",
        "lx": "01",
        "fy": "128.50",
        "sfyb": "是",
    })
}

const RULES: &str = r#"
"/encounter_id" = { from = "/jzlsh" }
"/patient/name" = { from = "/hz/xm", normalize = "name" }
"/patient/resident_id" = { from = "/hz/sfzh", normalize = "resident_id" }
"/patient/sex" = { from = "/hz/xb", codes = "sex_gb2261" }
"/patient/birth_date" = { from = "/hz/csrq", date = "compact" }
"/patient/phone" = { from = "/hz/lxdh", normalize = "mobile" }
"/visit_date" = { from = "/jzrq", date = "chinese" }
"/visited_at" = { from = "/jzsj", datetime = "auto" }
"/type" = { from = "/lx", codes = { "01" = "outpatient", "02" = "inpatient" } }
"/cost" = { from = "/fy", as = "number" }
"/insured" = { from = "/sfyb", as = "boolean" }
"/facility/name" = { const = "第一人民医院" }
"/ward" = { from = "/bq", default = "none" }
"/note" = { from = "/bz", optional = true }
"#;

#[test]
fn every_rule_kind_builds_the_canonical_record() {
    let out = mapping(RULES).compile().apply(&native()).unwrap();
    assert_eq!(
        out,
        json!({
            "encounter_id": "MZ20260001",
            "patient": {
                "name": "陈伟",
                "resident_id": "11010519491231002X",
                "sex": "male",
                "birth_date": "1949-12-31",
                "phone": "13912345678",
            },
            "visit_date": "2026-03-05",
            "visited_at": "2026-03-05T14:03:00+08:00",
            "type": "outpatient",
            "cost": 128.5,
            "insured": true,
            "facility": {"name": "第一人民医院"},
            "ward": "none",
        })
    );
}

#[test]
fn date_layouts_departments_use() {
    let m = mapping(r#""/d" = { from = "/d", date = "auto" }"#);
    for raw in [
        json!("2012-03-05"),
        json!("2012/03/05"),
        json!("20120305"),
        json!("2012年3月5日"),
        json!(1_330_876_800_000_i64),
    ] {
        let out = m.compile().apply(&json!({ "d": raw.clone() })).unwrap();
        assert_eq!(out, json!({"d": "2012-03-05"}), "{raw}");
    }
}

#[test]
fn full_width_folding_and_trimming() {
    let m = mapping(r#""/code" = { from = "/c", text = ["trim", "fold_width", "upper"] }"#);
    let out = m
        .compile()
        .apply(&json!({"c": "\u{3000}ａｂ１２３ "}))
        .unwrap();
    assert_eq!(out, json!({"code": "AB123"}));
}

#[test]
fn legacy_15_digit_ids_are_upgraded() {
    let m = mapping(r#""/id" = { from = "/id", normalize = "resident_id" }"#);
    // 110105 491231 002 → 110105 19491231 002 + check X
    let out = m
        .compile()
        .apply(&json!({"id": "110105491231002"}))
        .unwrap();
    assert_eq!(out, json!({"id": "11010519491231002X"}));
}

#[test]
fn every_failing_rule_is_reported_without_values() {
    let bad = json!({
        "jzlsh": "MZ1",
        "hz": {"xm": "李四", "sfzh": "110105194912310021", "xb": 5, "csrq": "19490230",
               "lxdh": "12345"},
        "jzrq": "2026-03-05",
        "jzsj": "soon",
        "lx": "09",
        "fy": "free",
        "sfyb": "maybe",
    });
    let violations = mapping(RULES).compile().apply(&bad).unwrap_err();
    let got: Vec<(&str, &str, &str)> = violations
        .iter()
        .map(|v| {
            (
                v.schema_path.as_str(),
                v.instance_path.as_str(),
                v.keyword.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/cost", "/fy", "type"),
            ("/insured", "/sfyb", "type"),
            ("/patient/birth_date", "/hz/csrq", "date"),
            ("/patient/phone", "/hz/lxdh", "normalize"),
            ("/patient/resident_id", "/hz/sfzh", "normalize"),
            ("/patient/sex", "/hz/xb", "code"),
            ("/type", "/lx", "code"),
            ("/visit_date", "/jzrq", "date"),
            ("/visited_at", "/jzsj", "datetime"),
        ]
    );
    for v in &violations {
        for secret in ["110105194912310021", "12345", "19490230", "李四"] {
            assert!(!v.message.contains(secret), "{}", v.message);
        }
    }
}

#[test]
fn a_missing_field_is_a_rejection_not_a_panic() {
    let m = mapping(r#""/a/b" = { from = "/x/y" }"#);
    for native in [
        json!({}),
        json!({"x": null}),
        json!({"x": {"y": ""}}),
        json!([1, 2]),
        json!("text"),
    ] {
        let err = m.compile().apply(&native).unwrap_err();
        assert_eq!(err[0].keyword, "missing", "{native}");
    }
}

#[test]
fn config_problems_name_the_rule() {
    let schema = json!({
        "type": "object",
        "properties": {
            "patient": {"$ref": "#/$defs/person"},
            "facility": {"$ref": "https://govhub.invalid/schemas/common/org.v1.json"},
            "x": {"allOf": [{"properties": {"y": {}}}]},
        },
        "$defs": {"person": {"properties": {"name": {"type": "string"}}}},
    });
    let resolve = |id: &str| -> Option<Value> {
        (id == "https://govhub.invalid/schemas/common/org.v1.json")
            .then(|| json!({"properties": {"name": {}}}))
    };
    let ok = mapping(
        r#"
"/patient/name" = { from = "/xm" }
"/facility/name" = { const = "x" }
"/x/y" = { from = "/y" }
"#,
    );
    assert_eq!(ok.problems(&schema, &resolve), vec![]);

    let bad = mapping(
        r#"
"/patient/nmae" = { from = "/xm" }
"/facility/name" = { from = "/f", const = "x" }
"/x/y" = { from = "y", codes = "no_such_table" }
"nope" = { const = 1, optional = true }
"#,
    );
    let problems: Vec<String> = bad
        .problems(&schema, &resolve)
        .into_iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect();
    assert_eq!(
        problems,
        vec![
            r#"["/facility/name"]: set either `from` or `const`, not both"#,
            r#"["/patient/nmae"]: the canonical record has no such field"#,
            r#"["/x/y"].from: must be a JSON pointer starting with "/""#,
            r#"["/x/y"].codes: no built-in code table "no_such_table" (known: sex_gb2261)"#,
            r#"["nope"]: a canonical field is a JSON pointer starting with "/""#,
            r#"["nope"]: `const` takes no other settings"#,
        ]
    );
}

#[test]
fn unknown_rule_settings_are_refused() {
    let err = toml::from_str::<Mapping>(r#""/a" = { form = "/a" }"#).unwrap_err();
    assert!(err.to_string().contains("form"), "{err}");
}
