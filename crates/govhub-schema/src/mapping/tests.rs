use std::collections::BTreeSet;

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
            r#"["nope"]: `const` takes no other settings but `when`"#,
        ]
    );
}

#[test]
fn unknown_rule_settings_are_refused() {
    let err = toml::from_str::<Mapping>(r#""/a" = { form = "/a" }"#).unwrap_err();
    assert!(err.to_string().contains("form"), "{err}");
}

/// The problems of `toml_text` against `schema` (cross-file `$ref`s to the common
/// identifiers schema resolved), as `field: message`.
fn problems_of(toml_text: &str) -> Vec<String> {
    mapping(toml_text)
        .problems(&person_schema(), &resolve_common)
        .into_iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect()
}

const IDENTIFIERS_ID: &str = "https://govhub.invalid/schemas/common/identifiers.v1.json";

/// A canonical record with a person whose identifiers live in another file, like
/// `person.v1.json` and `identifiers.v1.json`.
fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "sex": {"enum": ["male", "female", "unknown"]},
                    "birth_date": {"type": "string"},
                    "division_code": {"type": "string"},
                    "identifiers": {"$ref": IDENTIFIERS_ID},
                    "phones": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    })
}

fn resolve_common(id: &str) -> Option<Value> {
    (id == IDENTIFIERS_ID).then(|| {
        json!({
            "$id": IDENTIFIERS_ID,
            "type": "object",
            "properties": {
                "resident_id": {"$ref": "#/$defs/resident_id"},
                "resident_id_unverified": {"type": "string"},
                "others": {"type": "array", "items": {"$ref": "#/$defs/document"}},
            },
            "$defs": {
                "resident_id": {"type": "string"},
                "document": {
                    "type": "object",
                    "properties": {"type": {}, "number": {}, "issuer": {}},
                },
            },
        })
    })
}

/// `(schema_path, instance_path, keyword)` of each violation.
fn where_failed(violations: &[Violation]) -> Vec<(&str, &str, &str)> {
    violations
        .iter()
        .map(|v| {
            (
                v.schema_path.as_str(),
                v.instance_path.as_str(),
                v.keyword.as_str(),
            )
        })
        .collect()
}

#[test]
fn concat_joins_parts_as_text_and_skips_missing_ones() {
    let m = mapping(
        r#"
"/name" = { concat = ["/xing", "/ming"], normalize = "name" }
"/address" = { concat = ["/sheng", "/shi", "/mph"], separator = " " }
"/code" = { concat = ["/qh", "/xh"], separator = "-", text = ["upper"] }
"#,
    )
    .compile();
    let out = m
        .apply(&json!({
            "xing": " 欧阳", "ming": "娜 娜",
            "sheng": "北京市", "shi": null, "mph": 12,
            "qh": "ab", "xh": "",
        }))
        .unwrap();
    assert_eq!(
        out,
        json!({"name": "欧阳娜娜", "address": "北京市 12", "code": "AB"})
    );
}

