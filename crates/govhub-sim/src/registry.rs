//! The community resident registry (社区人口信息库): the plain list of residents a
//! community (社区) keeps in a small system of its own, as a new department's IT team
//! would connect it to govhub with config alone.
//!
//! `GET /api/registry/residents?pageNo=N&pageSize=M` with `Authorization: Bearer <token>`
//! pages through residents by page number (from 1; `pageSize` is 50 when absent, at
//! most 500). Envelope: `{"status": "ok", "result": {"total": N, "items": [...]}}`;
//! errors carry a 4xx/5xx status and `{"status": "error", "reason": "..."}` (401 and
//! `WWW-Authenticate: Bearer` without the right token).
//!
//! An item, its fields named by pinyin initials; a field not recorded is absent (never
//! `null`):
//!
//! | field | meaning |
//! |---|---|
//! | `rkbh` | 人口编号, population number `RK` + 10 digits: the record id |
//! | `xing`, `ming` | 姓 and 名 apart; a compound surname (欧阳) stays whole in `xing`; a transliterated minority name (`given·family`, no surname in the Han sense) is whole in `ming` and `xing` is left out; `ming` is empty for a name recorded as the surname alone ([`NameNoise::Truncated`](crate::noise::NameNoise::Truncated)) |
//! | `xbdm` | 性别代码 (GB/T 2261.1): `1` male, `2` female; absent for about 5% |
//! | `csrq` | 出生日期 `19850312`; absent for about 10% of items with a resident ID number (it carries the date) |
//! | `zjlx` | 证件类型 (GA/T 517): `111` resident ID card; about 1% `414` ordinary passport, 0.5% `516` Hong Kong/Macao permit, 0.5% `553` foreign permanent residence ID card; absent, with `zjhm`, when no document was recorded |
//! | `zjhm` | 证件号码: the resident ID for `111`; 9 to 15 letters and digits for the others |
//! | `sjhm` | 手机号码, mobile; absent for about 8% |
//! | `jzdz` | 居住地址, the household's address |
//! | `yzbm` | 邮政编码, 6-digit postal code of the district |
//! | `xzqh` | 行政区划代码, 6-digit division code; absent for about 20% |
//! | `gxsj` | 更新时间, last update `2023-04-18 10:12:45` China time |
//!
//! The registry holds a share ([`RegistrySim::coverage`]) of the same population the
//! other departments serve, so its residents link to their records. It is static: the
//! clock does not change it. People carry the usual [`Noise`]; on top of it
//! [`RegistryQuirks`] says which fields are left out, who is registered with another
//! document than the resident ID card, and how often a resident ID has one character
//! typed wrong ([`IdNoise::Mistyped`]: the GB 11643 check character then fails).
//! [`RegistryItem`] records all of it per item.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::{BearerCredentials, bearer_ok};
use crate::faults::{self, FaultState, Faults};
use crate::noise::{IdNoise, Noise, PersonNoise, mistype};
use crate::perm::Permutation;
use crate::population::{Population, names};
use crate::record::{Department, PersonRef, SimRecord, compact_date};
use crate::rng::{SplitMix64, hash, unit};
use crate::timeline::CST;

/// Path of the residents endpoint.
pub const RESIDENTS_PATH: &str = "/api/registry/residents";
/// Largest `pageSize` allowed.
pub const MAX_PAGE_SIZE: u64 = 500;
/// `pageSize` when the request has none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// Domain tag of the registry's hashes.
const TAG: u64 = 0x0043_4F4D_4D55;

/// Hash tags of the per-item decisions, so each rolls independently.
const TAG_ORDER: u64 = 1;
const TAG_DOCUMENT: u64 = 2;
const TAG_NOISE: u64 = 3;
const TAG_MISTYPE: u64 = 4;
const TAG_GAPS: u64 = 5;
const TAG_NUMBER: u64 = 6;
const TAG_UPDATED: u64 = 7;

const DEFECTS: &[&str] = &[
    "bad_division_code",
    "impossible_birth_date",
    "bad_postal_code",
    "unknown_document_type",
];

/// Postal codes of the districts of [`crate::population::PLACES`] (one per district;
/// real districts have several).
const POSTAL_CODES: &[(&str, &str)] = &[
    ("110105", "100020"),
    ("110108", "100080"),
    ("310115", "200120"),
    ("310104", "200030"),
    ("440106", "510630"),
    ("440305", "518052"),
    ("510107", "610041"),
    ("330106", "310012"),
    ("420111", "430070"),
    ("320102", "210018"),
    ("370102", "250014"),
    ("610113", "710061"),
    ("500103", "400010"),
    ("650102", "830000"),
    ("530102", "650031"),
    ("130102", "050011"),
];

