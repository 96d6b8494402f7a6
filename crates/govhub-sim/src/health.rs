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
//! | `hz` | 患者: `xm` name, `xb` sex (GB/T 2261.1 `1`/`2`), `csrq` birth date `yyyyMMdd`, `sfzh` resident ID (`""` if not recorded; some legacy 15-digit), `lxdh` phone |
//! | `gxsj` | 更新时间, last change, `yyyyMMddHHmmss` |
//!
//! Sixty percent of residents have an encounter in generation 0; later generations add
//! returning patients' encounters, discharge inpatients and add secondary diagnoses.

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
use crate::noise::Noise;
use crate::perm::Permutation;
use crate::population::{Place, Population, Role};
use crate::record::{Department, PersonRef, SimRecord, compact_date};
use crate::rng::{SplitMix64, hash};
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
}
