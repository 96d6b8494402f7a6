//! The education department's student registry (学籍管理系统).
//!
//! `GET /api/v1/students?page=P&size=S` pages through students by page number (from 1)
//! and answers with the `{code, msg, data: {total, list}}` envelope common to Chinese
//! government APIs; `code` is 0 on success.
//!
//! Students are the population's children in population order (student `i` is the
//! `i`-th child), so a registry of `n` students is the first `n` of a larger one, and
//! the guardian is the child's father or mother from the same household. The population
//! is [`Population::new`] up to the last student's index, the beginning of every
//! larger population of the seed (the departments'), so resident IDs are unique and the
//! same as in the other departments. The registry
//! is validated against the police's resident data when children enrol, so it carries
//! no noise; its only bad records are the deliberate [`Defect`]s.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{self, FaultState, Faults};
use crate::population::{Population, Sex};
use crate::record::Department;
use crate::rng::hash;

/// Path of the students endpoint.
pub const STUDENTS_PATH: &str = "/api/v1/students";
/// Largest page size the API allows.
pub const MAX_PAGE_SIZE: u64 = 500;

/// What makes an invalid student record invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The resident ID's check character is wrong (a typing error).
    BadCheckDigit,
    /// Grade 13 does not exist.
    GradeOutOfRange,
    /// The school has no name.
    MissingSchoolName,
    /// The birth date is 30 February.
    ImpossibleBirthDate,
}

const DEFECTS: [Defect; 4] = [
    Defect::BadCheckDigit,
    Defect::GradeOutOfRange,
    Defect::MissingSchoolName,
    Defect::ImpossibleBirthDate,
];

/// The simulated registry: `students` records from `seed`, of which every
/// `invalid_every`-th is invalid (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EducationSim {
    /// Seed of the synthetic population.
    pub seed: u64,
    /// Number of students.
    pub students: u64,
    /// One record in this many is invalid; 0 disables invalid records.
    pub invalid_every: u64,
}

/// One student record as the registry serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Student {
    /// The record's id in the registry (`student_id`).
    pub id: String,
    /// The record.
    pub value: Value,
    /// Why it is invalid, if it is.
    pub defect: Option<Defect>,
    /// Ground truth: the student's index in the population.
    pub resident_index: u64,
    /// Ground truth: the guardian's index in the population.
    pub guardian_index: u64,
}

/// Domain tag of the registry's hashes.
const TAG: u64 = 0x0045_4455;

/// Registries of at most this many students draw from a [`Population::new`] (about five
/// residents per student); larger ones, such as an endless registry of `u64::MAX`, from
/// [`Population::unbounded`], whose IDs are not made unique.
const UNIQUE_STUDENTS: u64 = 1 << 29;

/// Reference year for grades: a student born in `YEAR - 7` is in grade 1.
const SCHOOL_YEAR: i32 = 2026;

impl EducationSim {
    /// The population the students and guardians are drawn from: residents up to the
    /// last student's, their IDs unique (built once per seed and size, then reused).
    pub fn population(&self) -> Population {
        match self.students.checked_sub(1) {
            Some(last) if last < UNIQUE_STUDENTS => {
                Population::new(self.seed, Population::unbounded(self.seed).child(last) + 1)
            }
            _ => Population::unbounded(self.seed),
        }
    }

    /// Student `i` (`0..students`). For many, [`EducationSim::all`] is faster.
    pub fn student(&self, i: u64) -> Student {
        self.student_of(&self.population(), i)
    }

    /// Student `i` of [`EducationSim::population`].
    fn student_of(&self, population: &Population, i: u64) -> Student {
        let resident_index = population.child(i);
        let child = population.resident(resident_index);
        let first = population.household(child.household).members.start;
        // Either parent (head or spouse) is registered as guardian.
        let guardian_index = first + hash(&[self.seed, TAG, i]) % 2;
        let parent = population.resident(guardian_index);
        let grade = i64::from((SCHOOL_YEAR - child.birth_date.year() - 6).clamp(1, 12));
        let id = format!("EDU{i:010}");
        let defect = (self.invalid_every > 0 && i % self.invalid_every == self.invalid_every - 1)
            .then(|| DEFECTS[((i / self.invalid_every) % DEFECTS.len() as u64) as usize]);
        let mut value = json!({
            "student_id": id,
            "student": {
                "name": child.name,
                "resident_id": child.resident_id,
                "sex": child.sex.as_str(),
                "birth_date": child.birth_date.to_string(),
            },
            "school": {
                "code": format!("{}{:04}", &child.division[..6], i % 37),
                "name": format!("第{}小学", i % 37 + 1),
            },
            "grade": grade,
            "enrolled_on": format!("{}-09-01", SCHOOL_YEAR - grade as i32 + 1),
            "guardian": {
                "name": parent.name,
                "relation": if parent.sex == Sex::Male { "father" } else { "mother" },
                "phone": parent.phone,
            },
        });
        match defect {
            Some(Defect::BadCheckDigit) => {
                let rid = &child.resident_id;
                let wrong = if rid.ends_with('0') { '1' } else { '0' };
                value["student"]["resident_id"] = json!(format!("{}{wrong}", &rid[..17]));
            }
            Some(Defect::GradeOutOfRange) => value["grade"] = json!(13),
            Some(Defect::MissingSchoolName) => {
                if let Some(school) = value["school"].as_object_mut() {
                    school.remove("name");
                }
            }
            Some(Defect::ImpossibleBirthDate) => {
                value["student"]["birth_date"] = json!(format!("{}-02-30", child.birth_date.year()))
            }
            None => {}
        }
        Student {
            id,
            value,
            defect,
            resident_index,
            guardian_index,
        }
    }