/// Nationalities (ISO 3166-1 alpha-3) on foreign permanent residence ID numbers.
const NATIONALITIES: &[&str] = &[
    "USA", "CAN", "GBR", "AUS", "DEU", "FRA", "JPN", "KOR", "SGP",
];

/// A document a resident is registered with (证件类型, GA/T 517).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    /// `111` 居民身份证: the number is the resident ID.
    ResidentIdCard,
    /// `414` 普通护照: `E` and 8 digits, or `E`, a letter and 7 digits.
    Passport,
    /// `516` 港澳居民来往内地通行证: `H` (Hong Kong) or `M` (Macao) and 8 or 10 digits.
    HkMacaoPermit,
    /// `553` 外国人永久居留身份证: nationality (3 letters) and 12 digits.
    ForeignPermanentResidence,
}

impl DocumentType {
    /// The GA/T 517 code.
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::ResidentIdCard => "111",
            DocumentType::Passport => "414",
            DocumentType::HkMacaoPermit => "516",
            DocumentType::ForeignPermanentResidence => "553",
        }
    }
}

/// What the registry does besides [`Noise`]: rates (0 to 1) of fields left out, of
/// other documents than the resident ID card, and of mistyped resident IDs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegistryQuirks {
    /// Items without `xbdm`.
    pub missing_sex: f64,
    /// Items with a resident ID number that have no `csrq`.
    pub missing_birth_date: f64,
    /// Items without `sjhm`.
    pub missing_phone: f64,
    /// Items without `xzqh`.
    pub missing_division: f64,
    /// Resident ID numbers (`zjlx` `111`) with one character typed wrong
    /// ([`IdNoise::Mistyped`]); replaces whatever [`Noise`] did to the ID.
    pub mistyped_id: f64,
    /// Residents registered with an ordinary passport (`414`).
    pub passport: f64,
    /// Residents registered with a Hong Kong/Macao permit (`516`).
    pub hk_macao_permit: f64,
    /// Residents registered with a foreign permanent residence ID card (`553`).
    pub foreign_permanent_residence: f64,
}

impl Default for RegistryQuirks {
    fn default() -> RegistryQuirks {
        RegistryQuirks {
            missing_sex: 0.05,
            missing_birth_date: 0.10,
            missing_phone: 0.08,
            missing_division: 0.20,
            mistyped_id: 0.01,
            passport: 0.01,
            hk_macao_permit: 0.005,
            foreign_permanent_residence: 0.005,
        }
    }
}

impl RegistryQuirks {
    /// Every field recorded, everyone with their resident ID card, no typing errors.
    pub const NONE: RegistryQuirks = RegistryQuirks {
        missing_sex: 0.0,
        missing_birth_date: 0.0,
        missing_phone: 0.0,
        missing_division: 0.0,
        mistyped_id: 0.0,
        passport: 0.0,
        hk_macao_permit: 0.0,
        foreign_permanent_residence: 0.0,
    };
}

/// The optional fields an item leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gaps {
    /// No `xbdm`.
    pub sex: bool,
    /// No `csrq`.
    pub birth_date: bool,
    /// No `sjhm`.
    pub phone: bool,
    /// No `xzqh`.
    pub division: bool,
}

/// One item as the registry serves it, with what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryItem {
    /// The item: id, value, its one person (pointer `""`) with the noise it carries,
    /// defect, `updated_at` (`gxsj`); `version` is always 0.
    pub record: SimRecord,
    /// The document recorded (`zjlx`); `None` when none was ([`IdNoise::Missing`]
    /// from [`Noise::missing_id`]). For another document than the resident ID card the
    /// person's ID noise is [`IdNoise::Missing`] too: no resident ID is recorded.
    pub document: Option<DocumentType>,
    /// The fields left out.
    pub gaps: Gaps,
}

impl RegistryItem {
    /// Ground truth: the resident the item is about.
    pub fn resident_index(&self) -> u64 {
        self.record.people.first().map_or(0, |p| p.resident_index)
    }

    /// The noise the item carries.
    pub fn noise(&self) -> PersonNoise {
        self.record
            .people
            .first()
            .map(|p| p.noise)
            .unwrap_or_default()
    }
}

/// The simulated registry.
#[derive(Debug, Clone)]
pub struct RegistrySim {
    /// The population residents come from.
    pub population: Population,
    /// Share of the population registered.
    pub coverage: f64,
    /// Noise in residents' data.
    pub noise: Noise,
    /// Left-out fields, other documents, mistyped IDs.
    pub quirks: RegistryQuirks,
    /// Fault injection (`duplicate_rate` repeats the previous page's last item first,
    /// as the student registry does).
    pub faults: Faults,
    /// The token callers must send.
    pub credentials: BearerCredentials,
}

