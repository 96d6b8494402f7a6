//! The urban management department's digital city management platform
//! (数字化城市管理平台): an incremental feed of grid cases (网格事件).
//!
//! `GET /openapi/grid/cases?updated_since=T&after_id=ID&page_size=N` with the key in
//! `X-API-Key` lists cases ordered by (`updated_at`, `case_id`): those with
//! `updated_at > T`, and those with `updated_at == T` and `case_id > ID` (all of them
//! at `T` without `after_id`). `T` is RFC 3339 or `YYYY-MM-DD HH:MM:SS` China time.
//! Many cases share a timestamp (batch imports), so a client resumes with the last
//! case's `updated_at` *and* `case_id`. A case changed again moves to its new place in
//! the order. Envelope: `{"errcode": 0, "errmsg": "ok", "data": {"cases": [...],
//! "has_more": bool}}`.
//!
//! A case:
//!
//! | field | meaning |
//! |---|---|
//! | `case_id` | 事件编号, `WG` + creation date + number; the record id |
//! | `updated_at` | last change, `YYYY-MM-DD HH:MM:SS` China time |
//! | `ajlb` | 案件类别: `01` 市容环境, `02` 公共设施, `03` 街面秩序, `04` 违法建设, `05` 施工管理, `06` 噪声扰民, `07` 交通与停车, `08` 园林绿化, `09` 安全隐患, `10` 矛盾纠纷, `99` 其他 |
//! | `ajzt` | 案件状态: `1` 已上报, `2` 已派遣, `3` 处置中, `4` 已处置, `5` 已结案 |
//! | `sbqd` | 上报渠道: `1` 网格员巡查, `2` 12345 热线, `3` 市民 App, `9` 其他 |
//! | `sbsj` / `jasj` | reported / closed time |
//! | `wtms` | 问题描述, description |
//! | `xzqh`, `wgbm`, `dz` | division code, 14-digit grid cell code, address |
//! | `lng`, `lat` | WGS-84 degrees, within the district |
//! | `sbr` | 上报人 `{xm, lxdh}`, for hotline and app reports only |
//!
//! Cases are about places near a fifth of residents' homes; later generations add cases
//! and move existing ones one status on.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Feed;
use crate::auth::{ApiKeyCredentials, api_key_ok};
use crate::faults::{self, FaultState, Faults};
use crate::noise::Noise;
use crate::perm::Permutation;
use crate::population::{Population, places::STREETS};
use crate::record::{Department, PersonRef, SimRecord};
use crate::rng::{SplitMix64, hash, hash_str, unit};
use crate::timeline::{CST, Churn, Clock, Timeline, TimelineView, group_positions, local};

/// Path of the cases feed.
pub const CASES_PATH: &str = "/openapi/grid/cases";
/// Largest `page_size` allowed.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Prefix of case ids (网格案件编号): `WG`, creation date, record number.
const CASE_PREFIX: &str = "WG";
/// `page_size` when the request has none.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// Domain tag of the department's hashes.
const TAG: u64 = 0x0055_5242_414E;

/// Category codes with what residents report under each (`{}`: the place).
const CATEGORIES: &[(&str, &str)] = &[
    ("01", "{}附近垃圾堆放未及时清运"),
    ("02", "{}路灯不亮，井盖松动"),
    ("03", "{}有占道经营现象"),
    ("04", "{}楼顶疑似违章搭建"),
    ("05", "{}工地夜间施工，围挡缺失"),
    ("06", "{}夜间噪声扰民"),
    ("07", "{}机动车乱停放，堵塞消防通道"),
    ("08", "{}绿化带树木倒伏"),
    ("09", "{}楼道内电动车充电，存在安全隐患"),
    ("10", "{}邻里因漏水发生纠纷"),
    ("99", "{}其他问题反映"),
];
const DEFECTS: &[&str] = &[
    "coordinates_out_of_range",
    "bad_division_code",
    "empty_description",
    "unknown_category",
];

