//! The community resident registry over a real socket: pagination, bearer
//! authentication, the shape of its items, determinism, ground truth and the share of
//! mistyped resident IDs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use govhub_schema::formats::resident_id;
use govhub_sim::noise::{IdNoise, NameNoise};
use govhub_sim::population::Population;
use govhub_sim::registry::{
    DEFAULT_PAGE_SIZE, DocumentType, MAX_PAGE_SIZE, RESIDENTS_PATH, RegistryItem, RegistryQuirks,
    RegistrySim,
};
use govhub_sim::{Department, Departments, Faults, Noise, Ports, serve};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
const TOKEN: &str = "demo-community-token";

async fn get_page(client: &Client, url: &str, page: u64, size: u64) -> (StatusCode, Value) {
    let response = client
        .get(url)
        .bearer_auth(TOKEN)
        .query(&[("pageNo", page), ("pageSize", size)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Every item the API lists, page by page with `size` items a page.
async fn drain(url: &str, size: u64) -> (Vec<Value>, u64) {
    let client = Client::new();
    let mut items = Vec::new();
    let mut total = None;
    for page in 1.. {
        let (status, body) = get_page(&client, url, page, size).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ok");
        let page_total = body["result"]["total"].as_u64().unwrap();
        assert_eq!(*total.get_or_insert(page_total), page_total);
        let list = body["result"]["items"].as_array().unwrap();
        assert!(list.len() as u64 <= size);
        items.extend(list.iter().cloned());
        if (list.len() as u64) < size {
            break;
        }
    }
    (items, total.unwrap_or(0))
}

/// The 1-based MOD 11-2 check of GB 11643, written out here on its own rather than
/// taken from the code under test.
fn passes_mod_11_2(id: &str) -> bool {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() != 18 {
        return false;
    }
    let mut sum = 0;
    for (i, c) in chars[..17].iter().enumerate() {
        let Some(d) = c.to_digit(10) else {
            return false;
        };
        sum += d * ((1u32 << (17 - i)) % 11);
    }
    let expected = (12 - sum % 11) % 11;
    let given = match chars[17] {
        'X' | 'x' => 10,
        c => match c.to_digit(10) {
            Some(d) => d,
            None => return false,
        },
    };
    given == expected
}

#[test]
fn the_independent_check_agrees_with_real_ids() {
    let population = Population::new(1, 300);
    for i in 0..300 {
        assert!(passes_mod_11_2(&population.resident(i).resident_id));
    }
    // The worked example of GB 11643.
    assert!(passes_mod_11_2("11010519491231002X"));
    assert!(!passes_mod_11_2("110105194912310021"));
}

#[tokio::test]
async fn pages_cover_every_item_exactly_once() {
    let sim = RegistrySim::new(Population::new(1, 2000));
    let server = serve(sim.clone().router(), LOOPBACK).await.unwrap();
    let url = server.url(RESIDENTS_PATH);
    let expected: Vec<Value> = sim.items().map(|i| i.record.value).collect();
    assert_eq!(expected.len(), 1200);

    for size in [37, 500, 1] {
        let (items, total) = drain(&url, size).await;
        assert_eq!(total, 1200);
        assert_eq!(items, expected, "page size {size}");
    }
    let ids: BTreeSet<&str> = expected
        .iter()
        .map(|i| i["rkbh"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), expected.len(), "rkbh is unique");

    // Defaults: page 1 of 50.
    let client = Client::new();
    let response = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["result"]["items"].as_array().unwrap().len() as u64,
        DEFAULT_PAGE_SIZE
    );
    assert_eq!(body["result"]["items"][0], expected[0]);
    // Past the end: an empty page with the total.
    let (status, body) = get_page(&client, &url, 1000, 50).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["total"], 1200);
    assert_eq!(body["result"]["items"], Value::Array(Vec::new()));

    // Bad parameters get the error envelope.
    for query in [
        vec![("pageNo", "0")],
        vec![("pageNo", "x")],
        vec![("pageSize", "0")],
        vec![("pageSize", &*(MAX_PAGE_SIZE + 1).to_string())],
    ] {
        let response = client
            .get(&url)
            .bearer_auth(TOKEN)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "error");
        assert!(body["reason"].as_str().unwrap().contains("page"), "{body}");
    }
}