/// `(xing, ming)` of `recorded`, the name as recorded, split where the resident's real
/// `name` splits (name noise changes, adds or leaves out characters, never the
/// surname's number of them; a name cut to the surname has `ming` empty). A
/// transliterated name has no surname to split off: it is all `ming`, `xing` empty.
fn split_name(name: &str, recorded: &str) -> (String, String) {
    if recorded.contains('·') {
        return (String::new(), recorded.to_owned());
    }
    let at = names::surname_len(name);
    (
        recorded.chars().take(at).collect(),
        recorded.chars().skip(at).collect(),
    )
}

/// The number of a document other than the resident ID card.
fn document_number(
    document: DocumentType,
    birth_date: NaiveDate,
    division: &str,
    rng: &mut SplitMix64,
) -> String {
    match document {
        DocumentType::Passport if rng.chance(0.2) => {
            let letter = rng.pick(&['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H']);
            format!("E{letter}{:07}", rng.below(10_000_000))
        }
        DocumentType::Passport => format!("E{:08}", rng.below(100_000_000)),
        DocumentType::HkMacaoPermit => {
            let region = if rng.chance(0.85) { 'H' } else { 'M' };
            if rng.chance(0.5) {
                format!("{region}{:08}", rng.below(100_000_000))
            } else {
                format!("{region}{:010}", rng.below(10_000_000_000))
            }
        }
        // Nationality, issuing province, city, birth date, sequence.
        DocumentType::ForeignPermanentResidence | DocumentType::ResidentIdCard => format!(
            "{}{}{:02}{}{:02}",
            rng.pick(NATIONALITIES),
            division.get(..2).unwrap_or("11"),
            1 + rng.below(20),
            birth_date.format("%y%m%d"),
            rng.below(100),
        ),
    }
}

fn postal_code(division: &str) -> &'static str {
    POSTAL_CODES
        .iter()
        .find(|(code, _)| *code == division)
        .map_or("100000", |(_, postal)| postal)
}

/// A weekday-agnostic office-hours time between 2019 and the end of May 2024, and at
/// least a month after `birth_date`.
fn updated_at(birth_date: NaiveDate, rng: &mut SplitMix64) -> DateTime<FixedOffset> {
    let first = NaiveDate::from_ymd_opt(2019, 1, 2).unwrap_or_default();
    let last = NaiveDate::from_ymd_opt(2024, 5, 31).unwrap_or_default();
    let from = birth_date
        .checked_add_days(Days::new(30))
        .unwrap_or(first)
        .max(first)
        .min(last);
    let span = (last - from).num_days().max(0) as u64 + 1;
    let day = from + Days::new(rng.below(span));
    // 08:30 to 17:30.
    let secs = 8 * 3600 + 1800 + rng.below(9 * 3600) as u32;
    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or_default();
    CST.from_local_datetime(&day.and_time(time))
        .single()
        .unwrap_or_default()
}

impl RegistrySim {
    /// The registry over `population` with default coverage (0.6), noise and quirks, no
    /// faults and the demo token. Its typing errors in IDs are its quirk
    /// [`RegistryQuirks::mistyped_id`], so its default noise has no
    /// [`Noise::mistyped_id`] of its own.
    pub fn new(population: Population) -> RegistrySim {
        RegistrySim {
            population,
            coverage: 0.6,
            noise: Noise {
                mistyped_id: 0.0,
                ..Noise::default()
            },
            quirks: RegistryQuirks::default(),
            faults: Faults::default(),
            credentials: BearerCredentials::default(),
        }
    }

    fn key(&self) -> u64 {
        hash(&[self.population.seed, TAG])
    }

    fn roll(&self, parts: &[u64], rate: f64) -> bool {
        rate > 0.0 && unit(hash(&[&[self.key()], parts].concat())) < rate
    }

    /// Number of registered residents (items).
    pub fn len(&self) -> u64 {
        (self.population.size as f64 * self.coverage.clamp(0.0, 1.0)) as u64
    }

    /// Whether nobody is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ground truth: the resident item `k` is about (distinct for distinct items).
    pub fn resident_of(&self, k: u64) -> u64 {
        Permutation::new(self.population.size, hash(&[self.key(), TAG_ORDER])).apply(k)
    }

    /// The population number (`rkbh`) of item `k`.
    pub fn record_id(k: u64) -> String {
        format!("RK{:010}", k + 1)
    }