/// The simulated platform. Clones share the clock.
#[derive(Debug, Clone)]
pub struct UrbanSim {
    /// The population reporters and places come from.
    pub population: Population,
    /// Share of residents with a case about their neighbourhood in generation 0.
    pub coverage: f64,
    /// Change per generation (new cases, status changes).
    pub churn: Churn,
    /// Noise in reporter data.
    pub noise: Noise,
    /// Fault injection.
    pub faults: Faults,
    /// The API key callers must send.
    pub credentials: ApiKeyCredentials,
    /// The generation served.
    pub clock: Clock,
}

fn datetime(secs: i64) -> String {
    local(secs).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `updated_since` as Unix seconds: RFC 3339, or China time without a zone.
fn parse_since(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|layout| NaiveDateTime::parse_from_str(text, layout).ok())
        .and_then(|naive| CST.from_local_datetime(&naive).single())
        .map(|t| t.timestamp())
}

/// Where to resume the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPosition {
    /// Unix seconds of `updated_since`; `None` from the beginning.
    pub since: Option<i64>,
    /// `after_id`, meaningful with `since`.
    pub after_id: Option<String>,
}

impl UrbanSim {
    /// The platform over `population` with default coverage, churn (more updates than
    /// elsewhere: cases move through statuses) and noise, no faults, the demo key and a
    /// fresh clock.
    pub fn new(population: Population) -> UrbanSim {
        UrbanSim {
            population,
            coverage: 0.2,
            churn: Churn {
                new_per_generation: 0.02,
                updated_per_generation: 0.1,
            },
            noise: Noise::default(),
            faults: Faults::default(),
            credentials: ApiKeyCredentials::default(),
            clock: Clock::new(),
        }
    }

    fn key(&self) -> u64 {
        hash(&[self.population.seed, TAG])
    }

    fn subjects(&self) -> u64 {
        (self.population.size as f64 * self.coverage.clamp(0.0, 1.0)) as u64
    }

    /// The resident whose neighbourhood case `k` is about (and who reported it, for
    /// hotline and app reports).
    fn subject_of(&self, k: u64) -> u64 {
        let subjects = self.subjects().max(1);
        let j = if k < subjects {
            k
        } else {
            hash(&[self.key(), 2, k]) % subjects
        };
        Permutation::new(self.population.size, hash(&[self.key(), 1])).apply(j)
    }

    /// `1` grid worker, `2` hotline, `3` app, `9` other.
    fn channel(&self, k: u64) -> &'static str {
        match unit(hash(&[self.key(), 7, k])) {
            u if u < 0.30 => "1",
            u if u < 0.75 => "2",
            u if u < 0.95 => "3",
            _ => "9",
        }
    }

    /// Ground truth: the reporter of case `k`, or `None` for patrol and anonymous cases.
    pub fn reporter_of(&self, k: u64) -> Option<u64> {
        matches!(self.channel(k), "2" | "3").then(|| self.subject_of(k))
    }

    /// `(department, case id, reporter index)` of every reported case at `generation`.
    pub fn ground_truth(
        &self,
        generation: u64,
    ) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        let view = self.timeline().view(generation);
        (0..view.len()).filter_map(move |k| {
            self.reporter_of(k).map(|r| {
                (
                    Department::UrbanManagement,
                    view.dated_id(CASE_PREFIX, k),
                    r,
                )
            })
        })
    }

    /// The feed at `generation` from `position`: up to `page_size` cases in
    /// (`updated_at`, `case_id`) order, and whether more follow. With `repeat_after`
    /// the case named `after_id` itself is included again (the duplicate fault).
    pub fn feed(
        &self,
        generation: u64,
        position: &FeedPosition,
        page_size: usize,
        repeat_after: bool,
    ) -> (Vec<SimRecord>, bool) {
        let view = self.timeline().view(generation);
        let (ks, more) = self.feed_keys(&view, position, page_size, repeat_after);
        (ks.into_iter().map(|k| self.build(k, &view)).collect(), more)
    }

    fn feed_keys(
        &self,
        view: &TimelineView,
        position: &FeedPosition,
        page_size: usize,
        repeat_after: bool,
    ) -> (Vec<u64>, bool) {
        let start = match position.since {
            None => Some((0, 0)),
            Some(since) => view.first_group_since(since),
        };
        let Some((mut g, mut group)) = start else {
            return (Vec::new(), false);
        };
        let mut out = Vec::new();
        while g <= view.generation() {
            if group >= view.groups(g) {
                g += 1;
                group = 0;
                continue;
            }
            let time = view.group_time(g, group);
            // Cases changed again later appear there instead.
            let mut batch: Vec<u64> = group_positions(group)
                .filter_map(|pos| view.record_at(g, pos))
                .filter(|&k| view.history(k).last() == g)
                .collect();
            // Case ids grow with the case number, so this is case id order.
            batch.sort_unstable();
            for k in batch {
                let keep = match (position.since, position.after_id.as_deref()) {
                    (Some(since), Some(after)) if time == since => {
                        let id = view.dated_id(CASE_PREFIX, k);
                        id.as_str() > after || (repeat_after && id == after)
                    }
                    _ => true,
                };
                if keep {
                    out.push(k);
                    if out.len() > page_size {
                        out.truncate(page_size);
                        return (out, true);
                    }
                }
            }
            group += 1;
        }
        (out, false)
    }

    /// The platform's HTTP API.
    pub fn router(self) -> Router {
        let state = Arc::new(UrbanState {
            faults: FaultState::new(self.faults, self.key()),
            sim: self,
        });
        Router::new()
            .route(CASES_PATH, get(list_cases))
            .with_state(state)
    }
}

