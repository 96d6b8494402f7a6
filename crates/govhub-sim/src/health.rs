//! The health department's regional health information platform (全民健康信息平台),
//! behind an API gateway that requires signed requests.
//!
//! `GET /gateway/health/v1/encounters?cursor=<token>&limit=N` lists patient encounters
//! (就诊记录) in creation order. The first page has no cursor; each answer carries
//! `next_cursor`, an opaque token for the following page, or `null` when no record
//! follows yet (asking again later with the last token returns that page with whatever
//! was appended since). Envelope: `{"success": true, "data": {"records": [...],
//! "next_cursor": "..."|null}}`; errors: `{"success": false, "error_code", "message"}`.
//!
//! A record (field names are the platform's pinyin abbreviations):
//!
//! | field | meaning |
//! |---|---|
//! | `jzlsh` | 就诊流水号, encounter number: the record id |
//! | `lx` | 就诊类型: `01` outpatient, `02` inpatient, `03` emergency |
//! | `jzsj` | 就诊时间, visit or admission time, `yyyyMMddHHmmss` China time |
//! | `cysj` | 出院时间, discharge time (inpatients, once discharged) |
//! | `ksmc` | 科室名称, clinical department |
//! | `zdbm` | 诊断编码, ICD-10 codes, principal first |
//! | `jg` | 医疗机构: `jgdm` USCC, `jgmc` name, `xzqh` division code |
//! | `hz` | 患者: `xm` name, `xb` sex (GB/T 2261.1 `1`/`2`), `csrq` birth date `yyyyMMdd`, `sfzh` resident ID (`""` if not recorded; some legacy 15-digit), `lxdh` phone, `jzdz` 现住址 residential address (absent or `""` if not recorded) |
//! | `gxsj` | 更新时间, last change, `yyyyMMddHHmmss` |
//!
//! Sixty percent of residents have an encounter in generation 0; later generations add
//! returning patients' encounters, discharge inpatients and add secondary diagnoses.
//!
//! The patient's address (`jzdz`) is their household's
//! [`Population::address`] with `moves = 0`: the registered address, which is what the
//! civil affairs register shows for the household in its original version (version
//! `v` of a civil household record shows `address(household, v)`, and every household
//! starts at version 0, so in generation 0 the two always agree, and later on for every
//! household whose move civil affairs has not recorded). A hospital keeps the address
//! from the patient's registration, so it does not follow later moves either. Noise,
//! a pure function of the encounter ([`AddressNoise`], one draw per encounter from its
//! own hash stream, so nothing else in the record changes): not recorded (field absent
//! or `""`), the address after the household's first move (`moves = 1`, what civil
//! affairs shows once it records that move), written without the province and city
//! (`朝阳区幸福路12号3栋2单元1203室`), or with full-width digits. The kinds are
//! exclusive: one encounter has at most one of them.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use govhub_schema::formats::uscc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Feed;
use crate::auth::{GatewayCredentials, GatewayVerifier};
use crate::faults::{self, FaultState, Faults};
use crate::noise::{Noise, full_width};
use crate::perm::Permutation;
use crate::population::{Place, Population, Role};
use crate::record::{Department, PersonRef, SimRecord, compact_date};
use crate::rng::{SplitMix64, hash, unit};
use crate::timeline::{Churn, Clock, Timeline, TimelineView, local};

/// Path of the encounters endpoint.
pub const ENCOUNTERS_PATH: &str = "/gateway/health/v1/encounters";
/// Largest `limit` the gateway allows.
pub const MAX_LIMIT: u64 = 500;
/// `limit` when the request has none.
pub const DEFAULT_LIMIT: u64 = 100;

/// Domain tag of the department's hashes.
const TAG: u64 = 0x4845_414C_5448;
/// Prefix of encounter ids (就诊流水号): `JZ`, creation date, record number.
const RECORD_PREFIX: &str = "JZ";

/// The simulated platform. Clones share the clock.
#[derive(Debug, Clone)]
pub struct HealthSim {
    /// The population patients come from.
    pub population: Population,
    /// Share of residents with an encounter in generation 0.
    pub coverage: f64,
    /// Change per generation.
    pub churn: Churn,
    /// Noise in patient data.
    pub noise: Noise,
    /// Noise in the patient's address.
    pub address_noise: AddressNoise,
    /// Fault injection.
    pub faults: Faults,
    /// What callers must sign with.
    pub credentials: GatewayCredentials,
    /// The generation served.
    pub clock: Clock,
}