#[test]
fn concat_with_every_part_missing_is_missing() {
    let native = json!({"xing": null, "ming": "  "});
    let missing = mapping(r#""/name" = { concat = ["/xing", "/ming"] }"#)
        .compile()
        .apply(&native)
        .unwrap_err();
    assert_eq!(
        where_failed(&missing),
        vec![("/name", "/xing+/ming", "missing")]
    );
    let with_default =
        mapping(r#""/name" = { concat = ["/xing", "/ming"], default = "无名" }"#).compile();
    assert_eq!(
        with_default.apply(&native).unwrap(),
        json!({"name": "无名"})
    );
    let optional =
        mapping(r#""/name" = { concat = ["/xing", "/ming"], optional = true }"#).compile();
    assert_eq!(optional.apply(&native).unwrap(), json!({}));
}

#[test]
fn concat_refuses_parts_that_are_not_text_or_numbers() {
    let err = mapping(r#""/name" = { concat = ["/xing", "/ming"] }"#)
        .compile()
        .apply(&json!({"xing": "王", "ming": {"given": "五"}}))
        .unwrap_err();
    assert_eq!(where_failed(&err), vec![("/name", "/xing+/ming", "concat")]);
    assert_eq!(err[0].message, "/name: part /ming is not text or a number");
}

#[test]
fn slice_takes_characters_after_text_and_before_normalize() {
    let m = mapping(
        r#"
"/province" = { from = "/dz", text = ["trim"], slice = [0, 3] }
"/rest" = { from = "/dz", text = ["trim"], slice = [3] }
"/division" = { from = "/qhdm", slice = [0, 6] }
"/id" = { from = "/bh", text = ["fold_width"], slice = [2], normalize = "resident_id" }
"#,
    )
    .compile();
    let out = m
        .apply(&json!({
            "dz": "  北京市海淀区中关村 ",
            "qhdm": 110108001000_u64,
            "bh": "SF１１０１０５４９１２３１００２",
        }))
        .unwrap();
    assert_eq!(
        out,
        json!({
            "province": "北京市",
            "rest": "海淀区中关村",
            "division": "110108",
            "id": "11010519491231002X",
        })
    );
}

#[test]
fn slice_of_a_value_shorter_than_start_is_a_violation() {
    let m = mapping(r#""/ext" = { from = "/dh", slice = [11, 15] }"#).compile();
    // Shorter than `end` only: cut at the end.
    assert_eq!(
        m.apply(&json!({"dh": "010-6275123456"})).unwrap(),
        json!({"ext": "456"})
    );
    assert_eq!(
        m.apply(&json!({"dh": "010-6275123"})).unwrap(),
        json!({"ext": ""})
    );
    let err = m.apply(&json!({"dh": "010-62751"})).unwrap_err();
    assert_eq!(where_failed(&err), vec![("/ext", "/dh", "slice")]);
    assert!(!err[0].message.contains("62751"), "{}", err[0].message);
    let err = m.apply(&json!({"dh": [1, 2]})).unwrap_err();
    assert_eq!(err[0].keyword, "slice");
}

#[test]
fn derive_reads_birth_date_sex_and_division_from_a_resident_id() {
    let m = mapping(
        r#"
"/birth_date" = { from = "/zjhm", derive = "birth_date" }
"/sex" = { from = "/zjhm", derive = "sex" }
"/division_code" = { from = "/zjhm", derive = "division_code" }
"/born" = { from = "/zjhm", derive = "birth_date", date = "iso" }
"/sex_code" = { from = "/zjhm", derive = "sex", codes = { male = 1, female = 2 } }
"#,
    )
    .compile();
    // 17th digit 1: odd, male.
    let out = m.apply(&json!({"zjhm": "110105194912310011"})).unwrap();
    assert_eq!(out["birth_date"], json!("1949-12-31"));
    assert_eq!(out["sex"], json!("male"));
    assert_eq!(out["division_code"], json!("110105"));
    // `codes` and `date` run after `derive`.
    assert_eq!(out["born"], json!("1949-12-31"));
    assert_eq!(out["sex_code"], json!(1));

    // Full width, lower-case x and the legacy 15 digits are normalized first; 17th digit 2:
    // female.
    for id in [
        "１１０１０５１９４９１２３１００２ｘ",
        "11010519491231002x",
        "110105491231002",
    ] {
        let m = mapping(
            r#"
"/birth_date" = { from = "/zjhm", derive = "birth_date" }
"/sex" = { from = "/zjhm", derive = "sex" }
"/division_code" = { from = "/zjhm", derive = "division_code" }
"#,
        )
        .compile();
        let out = m.apply(&json!({ "zjhm": id })).unwrap();
        assert_eq!(
            out,
            json!({"birth_date": "1949-12-31", "sex": "female", "division_code": "110105"}),
            "{id}"
        );
    }
}

#[test]
fn derive_from_an_invalid_id_is_a_violation_without_the_value() {
    let m = mapping(
        r#"
"/birth_date" = { from = "/zjhm", derive = "birth_date" }
"/sex" = { from = "/zjhm", normalize = "resident_id", derive = "sex" }
"#,
    )
    .compile();
    let err = m.apply(&json!({"zjhm": "110105194912310012"})).unwrap_err();
    assert_eq!(
        where_failed(&err),
        vec![
            ("/birth_date", "/zjhm", "derive"),
            ("/sex", "/zjhm", "normalize"),
        ]
    );
    assert_eq!(err[0].message, "/birth_date: not a valid resident ID");
    for v in &err {
        assert!(!v.message.contains("110105"), "{}", v.message);
    }
    let err = m.apply(&json!({"zjhm": true})).unwrap_err();
    assert_eq!(err[0].keyword, "derive");
}

#[test]
fn array_targets_index_and_append() {
    let m = mapping(
        r#"
"/person/identifiers/others/0/type" = { const = "passport" }
"/person/identifiers/others/0/number" = { from = "/hz" }
"/person/identifiers/others/1/type" = { const = "hk_macao_permit" }
"/person/identifiers/others/1/number" = { from = "/gat" }
"/person/phones/0" = { from = "/sj" }
"/person/phones/-" = { from = "/dh" }
"#,
    )
    .compile();
    let out = m
        .apply(&json!({"hz": "E12345678", "gat": "H1234567", "sj": "13912345678", "dh": "01062751234"}))
        .unwrap();
    assert_eq!(
        out,
        json!({"person": {
            "identifiers": {"others": [
                {"type": "passport", "number": "E12345678"},
                {"type": "hk_macao_permit", "number": "H1234567"},
            ]},
            // The appended element follows the indexed one, whatever the target order.
            "phones": ["13912345678", "01062751234"],
        }})
    );
}

#[test]
fn array_holes_left_by_skipped_rules_are_removed() {
    let m = mapping(
        r#"
"/others/0/type" = { const = "passport", when = { field = "/hz", present = true } }
"/others/0/number" = { from = "/hz", optional = true }
"/others/1/type" = { const = "hk_macao_permit", when = { field = "/gat", present = true } }
"/others/1/number" = { from = "/gat", optional = true }
"/phones/2" = { from = "/dh" }
"/phones/-" = { from = "/sj", optional = true }
"/grid/1/0" = { const = "b" }
"/copied/0" = { from = "/list" }
"#,
    )
    .compile();
    let out = m
        .apply(&json!({"gat": "H1234567", "dh": "01062751234", "list": [null, 1]}))
        .unwrap();
    assert_eq!(
        out,
        json!({
            "others": [{"type": "hk_macao_permit", "number": "H1234567"}],
            "phones": ["01062751234"],
            "grid": [["b"]],
            // A value copied from the native record keeps its nulls.
            "copied": [[null, 1]],
        })
    );
}

#[test]
fn array_index_above_the_limit_is_refused() {
    let m = mapping(r#""/phones/100000000" = { from = "/dh" }"#).compile();
    let err = m.apply(&json!({"dh": "1"})).unwrap_err();
    assert_eq!(
        where_failed(&err),
        vec![("/phones/100000000", "/dh", "index")]
    );
}

#[test]
fn when_equals_in_and_present_select_the_rule() {
    let m = mapping(
        r#"
"/id/resident" = { from = "/zjhm", normalize = "resident_id", when = { field = "/zjlx", equals = "01" } }
"/id/other/number" = { from = "/zjhm", when = { field = "/zjlx", in = ["02", 3] } }
"/id/other/type" = { from = "/zjlx", codes = { "02" = "passport", "3" = "taiwan_permit" }, when = { field = "/zjlx", in = ["02", "3"] } }
"/email" = { from = "/yx", when = { field = "/yx", present = true } }
"/no_email" = { const = true, when = { field = "/yx", present = false } }
"/full_name" = { concat = ["/xing", "/ming"], when = { field = "/gj", equals = 156 } }
"#,
    )
    .compile();
    let resident = m
        .apply(
            &json!({"zjlx": "01", "zjhm": "11010519491231002X", "yx": " ",
                        "gj": "156", "xing": "王", "ming": "五"}),
        )
        .unwrap();
    assert_eq!(
        resident,
        json!({"id": {"resident": "11010519491231002X"}, "no_email": true, "full_name": "王五"})
    );
    // A number equals its text; rules whose condition fails are skipped without a
    // violation even though their fields are missing.
    let foreign = m
        .apply(&json!({"zjlx": 3, "zjhm": "T1234567", "yx": "a@b.cn"}))
        .unwrap();
    assert_eq!(
        foreign,
        json!({"id": {"other": {"number": "T1234567", "type": "taiwan_permit"}}, "email": "a@b.cn"})
    );
    // No type at all: only the `present = false` rule applies.
    assert_eq!(m.apply(&json!({})).unwrap(), json!({"no_email": true}));
}

#[test]
fn when_a_condition_holds_the_rule_still_reports_failures() {
    let m = mapping(
        r#""/id" = { from = "/zjhm", normalize = "resident_id", when = { field = "/zjlx", equals = "01" } }"#,
    )
    .compile();
    let err = m.apply(&json!({"zjlx": " 01 "})).unwrap_err();
    assert_eq!(where_failed(&err), vec![("/id", "/zjhm", "missing")]);
}

#[test]
fn on_invalid_keeps_the_record_and_quarantines_the_value() {
    let m = mapping(
        r#"
"/person/identifiers/resident_id" = { from = "/zjhm", normalize = "resident_id", on_invalid = "/person/identifiers/resident_id_unverified" }
"/person/name" = { from = "/xm" }
"#,
    )
    .compile();
    let good = m
        .apply(&json!({"zjhm": "110105491231002", "xm": "张三"}))
        .unwrap();
    assert_eq!(
        good,
        json!({"person": {"identifiers": {"resident_id": "11010519491231002X"}, "name": "张三"}})
    );
    // A transposition: the check character no longer matches. The value is kept tidied
    // as a resident ID is (width folded, spaces and dashes out, `X` upper case).
    let bad = m
        .apply(&json!({"zjhm": " １１０１０５ 1949-１２３１００２０x ", "xm": "张三"}))
        .unwrap();
    assert_eq!(
        bad,
        json!({"person": {
            "identifiers": {"resident_id_unverified": "110105194912310020X"},
            "name": "张三",
        }})
    );
    let numeric = m
        .apply(&json!({"zjhm": 110105194912310012_u64, "xm": "张三"}))
        .unwrap();
    assert_eq!(
        numeric["person"]["identifiers"],
        json!({"resident_id_unverified": "110105194912310012"})
    );
    // A value of another type is still a violation.
    let err = m.apply(&json!({"zjhm": ["x"], "xm": "张三"})).unwrap_err();
    assert_eq!(
        where_failed(&err),
        vec![("/person/identifiers/resident_id", "/zjhm", "normalize")]
    );
}

#[test]
fn apply_partial_keeps_what_succeeded_and_names_what_failed() {
    let m = mapping(RULES).compile();
    let mut native = native();
    native["hz"]["csrq"] = json!("19490230");
    native["lx"] = json!("09");
    let Applied {
        record: partial,
        violations,
        ..
    } = m.apply_partial(&native);
    assert_eq!(
        CompiledMapping::failed_targets(&violations),
        BTreeSet::from(["/patient/birth_date", "/type"])
    );
    assert_eq!(partial["patient"]["name"], json!("陈伟"));
    assert_eq!(partial["patient"].get("birth_date"), None);
    assert_eq!(partial.get("type"), None);
    assert_eq!(partial["cost"], json!(128.5));
    assert_eq!(m.apply(&native).unwrap_err(), violations);

    let Applied {
        record: whole,
        violations: none,
        ..
    } = m.apply_partial(&super::tests::native());
    assert!(none.is_empty());
    assert!(CompiledMapping::failed_targets(&none).is_empty());
    assert_eq!(Ok(whole), m.apply(&super::tests::native()));
}

#[test]
fn sources_lists_every_native_field_read() {
    let m = mapping(
        r#"
"/a" = { from = "/x" }
"/b" = { concat = ["/xing", "/ming"], when = { field = "/lx", equals = "1" } }
"/c" = { const = 1, when = { field = "/x", present = true } }
"/d" = { from = "/zjhm", normalize = "resident_id", on_invalid = "/e" }
"#,
    );
    assert_eq!(
        m.sources(),
        BTreeSet::from(["/lx", "/ming", "/x", "/xing", "/zjhm"].map(String::from))
    );
}

#[test]
fn problems_accept_the_new_settings_used_well() {
    assert_eq!(
        problems_of(
            r#"
"/person/name" = { concat = ["/xing", "/ming"], separator = " ", when = { field = "/lx", in = ["1", 2] } }
"/person/sex" = { from = "/zjhm", derive = "sex" }
"/person/birth_date" = { from = "/zjhm", normalize = "resident_id", derive = "birth_date" }
"/person/division_code" = { from = "/dz", slice = [0, 6] }
"/person/identifiers/resident_id" = { from = "/zjhm", normalize = "resident_id", on_invalid = "/person/identifiers/resident_id_unverified" }
"/person/identifiers/others/0/type" = { const = "passport", when = { field = "/hz", present = true } }
"/person/identifiers/others/0/number" = { from = "/hz", slice = [2] }
"/person/identifiers/others/-" = { from = "/doc", when = { field = "/doc", present = true } }
"/person/phones/-" = { from = "/dh" }
"#
        ),
        Vec::<String>::new()
    );
}

#[test]
fn problems_with_array_targets() {
    assert_eq!(
        problems_of(
            r#"
"/person/identifiers/others/0/nmuber" = { from = "/a" }
"/person/identifiers/0" = { from = "/b" }
"/person/phones/256" = { from = "/c" }
"/person/name/0" = { from = "/d" }
"#
        ),
        vec![
            r#"["/person/identifiers/0"]: the canonical record has no such field"#,
            r#"["/person/identifiers/others/0/nmuber"]: the canonical record has no such field"#,
            r#"["/person/name/0"]: the canonical record has no such field"#,
            r#"["/person/phones/256"]: array index 256 is above the limit of 255"#,
        ]
    );
}

#[test]
fn problems_with_concat() {
    assert_eq!(
        problems_of(
            r#"
"/person/name" = { from = "/xm", concat = ["/xing", "/ming"] }
"/person/sex" = { concat = [] }
"/person/birth_date" = { concat = ["/a", "b"], const = "x" }
"/person/division_code" = { from = "/dz", separator = "-" }
"/person/phones/0" = { }
"#
        ),
        vec![
            r#"["/person/birth_date"].concat: set either `concat` or `const`, not both"#,
            r#"["/person/birth_date"].concat[1]: must be a JSON pointer starting with "/""#,
            r#"["/person/division_code"].separator: only applies with `concat`"#,
            r#"["/person/name"].concat: set either `from` or `concat`, not both"#,
            r#"["/person/phones/0"]: set `from` (a native field), `concat` (several) or `const`"#,
            r#"["/person/sex"].concat: lists no native fields"#,
        ]
    );
}

#[test]
fn problems_with_slice() {
    assert_eq!(
        problems_of(
            r#"
"/person/name" = { from = "/a", slice = [4, 2] }
"/person/sex" = { from = "/b", slice = [0, 1, 2] }
"/person/birth_date" = { from = "/c", slice = [] }
"/person/division_code" = { from = "/d", slice = [3, 3] }
"#
        ),
        vec![
            r#"["/person/birth_date"].slice: set `[start]` or `[start, end]`"#,
            r#"["/person/division_code"].slice: start 3 is not before end 3"#,
            r#"["/person/name"].slice: start 4 is not before end 2"#,
            r#"["/person/sex"].slice: takes at most 2 numbers, `[start, end]`"#,
        ]
    );
    let negative = toml::from_str::<Mapping>(r#""/a" = { from = "/a", slice = [-1] }"#);
    assert!(negative.is_err());
}

#[test]
fn problems_with_derive() {
    let err = toml::from_str::<Mapping>(r#""/a" = { from = "/a", derive = "age" }"#).unwrap_err();
    assert!(err.to_string().contains("age"), "{err}");
    assert_eq!(
        problems_of(r#""/person/sex" = { from = "/a", normalize = "mobile", derive = "sex" }"#),
        vec![
            r#"["/person/sex"].derive: reads a resident ID, but `normalize` expects a mainland mobile number"#
        ]
    );
}

#[test]
fn problems_with_when() {
    assert_eq!(
        problems_of(
            r#"
"/person/name" = { from = "/a", when = { field = "lx", equals = "1" } }
"/person/sex" = { from = "/b", when = { field = "/lx" } }
"/person/birth_date" = { from = "/c", when = { field = "/lx", equals = "1", present = true } }
"/person/division_code" = { from = "/d", when = { field = "/lx", in = [] } }
"/person/phones/0" = { from = "/e", when = { field = "/lx", equals = [1] } }
"/person/phones/1" = { from = "/f", when = { field = "/lx", in = ["1", { a = 1 }] } }
"#
        ),
        vec![
            r#"["/person/birth_date"].when: set exactly one of `equals`, `in` and `present`"#,
            r#"["/person/division_code"].when.in: lists no values"#,
            r#"["/person/name"].when.field: must be a JSON pointer starting with "/""#,
            r#"["/person/phones/0"].when.equals: compares text, numbers and booleans only"#,
            r#"["/person/phones/1"].when.in: compares text, numbers and booleans only"#,
            r#"["/person/sex"].when: set exactly one of `equals`, `in` and `present`"#,
        ]
    );
    let err = toml::from_str::<Mapping>(
        r#""/a" = { from = "/a", when = { field = "/b", equal = "1" } }"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("equal"), "{err}");
}

#[test]
fn problems_with_on_invalid() {
    assert_eq!(
        problems_of(
            r#"
"/person/name" = { from = "/a", on_invalid = "/person/identifiers/resident_id_unverified" }
"/person/identifiers/resident_id" = { from = "/b", normalize = "resident_id", on_invalid = "/person/identifiers/resident_id_unverfied" }
"/person/sex" = { from = "/c", normalize = "resident_id", on_invalid = "person/x" }
"/person/birth_date" = { from = "/d", normalize = "resident_id", on_invalid = "/person/birth_date" }
"/person/division_code" = { const = "110105", on_invalid = "/person/name" }
"#
        ),
        vec![
            r#"["/person/birth_date"].on_invalid: must name another field than the rule's own"#,
            r#"["/person/division_code"]: `const` takes no other settings but `when`"#,
            r#"["/person/division_code"].on_invalid: only applies with `normalize`"#,
            r#"["/person/identifiers/resident_id"].on_invalid: the canonical record has no such field"#,
            r#"["/person/name"].on_invalid: only applies with `normalize`"#,
            r#"["/person/sex"].on_invalid: must be a JSON pointer starting with "/""#,
        ]
    );
}