    /// Every student, in registry order.
    pub fn all(&self) -> impl Iterator<Item = Student> + '_ {
        let population = self.population();
        (0..self.students).map(move |i| self.student_of(&population, i))
    }

    /// `(department, student id, resident index)` of every student.
    pub fn ground_truth(&self) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        let population = Population::unbounded(self.seed);
        (0..self.students).map(move |i| {
            (
                Department::Education,
                format!("EDU{i:010}"),
                population.child(i),
            )
        })
    }

    /// The registry's HTTP API.
    pub fn router(self) -> Router {
        self.router_with(Faults::default())
    }

    /// The registry's HTTP API, failing as `faults` says (`invalid_rate` aside: the
    /// registry's invalid records are `invalid_every`).
    pub fn router_with(self, faults: Faults) -> Router {
        let faults = FaultState::new(faults, hash(&[self.seed, TAG]));
        Router::new()
            .route(STUDENTS_PATH, get(list_students))
            .with_state(Arc::new(EducationState {
                population: self.population(),
                sim: self,
                faults,
            }))
    }
}

#[derive(Debug)]
struct EducationState {
    sim: EducationSim,
    population: Population,
    faults: FaultState,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<u64>,
    size: Option<u64>,
}

fn error_body(status: StatusCode, message: &str) -> Value {
    let code = match status {
        StatusCode::BAD_REQUEST => 40001,
        StatusCode::TOO_MANY_REQUESTS => 42900,
        _ => 50000,
    };
    json!({"code": code, "msg": message})
}

async fn list_students(
    State(state): State<Arc<EducationState>>,
    Query(query): Query<PageQuery>,
) -> Response {
    let sim = &state.sim;
    let page = query.page.unwrap_or(1);
    let size = query.size.unwrap_or(100);
    if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
        let msg = format!("page must be >= 1 and size within 1..={MAX_PAGE_SIZE}");
        let status = StatusCode::BAD_REQUEST;
        return (status, Json(error_body(status, &msg))).into_response();
    }
    let start = (page - 1).saturating_mul(size).min(sim.students);
    let end = start.saturating_add(size).min(sim.students);
    faults::respond(&state.faults, start, error_body, || {
        // A duplicated boundary repeats the previous page's last student first.
        let first = if start > 0 && start < end && state.faults.duplicate(start) {
            start - 1
        } else {
            start
        };
        let list: Vec<Value> = (first..end)
            .map(|i| sim.student_of(&state.population, i).value)
            .collect();
        (
            HeaderMap::new(),
            json!({
                "code": 0,
                "msg": "ok",
                "data": {"total": sim.students, "list": list},
            }),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_record_is_invalid_with_defects_in_rotation() {
        let sim = EducationSim {
            seed: 1,
            students: 100,
            invalid_every: 10,
        };
        let defects: Vec<Defect> = sim.all().filter_map(|s| s.defect).collect();
        assert_eq!(defects.len(), 10);
        assert_eq!(&defects[..4], &DEFECTS);
        let rid = sim.student(9).value["student"]["resident_id"].clone();
        assert!(!govhub_schema::formats::resident_id::is_valid(
            rid.as_str().unwrap()
        ));
        assert_eq!(sim.student(19).value["grade"], json!(13));
        assert!(sim.student(29).value["school"].get("name").is_none());
        let birth = sim.student(39).value["student"]["birth_date"].clone();
        assert!(birth.as_str().unwrap().ends_with("-02-30"));
        assert_eq!(sim.student(8).defect, None);
    }

    #[test]
    fn students_are_the_populations_children_with_a_parent_as_guardian() {
        let sim = EducationSim {
            seed: 2,
            students: 300,
            invalid_every: 0,
        };
        // Any population of the seed at least as large has the same residents.
        let population = Population::new(2, 2000);
        for student in sim.all() {
            let child = population.resident(student.resident_index);
            let parent = population.resident(student.guardian_index);
            assert_eq!(
                student.value["student"]["resident_id"],
                json!(child.resident_id)
            );
            assert_eq!(student.value["guardian"]["name"], json!(parent.name));
            assert_eq!(child.household, parent.household);
            assert_eq!(child.role, crate::population::Role::Child);
        }
        // A bigger registry starts with the smaller one.
        let bigger = EducationSim {
            students: 400,
            ..sim
        };
        assert_eq!(bigger.student(299), sim.student(299));
    }
}