const DEPARTMENTS: &[&str] = &[
    "呼吸内科",
    "心血管内科",
    "消化内科",
    "内分泌科",
    "骨科",
    "普通外科",
    "皮肤科",
    "眼科",
    "口腔科",
];
/// ICD-10 codes as the national clinical edition writes them.
const DIAGNOSES: &[&str] = &[
    "J06.900",
    "J18.900",
    "J20.900",
    "E11.900",
    "K29.700",
    "M54.500",
    "S52.500",
    "H10.900",
    "K02.900",
    "L30.900",
    "R50.900",
    "J18.900x001",
];
const FACILITIES: &[&str] = &["人民医院", "中医医院", "妇幼保健院"];
const DEFECTS: &[&str] = &[
    "unknown_sex_code",
    "impossible_visit_time",
    "bad_diagnosis_code",
    "bad_facility_code",
];

/// Domain tag of the address noise's hash stream.
const TAG_ADDRESS: u64 = 0x4A5A_445A;

/// Rates (0 to 1, of all encounters) of each kind of noise in the patient's address.
/// The kinds are exclusive; their sum should be at most 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddressNoise {
    /// Not recorded: `jzdz` absent (half of these) or `""`.
    pub missing: f64,
    /// The household's address after its first move instead of the registered one.
    pub moved: f64,
    /// The place name up to and including its first `市` left out
    /// (`北京市朝阳区…` → `朝阳区…`).
    pub no_city: f64,
    /// Digits typed full width (`１２号`).
    pub fullwidth: f64,
}

impl AddressNoise {
    /// Every address recorded, as registered.
    pub const NONE: AddressNoise = AddressNoise {
        missing: 0.0,
        moved: 0.0,
        no_city: 0.0,
        fullwidth: 0.0,
    };
}

impl Default for AddressNoise {
    /// A fifth not recorded, a tenth outdated, a tenth without province and city, one
    /// in twenty with full-width digits.
    fn default() -> AddressNoise {
        AddressNoise {
            missing: 0.20,
            moved: 0.10,
            no_city: 0.10,
            fullwidth: 0.05,
        }
    }
}

/// What was done to an encounter's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// The registered address, as registered.
    Registered,
    /// Not recorded, the field left out.
    Absent,
    /// Not recorded, the field `""`.
    Empty,
    /// The address after the household's first move.
    Moved,
    /// Without the province and city.
    NoCity,
    /// With full-width digits.
    FullWidth,
}

/// An encounter's patient address as recorded, with what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientAddress {
    /// The `jzdz` value: `None` leaves the field out.
    pub text: Option<String>,
    /// Which kind of noise, if any.
    pub kind: AddressKind,
}

/// `address` without its leading place name up to and including the first `市`
/// (`北京市朝阳区…` → `朝阳区…`); unchanged without a `市`.
fn without_city(address: &str) -> &str {
    address.split_once('市').map_or(address, |(_, rest)| rest)
}

