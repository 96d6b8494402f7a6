//! The civil affairs department's household registration system (户籍管理系统).
//!
//! `GET /api/civil/households?offset=O&limit=L` with HTTP basic authentication lists
//! registered households (户) with their members nested inside. Besides `total` in the
//! body, each answer has an RFC 8288 `Link: <…?offset=…&limit=…>; rel="next"` header
//! while more households follow, and `X-Total-Count`. Envelope:
//! `{"code": "0000", "msg": "成功", "total": N, "data": [household, …]}`; errors carry
//! another `code` and a `msg`.
//!
//! A household:
//!
//! | field | meaning |
//! |---|---|
//! | `hh_id` | 户号, household number: the record id |
//! | `hlb` | 户类别: `1` family household |
//! | `lhrq` | 立户日期, registration date, `2012年3月5日` |
//! | `address` | `xzqh` division code, `xxdz` full address |
//! | `members` | members, head first: `cybh` member number (`hh_id` + 2 digits; the member's record id), `xm` name, `xb` sex `男`/`女`, `csrq` birth date `1985年3月12日`, `gmsfhm` resident ID (`null` if not recorded), `yhzgx` relation to head (GB/T 4761: `02` head, `10` spouse, `20` son, `30` daughter, `51` father, `52` mother), `mz` ethnicity, `lxdh` phone, `rhrq` date entered |
//! | `gxsj` | 更新时间, last change, `2025年03月05日 08:30:00` |
//!
//! Half of all households are registered in generation 0; later generations register
//! more and record moves (a new `xxdz`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Feed;
use crate::auth::{BasicCredentials, basic_ok};
use crate::faults::{self, FaultState, Faults};
use crate::noise::Noise;
use crate::perm::Permutation;
use crate::population::{Population, Role, Sex};
use crate::record::{Department, PersonRef, SimRecord, chinese_date};
use crate::rng::hash;
use crate::timeline::{Churn, Clock, Timeline, TimelineView, local};

/// Path of the households endpoint.
pub const HOUSEHOLDS_PATH: &str = "/api/civil/households";
/// Largest `limit` allowed.
pub const MAX_LIMIT: u64 = 200;
/// `limit` when the request has none.
pub const DEFAULT_LIMIT: u64 = 50;

/// Domain tag of the department's hashes.
const TAG: u64 = 0x0043_4956_494C;

const DEFECTS: &[&str] = &[
    "bad_division_code",
    "impossible_birth_date",
    "unknown_relation_code",
    "empty_address",
];

/// The simulated registry. Clones share the clock.
#[derive(Debug, Clone)]
pub struct CivilAffairsSim {
    /// The population households come from.
    pub population: Population,
    /// Share of households registered in generation 0.
    pub coverage: f64,
    /// Change per generation (new registrations, moves).
    pub churn: Churn,
    /// Noise in member data.
    pub noise: Noise,
    /// Fault injection.
    pub faults: Faults,
    /// Basic-auth user and password.
    pub credentials: BasicCredentials,
    /// The generation served.
    pub clock: Clock,
}

fn relation(role: Role, sex: Sex) -> &'static str {
    match (role, sex) {
        (Role::Head, _) => "02",
        (Role::Spouse, _) => "10",
        (Role::Child, Sex::Male) => "20",
        (Role::Child, Sex::Female) => "30",
        (Role::Parent, Sex::Male) => "51",
        (Role::Parent, Sex::Female) => "52",
    }
}

fn datetime(secs: i64) -> String {
    local(secs).format("%Y年%m月%d日 %H:%M:%S").to_string()
}

impl CivilAffairsSim {
    /// The registry over `population` with default coverage, churn and noise, no
    /// faults, demo credentials and a fresh clock.
    pub fn new(population: Population) -> CivilAffairsSim {
        CivilAffairsSim {
            population,
            coverage: 0.5,
            churn: Churn::default(),
            noise: Noise::default(),
            faults: Faults::default(),
            credentials: BasicCredentials::default(),
            clock: Clock::new(),
        }
    }

    fn key(&self) -> u64 {
        hash(&[self.population.seed, TAG])
    }

    /// Ground truth: the population household registered as record `k`.
    pub fn household_of(&self, k: u64) -> u64 {
        Permutation::new(self.population.households(), hash(&[self.key(), 1])).apply(k)
    }

    fn household_id(&self, k: u64) -> String {
        let place = self.population.household(self.household_of(k)).place;
        format!("{}{k:09}", place.code)
    }

    /// `(department, member id, resident index)` of every member at `generation`.
    pub fn ground_truth(
        &self,
        generation: u64,
    ) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        (0..self.len(generation)).flat_map(move |k| {
            let hh_id = self.household_id(k);
            let members = self.population.household(self.household_of(k)).members;
            members.clone().map(move |i| {
                (
                    Department::CivilAffairs,
                    format!("{hh_id}{:02}", i - members.start + 1),
                    i,
                )
            })
        })
    }

    /// The registry's HTTP API.
    pub fn router(self) -> Router {
        let state = Arc::new(CivilState {
            faults: FaultState::new(self.faults, self.key()),
            sim: self,
        });
        Router::new()
            .route(HOUSEHOLDS_PATH, get(list_households))
            .with_state(state)
    }
}

#[derive(Debug)]
struct CivilState {
    sim: CivilAffairsSim,
    faults: FaultState,
}

#[derive(Debug, Deserialize)]
struct HouseholdQuery {
    offset: Option<String>,
    limit: Option<String>,
}

fn error_body(status: StatusCode, message: &str) -> Value {
    let code = match status {
        StatusCode::BAD_REQUEST => "4000",
        StatusCode::UNAUTHORIZED => "4010",
        StatusCode::TOO_MANY_REQUESTS => "4290",
        _ => "5000",
    };
    json!({"code": code, "msg": message})
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(status, message))).into_response()
}