    /// `(department, rkbh, resident index)` of every item.
    pub fn ground_truth(&self) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        (0..self.len()).map(move |k| {
            (
                Department::Registry,
                RegistrySim::record_id(k),
                self.resident_of(k),
            )
        })
    }

    fn document(&self, k: u64) -> DocumentType {
        let q = &self.quirks;
        let u = unit(hash(&[self.key(), TAG_DOCUMENT, k]));
        let mut acc = 0.0;
        for (rate, document) in [
            (q.passport, DocumentType::Passport),
            (q.hk_macao_permit, DocumentType::HkMacaoPermit),
            (
                q.foreign_permanent_residence,
                DocumentType::ForeignPermanentResidence,
            ),
        ] {
            acc += rate;
            if u < acc {
                return document;
            }
        }
        DocumentType::ResidentIdCard
    }

    /// Item `k` (`k < len`; defined for any `k`).
    pub fn item(&self, k: u64) -> RegistryItem {
        let key = self.key();
        let q = &self.quirks;
        let index = self.resident_of(k);
        let resident = self.population.resident(index);
        let household = self.population.household(resident.household);
        let mut person = self.noise.apply(&resident, hash(&[key, TAG_NOISE, k]));
        let id = RegistrySim::record_id(k);

        let document = match self.document(k) {
            DocumentType::ResidentIdCard => {
                if self.roll(&[TAG_MISTYPE, k], q.mistyped_id) {
                    let mut rng = SplitMix64::new(hash(&[key, TAG_MISTYPE, k, 1]));
                    person.resident_id = Some(mistype(&resident.resident_id, &mut rng));
                    person.noise.id = Some(IdNoise::Mistyped);
                }
                person
                    .resident_id
                    .take()
                    .map(|number| (DocumentType::ResidentIdCard, number))
            }
            other => {
                // No resident ID is recorded for someone registered with another document.
                person.noise.id = Some(IdNoise::Missing);
                let mut rng = SplitMix64::new(hash(&[key, TAG_NUMBER, k]));
                let number =
                    document_number(other, resident.birth_date, household.place.code, &mut rng);
                Some((other, number))
            }
        };
        let has_resident_id = matches!(document, Some((DocumentType::ResidentIdCard, _)));
        let gaps = Gaps {
            sex: self.roll(&[TAG_GAPS, k, 0], q.missing_sex),
            birth_date: has_resident_id && self.roll(&[TAG_GAPS, k, 1], q.missing_birth_date),
            phone: self.roll(&[TAG_GAPS, k, 2], q.missing_phone),
            division: self.roll(&[TAG_GAPS, k, 3], q.missing_division),
        };
        // Noise in a field left out is noise the item does not carry.
        if gaps.birth_date {
            person.noise.birth_date_swapped = false;
            person.noise.birth_day_changed = false;
        }
        if gaps.phone {
            person.noise.phone = None;
        }

        let (xing, ming) = split_name(&resident.name, &person.name);
        let mut item = Map::new();
        item.insert("rkbh".into(), json!(id));
        if !xing.is_empty() {
            item.insert("xing".into(), json!(xing));
        }
        item.insert("ming".into(), json!(ming));
        if !gaps.sex {
            item.insert("xbdm".into(), json!(resident.sex.gb_code()));
        }
        if !gaps.birth_date {
            item.insert("csrq".into(), json!(compact_date(person.birth_date)));
        }
        if let Some((document, number)) = &document {
            item.insert("zjlx".into(), json!(document.code()));
            item.insert("zjhm".into(), json!(number));
        }
        if !gaps.phone {
            item.insert("sjhm".into(), json!(person.phone));
        }
        item.insert("jzdz".into(), json!(household.address));
        item.insert("yzbm".into(), json!(postal_code(household.place.code)));
        if !gaps.division {
            item.insert("xzqh".into(), json!(household.place.code));
        }
        let updated = updated_at(
            resident.birth_date,
            &mut SplitMix64::new(hash(&[key, TAG_UPDATED, k])),
        );
        item.insert(
            "gxsj".into(),
            json!(updated.format("%Y-%m-%d %H:%M:%S").to_string()),
        );
        let mut value = Value::Object(item);

        let defect = faults::invalid(&self.faults, key, k).map(|roll| {
            let defect = DEFECTS[(roll % DEFECTS.len() as u64) as usize];
            match defect {
                "bad_division_code" => value["xzqh"] = json!("990101"),
                "impossible_birth_date" => {
                    value["csrq"] = json!(format!("{}0230", resident.birth_date.year()));
                }
                "bad_postal_code" => value["yzbm"] = json!("10002"),
                _ => value["zjlx"] = json!("999"),
            }
            defect
        });
        RegistryItem {
            record: SimRecord {
                id: id.clone(),
                value,
                people: vec![PersonRef {
                    record_id: id,
                    pointer: String::new(),
                    resident_index: index,
                    noise: person.noise,
                }],
                defect,
                version: 0,
                updated_at: updated,
            },
            document: document.map(|(document, _)| document),
            gaps,
        }
    }

    /// Every item, in the order the API lists them.
    pub fn items(&self) -> impl Iterator<Item = RegistryItem> + '_ {
        (0..self.len()).map(|k| self.item(k))
    }

    /// The registry's HTTP API.
    pub fn router(self) -> Router {
        let state = Arc::new(RegistryState {
            faults: FaultState::new(self.faults, self.key()),
            sim: self,
        });
        Router::new()
            .route(RESIDENTS_PATH, get(list_residents))
            .with_state(state)
    }
}