/// The USCC of facility `facility` of `place`: public institution (事业单位, `12`),
/// the district's division code, a synthetic organization number.
fn facility_code(place: &Place, facility: usize) -> String {
    let first17 = format!("12{}4{:02}{:06}", place.code, facility, facility + 1);
    let check = uscc::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

fn datetime(secs: i64) -> String {
    local(secs).format("%Y%m%d%H%M%S").to_string()
}

impl HealthSim {
    /// The platform over `population` with default coverage, churn, noise (more legacy
    /// IDs than elsewhere: hospitals keep old patient master records), no faults, demo
    /// credentials and a fresh clock.
    pub fn new(population: Population) -> HealthSim {
        HealthSim {
            population,
            coverage: 0.6,
            churn: Churn::default(),
            noise: Noise {
                legacy_id: 0.08,
                ..Noise::default()
            },
            address_noise: AddressNoise::default(),
            faults: Faults::default(),
            credentials: GatewayCredentials::default(),
            clock: Clock::new(),
        }
    }

    fn key(&self) -> u64 {
        hash(&[self.population.seed, TAG])
    }

    /// Residents with an encounter in generation 0.
    pub fn patients(&self) -> u64 {
        (self.population.size as f64 * self.coverage.clamp(0.0, 1.0)) as u64
    }

    /// Ground truth: the resident encounter `k` belongs to.
    pub fn resident_of(&self, k: u64) -> u64 {
        let patients = self.patients().max(1);
        let j = if k < patients {
            k
        } else {
            // A returning patient.
            hash(&[self.key(), 2, k]) % patients
        };
        Permutation::new(self.population.size, hash(&[self.key(), 1])).apply(j)
    }

    /// The patient's address as encounter `k` records it (`jzdz`), with its noise:
    /// one draw from the encounter's own hash stream against [`HealthSim::address_noise`].
    pub fn patient_address(&self, k: u64) -> PatientAddress {
        let household = self.population.resident(self.resident_of(k)).household;
        self.address_in(k, household)
    }

    /// [`HealthSim::patient_address`] of encounter `k` by a patient of `household`.
    fn address_in(&self, k: u64, household: u64) -> PatientAddress {
        let mut rng = SplitMix64::new(hash(&[self.key(), TAG_ADDRESS, k]));
        let u = unit(rng.next_u64());
        let n = self.address_noise;
        let registered = || self.population.address(household, 0);
        let (text, kind) = if u < n.missing {
            if rng.below(2) == 0 {
                (None, AddressKind::Absent)
            } else {
                (Some(String::new()), AddressKind::Empty)
            }
        } else if u < n.missing + n.moved {
            (
                Some(self.population.address(household, 1)),
                AddressKind::Moved,
            )
        } else if u < n.missing + n.moved + n.no_city {
            (
                Some(without_city(&registered()).to_owned()),
                AddressKind::NoCity,
            )
        } else if u < n.missing + n.moved + n.no_city + n.fullwidth {
            (Some(full_width(&registered())), AddressKind::FullWidth)
        } else {
            (Some(registered()), AddressKind::Registered)
        };
        PatientAddress { text, kind }
    }

    /// `(department, record id, resident index)` of every encounter at `generation`.
    pub fn ground_truth(
        &self,
        generation: u64,
    ) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        let view = self.timeline().view(generation);
        (0..view.len()).map(move |k| {
            (
                Department::Health,
                view.dated_id(RECORD_PREFIX, k),
                self.resident_of(k),
            )
        })
    }

    /// The opaque cursor of position `k`: the position masked, and a check so a made-up
    /// token is refused rather than silently read as some position.
    fn cursor(&self, k: u64) -> String {
        let mask = hash(&[self.key(), 5]);
        let check = hash(&[self.key(), 6, k]) as u32;
        format!("{:016x}{check:08x}", k ^ mask)
    }

    fn position(&self, cursor: &str) -> Option<u64> {
        if cursor.len() != 24 || !cursor.is_ascii() {
            return None;
        }
        let masked = u64::from_str_radix(&cursor[..16], 16).ok()?;
        let check = u32::from_str_radix(&cursor[16..], 16).ok()?;
        let k = masked ^ hash(&[self.key(), 5]);
        (hash(&[self.key(), 6, k]) as u32 == check).then_some(k)
    }

    /// The platform's HTTP API.
    pub fn router(self) -> Router {
        let state = Arc::new(HealthState {
            faults: FaultState::new(self.faults, self.key()),
            verifier: GatewayVerifier::new(self.credentials.clone()),
            sim: self,
        });
        Router::new()
            .route(ENCOUNTERS_PATH, get(list_encounters))
            .with_state(state)
    }
}

#[derive(Debug)]
struct HealthState {
    sim: HealthSim,
    faults: FaultState,
    verifier: GatewayVerifier,
}

#[derive(Debug, Deserialize)]
struct EncounterQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

fn error_body(status: StatusCode, message: &str) -> Value {
    let code = match status {
        StatusCode::BAD_REQUEST => "InvalidParameter",
        StatusCode::UNAUTHORIZED => "InvalidSignature",
        StatusCode::TOO_MANY_REQUESTS => "Throttling",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        _ => "InternalError",
    };
    json!({"success": false, "error_code": code, "message": message})
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(status, message))).into_response()
}