async fn list_households(
    State(state): State<Arc<CivilState>>,
    headers: HeaderMap,
    query: Result<Query<HouseholdQuery>, QueryRejection>,
) -> Response {
    if !basic_ok(&headers, &state.sim.credentials) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "用户名或密码错误 (bad credentials)",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"civil-affairs\""),
        );
        return response;
    }
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let offset = match query.offset.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "offset must be a non-negative integer",
            );
        }
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
    // The Link header repeats the host the client used, as servers behind a proxy do.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let sim = &state.sim;
    faults::respond(&state.faults, offset, error_body, || {
        let view = sim.timeline().view(sim.clock.generation());
        let total = view.len();
        let start = offset.min(total);
        let end = offset.saturating_add(limit).min(total);
        // A duplicated boundary repeats the previous page's last household first.
        let first = if start > 0 && start < total && state.faults.duplicate(start) {
            start - 1
        } else {
            start
        };
        let data: Vec<Value> = (first..end).map(|k| sim.build(k, &view).value).collect();
        let mut headers = HeaderMap::new();
        if let Ok(count) = HeaderValue::from_str(&total.to_string()) {
            headers.insert("x-total-count", count);
        }
        if end < total {
            let link = format!(
                "<http://{host}{HOUSEHOLDS_PATH}?offset={end}&limit={limit}>; rel=\"next\""
            );
            if let Ok(link) = HeaderValue::from_str(&link) {
                headers.insert(header::LINK, link);
            }
        }
        (
            headers,
            json!({"code": "0000", "msg": "成功", "total": total, "data": data}),
        )
    })
    .await
}

impl Feed for CivilAffairsSim {
    fn timeline(&self) -> Timeline {
        let households = self.population.households();
        let base = (households as f64 * self.coverage.clamp(0.0, 1.0)) as u64;
        Timeline::new(self.key(), base, self.churn, households)
    }

    fn build(&self, k: u64, view: &TimelineView) -> SimRecord {
        let key = self.key();
        let history = view.history(k);
        let household_index = self.household_of(k);
        let household = self.population.household(household_index);
        let hh_id = self.household_id(k);
        let mut people = Vec::new();
        let mut members = Vec::new();
        for (slot, i) in household.members.clone().enumerate() {
            let resident = self.population.resident(i);
            let person = self.noise.apply(&resident, hash(&[key, 4, k, slot as u64]));
            let member_id = format!("{hh_id}{:02}", slot + 1);
            let entered = match resident.role {
                // Newborns are registered within weeks of birth.
                Role::Child => {
                    let registered = resident.birth_date + chrono::Days::new(20 + i % 40);
                    registered.max(household.registered_on)
                }
                _ => household.registered_on,
            };
            members.push(json!({
                "cybh": member_id,
                "xm": person.name,
                "xb": resident.sex.chinese(),
                "csrq": chinese_date(person.birth_date),
                "gmsfhm": person.resident_id,
                "yhzgx": relation(resident.role, resident.sex),
                "mz": resident.ethnicity,
                "lxdh": person.phone,
                "rhrq": chinese_date(entered),
            }));
            people.push(PersonRef {
                record_id: member_id,
                pointer: format!("/members/{slot}"),
                resident_index: i,
                noise: person.noise,
            });
        }
        let version = history.version();
        let updated = view.time(k, history.last());
        let mut value = json!({
            "hh_id": hh_id,
            "hlb": "1",
            "lhrq": chinese_date(household.registered_on),
            "address": {
                "xzqh": household.place.code,
                "xxdz": self.population.address(household_index, u64::from(version)),
            },
            "members": members,
            "gxsj": datetime(updated),
        });
        let defect = faults::invalid(&self.faults, key, k).map(|roll| {
            let defect = DEFECTS[(roll % DEFECTS.len() as u64) as usize];
            match defect {
                "bad_division_code" => value["address"]["xzqh"] = json!("990101"),
                "impossible_birth_date" => {
                    let year = self
                        .population
                        .resident(household.members.start)
                        .birth_date
                        .year();
                    value["members"][0]["csrq"] = json!(format!("{year}年2月30日"));
                }
                "unknown_relation_code" => value["members"][0]["yhzgx"] = json!("00"),
                _ => value["address"]["xxdz"] = json!(""),
            }
            defect
        });
        SimRecord {
            id: hh_id,
            value,
            people,
            defect,
            version,
            updated_at: local(updated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_schema::mapping::{DateFormat, parse_date, parse_datetime};

    #[test]
    fn households_nest_their_members_with_ground_truth() {
        let sim = CivilAffairsSim {
            noise: Noise::NONE,
            ..CivilAffairsSim::new(Population::new(4, 1000))
        };
        assert_eq!(sim.len(0), 200);
        let mut members = 0;
        for record in sim.records(0) {
            let list = record.value["members"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(list.len(), record.people.len());
            assert_eq!(list[0]["yhzgx"], json!("02"));
            for (m, person) in list.iter().zip(&record.people) {
                let resident = sim.population.resident(person.resident_index);
                assert_eq!(m["gmsfhm"], json!(resident.resident_id));
                assert_eq!(m["cybh"], json!(person.record_id));
                assert_eq!(
                    parse_date(&m["csrq"], DateFormat::Chinese),
                    Some(resident.birth_date)
                );
            }
            assert!(parse_datetime(&record.value["gxsj"], DateFormat::Auto).is_some());
            members += list.len();
        }
        assert_eq!(sim.ground_truth(0).count(), members);
    }
}