#[tokio::test]
async fn without_the_bearer_token_the_answer_is_401() {
    let sim = RegistrySim::new(Population::new(1, 100));
    let server = serve(sim.router(), LOOPBACK).await.unwrap();
    let url = server.url(RESIDENTS_PATH);
    let client = Client::new();

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"community\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["reason"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );

    for request in [
        client.get(&url).bearer_auth("not-the-token"),
        client.get(&url).basic_auth(TOKEN, None::<&str>),
        client.get(&url).header("X-API-Key", TOKEN),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        // The reason never repeats what the caller sent.
        assert!(!body.to_string().contains("not-the-token"), "{body}");
    }
    let response = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn digits(text: &str, n: usize) -> bool {
    text.len() == n && text.bytes().all(|b| b.is_ascii_digit())
}

/// Share of `count` in `of`, in percent.
fn percent(count: usize, of: usize) -> f64 {
    count as f64 * 100.0 / of as f64
}

#[test]
fn items_have_the_native_shape() {
    let sim = RegistrySim::new(Population::new(4, 20_000));
    let items: Vec<RegistryItem> = sim.items().collect();
    assert_eq!(items.len(), 12_000);
    let mut documents = BTreeMap::new();
    let (mut no_sex, mut no_division, mut no_phone) = (0, 0, 0);
    let (mut with_id, mut with_id_no_birth) = (0, 0);
    let mut compound = 0;
    for item in &items {
        let v = item.record.value.as_object().unwrap();
        let resident = sim.population.resident(item.resident_index());
        for field in ["rkbh", "ming", "jzdz", "yzbm", "gxsj"] {
            assert!(v[field].is_string(), "{field} in {v:?}");
        }
        assert!(v.values().all(|x| x.is_string()), "absent, never null");
        assert!(!v.contains_key("xm"));
        let rkbh = v["rkbh"].as_str().unwrap();
        assert!(rkbh.starts_with("RK") && digits(&rkbh[2..], 10), "{rkbh}");
        assert_eq!(item.record.id, rkbh);

        // Surname and given name apart; compound surnames whole; a transliterated
        // name all in `ming`.
        let ming = v["ming"].as_str().unwrap();
        match v.get("xing").and_then(Value::as_str) {
            None => assert!(resident.name.contains('·') && ming.contains('·'), "{ming}"),
            Some(xing) => {
                // `ming` is empty only for a name recorded as its surname alone.
                let truncated = item.noise().name == Some(NameNoise::Truncated);
                assert!(!xing.is_empty() && ming.is_empty() == truncated);
                if ["欧阳", "司马", "诸葛", "上官", "东方", "皇甫"]
                    .iter()
                    .any(|s| resident.name.starts_with(s))
                {
                    assert_eq!(xing.chars().count(), 2, "{xing}{ming}");
                    compound += 1;
                } else {
                    assert_eq!(xing.chars().count(), 1, "{xing}{ming}");
                }
            }
        }

        match v.get("xbdm").and_then(Value::as_str) {
            Some(code) => assert_eq!(code, resident.sex.gb_code()),
            None => no_sex += 1,
        }
        if let Some(csrq) = v.get("csrq").and_then(Value::as_str) {
            assert!(digits(csrq, 8), "{csrq}");
            assert!(NaiveDate::parse_from_str(csrq, "%Y%m%d").is_ok(), "{csrq}");
        }
        let zjlx = v.get("zjlx").and_then(Value::as_str);
        let zjhm = v.get("zjhm").and_then(Value::as_str);
        assert_eq!(zjlx.is_some(), zjhm.is_some());
        assert_eq!(zjlx, item.document.map(DocumentType::code));
        *documents.entry(zjlx.unwrap_or("-")).or_insert(0) += 1;
        match (zjlx, zjhm) {
            (Some("111"), Some(_)) => {
                with_id += 1;
                if !v.contains_key("csrq") {
                    with_id_no_birth += 1;
                }
            }
            (Some(_), Some(number)) => {
                assert!((6..=18).contains(&number.len()), "{number}");
                assert!(number.bytes().all(|b| b.is_ascii_alphanumeric()));
                assert!(number.bytes().any(|b| b.is_ascii_uppercase()));
                assert!(v.contains_key("csrq"), "no ID to carry the birth date");
                assert_eq!(item.noise().id, Some(IdNoise::Missing));
            }
            _ => assert!(v.contains_key("csrq")),
        }
        match v.get("sjhm").and_then(Value::as_str) {
            Some(phone) => assert_eq!(phone.chars().count(), 11),
            None => no_phone += 1,
        }
        assert!(digits(v["yzbm"].as_str().unwrap(), 6));
        match v.get("xzqh").and_then(Value::as_str) {
            Some(code) => assert!(digits(code, 6)),
            None => no_division += 1,
        }
        assert!(
            v["jzdz"]
                .as_str()
                .unwrap()
                .starts_with(sim.population.household(resident.household).place.name)
        );
        let gxsj = v["gxsj"].as_str().unwrap();
        let at = NaiveDateTime::parse_from_str(gxsj, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(at, item.record.updated_at.naive_local());
        assert!(at.date() > resident.birth_date);
        assert_eq!(
            (
                item.gaps.sex,
                item.gaps.birth_date,
                item.gaps.phone,
                item.gaps.division
            ),
            (
                !v.contains_key("xbdm"),
                !v.contains_key("csrq"),
                !v.contains_key("sjhm"),
                !v.contains_key("xzqh")
            )
        );
        assert_eq!(item.record.defect, None);
    }
    let n = items.len();
    assert!((4.0..6.0).contains(&percent(no_sex, n)), "{no_sex}");
    assert!(
        (18.0..22.0).contains(&percent(no_division, n)),
        "{no_division}"
    );
    assert!((6.5..9.5).contains(&percent(no_phone, n)), "{no_phone}");
    let birth = percent(with_id_no_birth, with_id);
    assert!((8.5..11.5).contains(&birth), "{birth}");
    assert!(compound > 50, "{compound}");
    // Almost everyone by resident ID card; a few passports and permits.
    assert!(percent(documents["111"], n) > 94.0, "{documents:?}");
    assert!(
        (0.6..1.4).contains(&percent(documents["414"], n)),
        "{documents:?}"
    );
    for code in ["516", "553"] {
        assert!(
            (0.2..0.8).contains(&percent(documents[code], n)),
            "{documents:?}"
        );
    }
    // Noise::missing_id: no document recorded at all.
    assert!(
        (2.0..4.0).contains(&percent(documents["-"], n)),
        "{documents:?}"
    );
}

#[tokio::test]
async fn the_same_seed_serves_the_same_items() {
    let a = RegistrySim::new(Population::new(9, 1500));
    let b = RegistrySim::new(Population::new(9, 1500));
    let server_a = serve(a.clone().router(), LOOPBACK).await.unwrap();
    let server_b = serve(b.clone().router(), LOOPBACK).await.unwrap();
    let (items_a, _) = drain(&server_a.url(RESIDENTS_PATH), 200).await;
    let (items_b, _) = drain(&server_b.url(RESIDENTS_PATH), 200).await;
    assert_eq!(items_a, items_b);
    assert_eq!(a.items().collect::<Vec<_>>(), b.items().collect::<Vec<_>>());
    assert_eq!(
        a.ground_truth().collect::<Vec<_>>(),
        b.ground_truth().collect::<Vec<_>>()
    );
    let other = RegistrySim::new(Population::new(10, 1500));
    assert_ne!(
        a.items().map(|i| i.record.value).collect::<Vec<_>>(),
        other.items().map(|i| i.record.value).collect::<Vec<_>>()
    );
    // The registry is static: the clock does not change it.
    let d = Departments::new(9, 1500);
    let before: Vec<_> = d.registry.items().collect();
    d.clock.advance(3);
    assert_eq!(d.registry.items().collect::<Vec<_>>(), before);
}

/// The full name an item carries: `xing` then `ming` (a transliterated name has no
/// `xing`).
fn full_name(item: &Value) -> String {
    let xing = item.get("xing").and_then(Value::as_str).unwrap_or_default();
    format!("{xing}{}", item["ming"].as_str().unwrap())
}

#[test]
fn ground_truth_points_at_the_residents_the_items_describe() {
    let d = Departments::new(11, 5000);
    let sim = &d.registry;
    let truth: Vec<_> = d.registry_ground_truth().collect();
    assert_eq!(truth.len(), 3000);
    let residents: BTreeSet<u64> = truth.iter().map(|(_, _, i)| *i).collect();
    assert_eq!(residents.len(), 3000, "one item per resident");
    assert!(residents.iter().all(|i| *i < 5000));
    let mut by_name = 0;
    let mut by_birth = 0;
    for (item, (department, id, index)) in sim.items().zip(&truth) {
        assert_eq!(*department, Department::Registry);
        assert_eq!(&item.record.id, id);
        assert_eq!(item.resident_index(), *index);
        let resident = d.population.resident(*index);
        let v = &item.record.value;
        let noise = item.noise();

        let name = full_name(v);
        assert!(
            noise.explains_name(&name, &resident.name),
            "{name}: {noise:?}"
        );
        if noise.name.is_none() {
            by_name += 1;
        }

        // The birth date: `csrq`, or the resident ID's when `csrq` is left out.
        let birth = match v.get("csrq") {
            Some(csrq) => NaiveDate::parse_from_str(csrq.as_str().unwrap(), "%Y%m%d").ok(),
            None => v["zjhm"]
                .as_str()
                .and_then(resident_id::normalize)
                .and_then(|id| resident_id::birth_date(&id)),
        };
        if noise.birth_date_swapped {
            let b = birth.unwrap();
            assert_eq!(
                (b.month(), b.day()),
                (resident.birth_date.day(), resident.birth_date.month())
            );
        } else if noise.birth_day_changed {
            let b = birth.unwrap();
            assert_eq!(
                (b.year(), b.month()),
                (resident.birth_date.year(), resident.birth_date.month())
            );
        } else if v.get("csrq").is_some() || noise.id_recoverable() {
            assert_eq!(birth, Some(resident.birth_date));
            by_birth += 1;
        }

        // The resident ID, where the item has one.
        if item.document == Some(DocumentType::ResidentIdCard) {
            let normalized = v["zjhm"].as_str().and_then(resident_id::normalize);
            if noise.id_recoverable() {
                assert_eq!(normalized.as_deref(), Some(resident.resident_id.as_str()));
            } else {
                assert_eq!(normalized, None);
            }
        }
    }
    assert!(by_name > 2700 && by_birth > 2800, "{by_name} {by_birth}");

    // The registry's people are the other departments' people too.
    let others: BTreeSet<u64> = d.ground_truth().map(|(_, _, i)| i).collect();
    let shared = residents.intersection(&others).count();
    assert!(shared > 2000, "{shared}");
}

#[test]
fn mistyped_ids_are_as_many_as_the_quirks_say_and_fail_the_check() {
    let sim = RegistrySim::new(Population::new(21, 40_000));
    let rate = sim.quirks.mistyped_id;
    assert_eq!(rate, 0.01);
    let mut cards = 0;
    let mut mistyped = 0;
    let mut transposed = 0;
    let mut failing = 0;
    for item in sim.items() {
        let v = &item.record.value;
        if v.get("zjlx").and_then(Value::as_str) != Some("111") {
            assert_ne!(item.noise().id, Some(IdNoise::Mistyped));
            continue;
        }
        cards += 1;
        let zjhm = v["zjhm"].as_str().unwrap();
        let real = sim.population.resident(item.resident_index()).resident_id;
        match item.noise().id {
            Some(IdNoise::Mistyped) => {
                mistyped += 1;
                assert!(!passes_mod_11_2(zjhm), "a typo must fail MOD 11-2");
                assert!(!resident_id::is_valid(zjhm));
                assert_eq!(zjhm.len(), 18);
                let differing = zjhm.chars().zip(real.chars()).filter(|(a, b)| a != b);
                assert_eq!(differing.count(), 1, "one character typed wrong");
            }
            Some(IdNoise::Transposed) => {
                transposed += 1;
                assert!(!passes_mod_11_2(zjhm));
            }
            None => assert!(passes_mod_11_2(zjhm) && zjhm == real),
            _ => {}
        }
        let ascii = normalize_width(zjhm);
        if ascii.len() == 18 && !passes_mod_11_2(&ascii) {
            failing += 1;
        }
    }
    // 1% of about 23,300 resident ID numbers: 233 expected, a binomial's sd about 15.
    let expected = rate * cards as f64;
    assert!(
        (mistyped as f64 - expected).abs() < 4.0 * expected.sqrt(),
        "{mistyped} of {cards}, expected about {expected:.0}"
    );
    // What fails the check is the typos and the transpositions, nothing else.
    assert_eq!(failing, mistyped + transposed);
    assert!(transposed > 0);
}

/// Full-width digits as ASCII, as govhub normalizes them.
fn normalize_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' | 'Ｘ' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

#[test]
fn without_quirks_the_mistyped_share_is_zero_and_the_rate_is_followed() {
    let base = RegistrySim {
        noise: Noise::NONE,
        ..RegistrySim::new(Population::new(2, 10_000))
    };
    let count = |sim: &RegistrySim| {
        sim.items()
            .filter(|i| i.noise().id == Some(IdNoise::Mistyped))
            .count()
    };
    let none = RegistrySim {
        quirks: RegistryQuirks {
            mistyped_id: 0.0,
            ..RegistryQuirks::default()
        },
        ..base.clone()
    };
    assert_eq!(count(&none), 0);
    let many = RegistrySim {
        quirks: RegistryQuirks {
            mistyped_id: 0.1,
            ..RegistryQuirks::default()
        },
        ..base
    };
    let share = percent(count(&many), many.len() as usize);
    // 10% of the 98% registered by resident ID card.
    assert!((8.8..10.8).contains(&share), "{share}");
}

#[tokio::test]
async fn departments_start_the_registry_beside_the_four_and_keep_their_figures() {
    let d = Departments::new(3, 1000);
    let four: Vec<_> = d.ground_truth().collect();
    assert!(four.iter().all(|(dep, _, _)| *dep != Department::Registry));
    assert_eq!(Department::ALL.len(), 4);
    assert!(!Department::ALL.contains(&Department::Registry));
    assert_eq!(Department::Registry.as_str(), "community");
    let registry: Vec<_> = d.registry_ground_truth().collect();
    assert_eq!(registry.len(), 600);

    let running = d.start(Ports::default()).await.unwrap();
    assert_eq!(running.all().len(), 4);
    assert!(running.registry.url.ends_with(RESIDENTS_PATH));
    assert_eq!(running.registry.credentials.token, TOKEN);
    let (items, total) = drain(&running.registry.url, 500).await;
    assert_eq!(total, 600);
    let ids: Vec<&str> = items.iter().map(|i| i["rkbh"].as_str().unwrap()).collect();
    let truth_ids: Vec<&str> = registry.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, truth_ids);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_fail_pages_a_bounded_number_of_times_and_mark_invalid_items() {
    let sim = RegistrySim {
        faults: Faults {
            server_error_rate: 1.0,
            max_failures_per_page: 2,
            ..Faults::default()
        },
        ..RegistrySim::new(Population::new(5, 200))
    };
    let server = serve(sim.router(), LOOPBACK).await.unwrap();
    let url = server.url(RESIDENTS_PATH);
    let client = Client::new();
    for _ in 0..2 {
        let response = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert!(response.status().is_server_error());
    }
    let (status, body) = get_page(&client, &url, 1, 50).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let invalid = RegistrySim {
        faults: Faults {
            invalid_rate: 0.2,
            ..Faults::default()
        },
        ..RegistrySim::new(Population::new(5, 4000))
    };
    let mut defects = BTreeMap::new();
    for item in invalid.items() {
        if let Some(defect) = item.record.defect {
            *defects.entry(defect).or_insert(0) += 1;
            let v = &item.record.value;
            match defect {
                "bad_division_code" => assert_eq!(v["xzqh"], "990101"),
                "impossible_birth_date" => {
                    assert!(v["csrq"].as_str().unwrap().ends_with("0230"))
                }
                "bad_postal_code" => assert_eq!(v["yzbm"].as_str().unwrap().len(), 5),
                _ => assert_eq!(v["zjlx"], "999"),
            }
        }
    }
    let total: usize = defects.values().sum();
    assert!((400..560).contains(&total), "{total}");
    assert_eq!(defects.len(), 4, "{defects:?}");
}

#[test]
fn the_last_item_of_five_million_residents_is_generated_alone() {
    // Building the population looks at every resident's ID once (to make them unique);
    // after that, nothing is proportional to the population.
    let sim = RegistrySim::new(Population::new(1, 5_000_000));
    let started = std::time::Instant::now();
    assert_eq!(sim.len(), 3_000_000);
    let last = sim.item(sim.len() - 1);
    assert_eq!(last.record.id, "RK0003000000");
    assert!(last.resident_index() < 5_000_000);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}: something is proportional to the population",
        started.elapsed()
    );
}