async fn list_encounters(
    State(state): State<Arc<HealthState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<EncounterQuery>, QueryRejection>,
) -> Response {
    if let Err(message) = state.verifier.check(&method, &uri, &headers) {
        return error(StatusCode::UNAUTHORIZED, &message);
    }
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let limit = match query.limit.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("limit must be an integer within 1..={MAX_LIMIT}"),
            );
        }
    };
    let start = match query.cursor.as_deref() {
        None | Some("") => 0,
        Some(token) => match state.sim.position(token) {
            Some(k) => k,
            None => return error(StatusCode::BAD_REQUEST, "invalid cursor"),
        },
    };
    let sim = &state.sim;
    faults::respond(&state.faults, start, error_body, || {
        let view = sim.timeline().view(sim.clock.generation());
        let len = view.len();
        let start = start.min(len);
        let end = start.saturating_add(limit).min(len);
        let records: Vec<Value> = (start..end).map(|k| sim.build(k, &view).value).collect();
        let next = (end < len).then(|| {
            let next = if state.faults.duplicate(end) {
                end - 1
            } else {
                end
            };
            sim.cursor(next)
        });
        (
            HeaderMap::new(),
            json!({"success": true, "data": {"records": records, "next_cursor": next}}),
        )
    })
    .await
}

impl Feed for HealthSim {
    fn timeline(&self) -> Timeline {
        Timeline::new(self.key(), self.patients(), self.churn, u64::MAX)
    }