#[derive(Debug)]
struct RegistryState {
    sim: RegistrySim,
    faults: FaultState,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(rename = "pageNo")]
    page_no: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

fn error_body(_status: StatusCode, message: &str) -> Value {
    json!({"status": "error", "reason": message})
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(status, message))).into_response()
}

async fn list_residents(
    State(state): State<Arc<RegistryState>>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    if !bearer_ok(&headers, &state.sim.credentials) {
        let reason = if headers.contains_key(header::AUTHORIZATION) {
            "invalid bearer token"
        } else {
            "missing Authorization: Bearer <token>"
        };
        let mut response = error(StatusCode::UNAUTHORIZED, reason);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"community\""),
        );
        return response;
    }
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let page = match query.page_no.as_deref().map(str::parse::<u64>) {
        None => 1,
        Some(Ok(page)) if page >= 1 => page,
        Some(_) => return error(StatusCode::BAD_REQUEST, "pageNo must be an integer >= 1"),
    };
    let size = match query.page_size.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(size)) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("pageSize must be an integer within 1..={MAX_PAGE_SIZE}"),
            );
        }
    };
    let sim = &state.sim;
    let total = sim.len();
    let start = (page - 1).saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    faults::respond(&state.faults, start, error_body, || {
        // A duplicated boundary repeats the previous page's last item first.
        let first = if start > 0 && start < end && state.faults.duplicate(start) {
            start - 1
        } else {
            start
        };
        let items: Vec<Value> = (first..end).map(|k| sim.item(k).record.value).collect();
        (
            HeaderMap::new(),
            json!({"status": "ok", "result": {"total": total, "items": items}}),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_schema::formats::resident_id;

    #[test]
    fn names_split_after_the_surname_whatever_the_noise() {
        assert_eq!(split_name("张伟", "章伟"), ("章".into(), "伟".into()));
        assert_eq!(
            split_name("欧阳明华", "欧阳明华"),
            ("欧阳".into(), "明华".into())
        );
        assert_eq!(split_name("陈子涵", "陳子涵"), ("陳".into(), "子涵".into()));
        assert_eq!(
            split_name("艾力·买买提", "艾力·买买提"),
            (String::new(), "艾力·买买提".into())
        );
    }

    #[test]
    fn a_mistyped_id_fails_its_check_character() {
        let population = Population::new(1, 500);
        let mut rng = SplitMix64::new(9);
        for i in 0..500 {
            let id = population.resident(i).resident_id;
            for _ in 0..20 {
                let typo = mistype(&id, &mut rng);
                assert_eq!(typo.len(), 18);
                assert_eq!(
                    typo.chars().zip(id.chars()).filter(|(a, b)| a != b).count(),
                    1
                );
                assert!(!resident_id::is_valid(&typo), "{i}");
            }
        }
    }

    #[test]
    fn without_noise_or_quirks_every_item_is_its_resident() {
        let sim = RegistrySim {
            noise: Noise::NONE,
            quirks: RegistryQuirks::NONE,
            ..RegistrySim::new(Population::new(3, 1000))
        };
        assert_eq!(sim.len(), 600);
        for item in sim.items() {
            let resident = sim.population.resident(item.resident_index());
            let v = &item.record.value;
            assert!(item.noise().is_clean());
            assert_eq!(item.document, Some(DocumentType::ResidentIdCard));
            assert_eq!(v["zjhm"], json!(resident.resident_id));
            assert_eq!(v["csrq"], json!(compact_date(resident.birth_date)));
            assert_eq!(v["sjhm"], json!(resident.phone));
            // Every field, but `xing` for a transliterated name (all in `ming`).
            let fields = if resident.name.contains('·') { 11 } else { 12 };
            assert_eq!(v.as_object().map(Map::len), Some(fields));
        }
    }
}