#[derive(Debug)]
struct UrbanState {
    sim: UrbanSim,
    faults: FaultState,
}

#[derive(Debug, Deserialize)]
struct CasesQuery {
    updated_since: Option<String>,
    after_id: Option<String>,
    page_size: Option<String>,
}

fn error_body(status: StatusCode, message: &str) -> Value {
    let code = match status {
        StatusCode::BAD_REQUEST => 40001,
        StatusCode::UNAUTHORIZED => 40101,
        StatusCode::TOO_MANY_REQUESTS => 42901,
        _ => 50001,
    };
    json!({"errcode": code, "errmsg": message})
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(status, message))).into_response()
}

async fn list_cases(
    State(state): State<Arc<UrbanState>>,
    headers: HeaderMap,
    query: Result<Query<CasesQuery>, QueryRejection>,
) -> Response {
    if !api_key_ok(&headers, &state.sim.credentials) {
        return error(StatusCode::UNAUTHORIZED, "invalid or missing X-API-Key");
    }
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let page_size = match query.page_size.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(size)) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("page_size must be an integer within 1..={MAX_PAGE_SIZE}"),
            );
        }
    };
    let since = match query.updated_since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match parse_since(text) {
            Some(t) => Some(t),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "updated_since must be RFC 3339 or YYYY-MM-DD HH:MM:SS",
                );
            }
        },
    };
    let after_id = query.after_id.filter(|s| !s.is_empty());
    if after_id.is_some() && since.is_none() {
        return error(StatusCode::BAD_REQUEST, "after_id needs updated_since");
    }
    let position = FeedPosition { since, after_id };
    // Faults are decided per resume point, which is what a retry asks for again.
    let key = hash(&[
        since.unwrap_or(i64::MIN) as u64,
        hash_str(position.after_id.as_deref().unwrap_or("")),
    ]);
    let sim = &state.sim;
    faults::respond(&state.faults, key, error_body, || {
        let repeat = position.after_id.is_some() && state.faults.duplicate(key);
        let (cases, more) = sim.feed(
            sim.clock.generation(),
            &position,
            page_size as usize,
            repeat,
        );
        let cases: Vec<Value> = cases.into_iter().map(|c| c.value).collect();
        (
            HeaderMap::new(),
            json!({"errcode": 0, "errmsg": "ok", "data": {"cases": cases, "has_more": more}}),
        )
    })
    .await
}