    fn build(&self, k: u64, view: &TimelineView) -> SimRecord {
        let key = self.key();
        let history = view.history(k);
        let id = view.dated_id(RECORD_PREFIX, k);
        let resident_index = self.resident_of(k);
        let resident = self.population.resident(resident_index);
        let place = self.population.household(resident.household).place;
        let mut rng = SplitMix64::new(hash(&[key, 3, k]));
        let roll = rng.below(100);
        let kind = match roll {
            0..70 => "01",
            70..85 => "02",
            _ => "03",
        };
        let facility = rng.below(FACILITIES.len() as u64) as usize;
        let department = match kind {
            "03" => "急诊科",
            _ if resident.role == Role::Child => "儿科",
            _ => rng.pick(DEPARTMENTS),
        };
        let principal = *rng.pick(DIAGNOSES);
        let mut diagnoses = vec![principal];
        let version = history.version();
        if version >= 1 && kind != "02" {
            let secondary = *rng.pick(DIAGNOSES);
            if secondary != principal {
                diagnoses.push(secondary);
            }
        }
        let person = self.noise.apply(&resident, hash(&[key, 4, k]));
        let updated = view.time(k, history.last());
        let mut value = json!({
            "jzlsh": id,
            "lx": kind,
            "jzsj": datetime(view.time(k, history.created)),
            "ksmc": department,
            "zdbm": diagnoses,
            "jg": {
                "jgdm": facility_code(place, facility),
                "jgmc": format!("{}{}", place.district, FACILITIES[facility]),
                "xzqh": place.code,
            },
            "hz": {
                "xm": person.name,
                "xb": resident.sex.gb_code(),
                "csrq": compact_date(person.birth_date),
                "sfzh": person.resident_id.clone().unwrap_or_default(),
                "lxdh": person.phone,
            },
            "gxsj": datetime(updated),
        });
        if let Some(address) = self.address_in(k, resident.household).text {
            value["hz"]["jzdz"] = json!(address);
        }
        if kind == "02"
            && let Some(&discharged) = history.updated.first()
        {
            value["cysj"] = json!(datetime(view.time(k, discharged)));
        }
        let defect = faults::invalid(&self.faults, key, k).map(|roll| {
            let defect = DEFECTS[(roll % DEFECTS.len() as u64) as usize];
            match defect {
                "unknown_sex_code" => value["hz"]["xb"] = json!("3"),
                "impossible_visit_time" => {
                    let visit = datetime(view.time(k, history.created));
                    value["jzsj"] = json!(format!("{}0230{}", &visit[..4], &visit[8..]));
                }
                "bad_diagnosis_code" => value["zdbm"][0] = json!(principal.to_lowercase()),
                _ => {
                    let code = facility_code(place, facility);
                    let wrong = if code.ends_with('0') { '1' } else { '0' };
                    value["jg"]["jgdm"] = json!(format!("{}{wrong}", &code[..17]));
                }
            }
            defect
        });
        SimRecord {
            id: id.clone(),
            value,
            people: vec![PersonRef {
                record_id: id,
                pointer: "/hz".into(),
                resident_index,
                noise: person.noise,
            }],
            defect,
            version,
            updated_at: local(updated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_schema::formats::resident_id;

    #[test]
    fn facility_codes_are_valid_usccs() {
        for place in crate::population::PLACES {
            for facility in 0..FACILITIES.len() {
                assert!(uscc::is_valid(&facility_code(place, facility)));
            }
        }
    }

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let sim = HealthSim::new(Population::new(1, 100));
        for k in [0, 1, 99, 4_999_999] {
            assert_eq!(sim.position(&sim.cursor(k)), Some(k));
        }
        let token = sim.cursor(5);
        let flipped = if token[..1] == *"0" { "1" } else { "0" };
        let forged = format!("{flipped}{}", &token[1..]);
        assert_eq!(sim.position(&forged), None);
        assert_eq!(sim.position("zz"), None);
        assert_eq!(sim.position("ｚｚｚｚｚｚｚｚ"), None);
    }

    #[test]
    fn clean_records_carry_the_patients_real_data() {
        let sim = HealthSim {
            noise: Noise::NONE,
            ..HealthSim::new(Population::new(3, 500))
        };
        assert_eq!(sim.len(0), 300);
        for record in sim.records(0) {
            let person = &record.people[0];
            let resident = sim.population.resident(person.resident_index);
            assert_eq!(record.value["hz"]["sfzh"], json!(resident.resident_id));
            assert!(resident_id::is_valid(&resident.resident_id));
            assert_eq!(record.value["hz"]["xm"], json!(resident.name));
            assert_eq!(record.value["jzlsh"], json!(record.id));
        }
    }

    /// `xxdz` of every household civil affairs registers at `generation`, by
    /// population household, with the record's version.
    fn civil_addresses(
        civil: &crate::civil::CivilAffairsSim,
        generation: u64,
    ) -> std::collections::HashMap<u64, (String, u32)> {
        let view = civil.timeline().view(generation);
        (0..view.len())
            .map(|k| {
                let record = civil.build(k, &view);
                let text = record.value["address"]["xxdz"].as_str().unwrap().to_owned();
                (civil.household_of(k), (text, record.version))
            })
            .collect()
    }

    #[test]
    fn the_address_is_the_households_as_civil_affairs_registers_it() {
        let departments = crate::Departments::new(8, 3000);
        let civil = &departments.civil_affairs;
        let sim = HealthSim {
            address_noise: AddressNoise::NONE,
            ..departments.health.clone()
        };
        let registered = civil_addresses(civil, 0);
        let mut shared = 0;
        for (k, record) in sim.records(0).enumerate() {
            let household = sim
                .population
                .resident(record.people[0].resident_index)
                .household;
            let address = sim.population.address(household, 0);
            assert_eq!(record.value["hz"]["jzdz"], json!(address));
            assert_eq!(
                sim.patient_address(k as u64),
                PatientAddress {
                    text: Some(address.clone()),
                    kind: AddressKind::Registered
                }
            );
            if let Some((text, _)) = registered.get(&household) {
                assert_eq!(text, &address);
                shared += 1;
            }
        }
        assert!(shared > 500, "{shared}");

        // Later, civil affairs records moves: a household it shows at version 1 shows
        // what the noisy "moved" encounters show, the others still the registered one.
        let noisy = &departments.health;
        let later = civil_addresses(civil, 6);
        let (mut agree, mut moved_agree) = (0, 0);
        for (k, record) in noisy.records(6).enumerate() {
            let household = noisy
                .population
                .resident(record.people[0].resident_index)
                .household;
            let Some((text, version)) = later.get(&household) else {
                continue;
            };
            assert_eq!(
                text,
                &noisy.population.address(household, u64::from(*version))
            );
            let shown = record.value["hz"]["jzdz"].as_str();
            match noisy.patient_address(k as u64).kind {
                AddressKind::Registered if *version == 0 => {
                    assert_eq!(shown, Some(text.as_str()));
                    agree += 1;
                }
                AddressKind::Moved if *version == 1 => {
                    assert_eq!(shown, Some(text.as_str()));
                    moved_agree += 1;
                }
                AddressKind::Registered | AddressKind::Moved => {
                    assert_ne!(shown, Some(text.as_str()));
                }
                _ => {}
            }
        }
        assert!(agree > 400 && moved_agree > 0, "{agree} {moved_agree}");
    }

    #[test]
    fn address_noise_comes_at_its_rates_and_does_what_it_says() {
        let sim = HealthSim::new(Population::new(9, 8400));
        let records: Vec<SimRecord> = sim.records(0).collect();
        assert!(records.len() >= 5000, "{}", records.len());
        let mut counts = std::collections::HashMap::<AddressKind, usize>::new();
        for (k, record) in records.iter().enumerate() {
            let household = sim
                .population
                .resident(record.people[0].resident_index)
                .household;
            let registered = sim.population.address(household, 0);
            let shown = record.value["hz"].get("jzdz").map(|v| v.as_str().unwrap());
            let address = sim.patient_address(k as u64);
            assert_eq!(shown, address.text.as_deref());
            match address.kind {
                AddressKind::Registered => assert_eq!(shown, Some(registered.as_str())),
                AddressKind::Absent => assert_eq!(shown, None),
                AddressKind::Empty => assert_eq!(shown, Some("")),
                AddressKind::Moved => {
                    let moved = sim.population.address(household, 1);
                    assert_eq!(shown, Some(moved.as_str()));
                    assert_ne!(moved, registered);
                }
                AddressKind::NoCity => {
                    let place = sim.population.household(household).place;
                    let shown = shown.unwrap();
                    assert!(!shown.contains('市'), "{shown}");
                    assert!(shown.starts_with(place.district), "{shown}");
                    assert!(registered.ends_with(shown), "{shown}");
                    assert!(shown.ends_with('室'), "{shown}");
                }
                AddressKind::FullWidth => {
                    let shown = shown.unwrap();
                    assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
                    assert_eq!(govhub_schema::text::fold_width(shown), registered);
                }
            }
            *counts.entry(address.kind).or_default() += 1;
        }
        let rate = |kinds: &[AddressKind]| {
            kinds
                .iter()
                .map(|k| counts.get(k).copied().unwrap_or(0))
                .sum::<usize>() as f64
                / records.len() as f64
        };
        let within = |kinds: &[AddressKind], expected: f64, slack: f64| {
            let r = rate(kinds);
            assert!((r - expected).abs() < slack, "{kinds:?}: {r}");
        };
        within(&[AddressKind::Absent, AddressKind::Empty], 0.20, 0.025);
        within(&[AddressKind::Absent], 0.10, 0.02);
        within(&[AddressKind::Moved], 0.10, 0.02);
        within(&[AddressKind::NoCity], 0.10, 0.02);
        within(&[AddressKind::FullWidth], 0.05, 0.015);
        within(&[AddressKind::Registered], 0.55, 0.03);
    }

    #[test]
    fn the_address_leaves_the_rest_of_the_record_as_it_was() {
        let sim = HealthSim::new(Population::new(10, 400));
        let clean = HealthSim {
            address_noise: AddressNoise::NONE,
            ..sim.clone()
        };
        for (mut a, mut b) in sim.records(2).zip(clean.records(2)) {
            for value in [&mut a.value, &mut b.value] {
                value["hz"].as_object_mut().unwrap().remove("jzdz");
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn without_city_drops_the_place_name_up_to_the_first_city() {
        assert_eq!(without_city("北京市朝阳区幸福路12号"), "朝阳区幸福路12号");
        assert_eq!(
            without_city("广东省广州市天河区幸福路12号"),
            "天河区幸福路12号"
        );
        assert_eq!(without_city("幸福路12号"), "幸福路12号");
        for place in crate::population::PLACES {
            assert_eq!(without_city(place.name), place.district, "{}", place.name);
        }
    }
}