impl Feed for UrbanSim {
    fn timeline(&self) -> Timeline {
        Timeline::new(self.key(), self.subjects(), self.churn, u64::MAX)
    }

    fn build(&self, k: u64, view: &TimelineView) -> SimRecord {
        let key = self.key();
        let history = view.history(k);
        let id = view.dated_id(CASE_PREFIX, k);
        let subject = self.population.resident(self.subject_of(k));
        let place = self.population.household(subject.household).place;
        let mut rng = SplitMix64::new(hash(&[key, 3, k]));
        let (category, template) = *rng.pick(CATEGORIES);
        let street = *rng.pick(STREETS);
        let number = 1 + rng.below(300);
        let spot = format!("{street}{number}号");
        let grid = format!(
            "{}{:03}{:03}{:02}",
            place.code,
            1 + rng.below(20),
            1 + rng.below(30),
            1 + rng.below(20)
        );
        // Within about 3 km of the district centre, to the metre.
        let lng = ((place.lng + (unit(rng.next_u64()) - 0.5) * 0.06) * 1e6).round() / 1e6;
        let lat = ((place.lat + (unit(rng.next_u64()) - 0.5) * 0.05) * 1e6).round() / 1e6;
        let version = history.version();
        let status = (1 + version).min(5);
        let updated = view.time(k, history.last());
        let channel = self.channel(k);
        let mut value = json!({
            "case_id": id,
            "updated_at": datetime(updated),
            "ajlb": category,
            "ajzt": status.to_string(),
            "sbqd": channel,
            "sbsj": datetime(view.time(k, history.created)),
            "wtms": template.replace("{}", &spot),
            "xzqh": place.code,
            "wgbm": grid,
            "dz": format!("{}{spot}附近", place.name),
            "lng": lng,
            "lat": lat,
        });
        if let Some(&closed) = history.updated.get(3) {
            value["jasj"] = json!(datetime(view.time(k, closed)));
        }
        let mut people = Vec::new();
        if let Some(reporter) = self.reporter_of(k) {
            let person = self.noise.apply(&subject, hash(&[key, 4, k]));
            value["sbr"] = json!({"xm": person.name, "lxdh": person.phone});
            people.push(PersonRef {
                record_id: id.clone(),
                pointer: "/sbr".into(),
                resident_index: reporter,
                noise: person.noise,
            });
        }
        let defect = faults::invalid(&self.faults, key, k).map(|roll| {
            let defect = DEFECTS[(roll % DEFECTS.len() as u64) as usize];
            match defect {
                // Micro-degrees sent as degrees, a classic integration slip.
                "coordinates_out_of_range" => {
                    value["lng"] = json!((lng * 1e6).round());
                    value["lat"] = json!((lat * 1e6).round());
                }
                "bad_division_code" => value["xzqh"] = json!("000000"),
                "empty_description" => value["wtms"] = json!(""),
                _ => value["ajlb"] = json!("88"),
            }
            defect
        });
        SimRecord {
            id,
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

    #[test]
    fn since_accepts_both_layouts_in_china_time() {
        let a = parse_since("2024-06-01 08:00:00");
        assert_eq!(a, parse_since("2024-06-01T00:00:00Z"));
        assert_eq!(a, parse_since("2024-06-01T08:00:00+08:00"));
        assert_eq!(a, Some(1_717_200_000));
        assert_eq!(parse_since("yesterday"), None);
    }

    #[test]
    fn coordinates_lie_in_the_district() {
        let sim = UrbanSim::new(Population::new(2, 2000));
        for record in sim.records(0) {
            let place = crate::population::place_of(record.value["xzqh"].as_str().unwrap_or(""));
            let Some(place) = place else {
                panic!("unknown division in {}", record.value);
            };
            let lng = record.value["lng"].as_f64().unwrap_or(0.0);
            let lat = record.value["lat"].as_f64().unwrap_or(0.0);
            assert!((lng - place.lng).abs() <= 0.03 && (lat - place.lat).abs() <= 0.025);
        }
    }
}
