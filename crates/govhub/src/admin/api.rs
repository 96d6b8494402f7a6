//! The JSON API: connectors (status, pause, resume, backfill), recent dead letters, and
//! persons by id.
//!
//! ```text
//! GET  /api/connectors                   {"connectors": [...], "identity": {...}}
//! GET  /api/connectors/{name}            one connector
//! POST /api/connectors/{name}/pause      202, the connector
//! POST /api/connectors/{name}/resume     202, the connector
//! POST /api/connectors/{name}/backfill   202, the connector; body {"since", "republish"}, optional
//!                                       (pause, resume, backfill: 409 with connectors spread)
//! GET  /api/dlq?limit=N&payload=true     recent dead letters, newest first
//! GET  /api/persons/{id}                 the person, a retired id followed to where it went
//! GET  /api/views                        the sharing log: events and field actions per subscriber, kind, UTC day
//! GET  /api/cluster                      the instances of this hub, which one is active (also on a standby)
//! ```
//!
//! A POST needs `Content-Type: application/json` and, from a browser, the dashboard's
//! own origin ([`super::guard`]). Record contents (dead letters' payloads, persons)
//! need the token: a server without one answers them `403`.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use govhub_core::Violation;
use govhub_resolve::identity::{PersonView, is_person_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AdminState, AppError};
use crate::dlq;
use crate::status::{ConnectorView, Overview, RequestError};

/// Dead letters `/api/dlq` returns without `limit`.
pub const DEFAULT_DLQ_LIMIT: usize = 50;
/// The most `/api/dlq` returns at once.
pub const MAX_DLQ_LIMIT: usize = 1000;

/// The API's routes, to be merged into the admin router.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/connectors", get(connectors))
        .route("/api/connectors/{name}", get(connector))
        .route("/api/connectors/{name}/pause", post(pause))
        .route("/api/connectors/{name}/resume", post(resume))
        .route("/api/connectors/{name}/backfill", post(backfill))
        .route("/api/dlq", get(dead_letters))
        .route("/api/persons/{id}", get(person))
        .route("/api/views", get(views))
}

/// Routes answering with record contents (names, ID numbers, phone numbers) are open
/// only to holders of the token: with one configured, the token layer has checked it
/// before the handler runs; without, they are refused to everyone.
fn contents_allowed(state: &AdminState) -> Result<(), AppError> {
    match state.token {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden(format!(
            "record contents are served only with an admin token: set {} to the token \
             clients must send (Authorization: Bearer <token>) and restart",
            super::auth::TOKEN_VAR
        ))),
    }
}

impl From<RequestError> for AppError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Unknown(_) => AppError::NotFound(e.to_string()),
            RequestError::Invalid(_) => AppError::BadRequest(e.to_string()),
        }
    }
}

type Accepted = (StatusCode, Json<ConnectorView>);

async fn connectors(State(state): State<AdminState>) -> Json<Overview> {
    Json(state.status.overview())
}

async fn connector(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<ConnectorView>, AppError> {
    Ok(Json(state.status.connector(&name)?))
}

/// 409 when the connectors are spread over the instances: they run where the group
/// assigns them, not in this hub, which would accept a pause or backfill it cannot
/// carry out.
fn runs_here(state: &AdminState) -> Result<(), AppError> {
    match &state.cluster {
        Some(members) if members.spread().is_some() => Err(AppError::Conflict(
            "the connectors are spread over the instances of this hub ([cluster] \
             spread_connectors): pause, resume and backfill are not available through the \
             API; stop the instances and use `govhub backfill`, or run without spreading"
                .into(),
        )),
        _ => Ok(()),
    }
}

async fn pause(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Accepted, AppError> {
    runs_here(&state)?;
    Ok((StatusCode::ACCEPTED, Json(state.status.pause(&name)?)))
}

async fn resume(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Accepted, AppError> {
    runs_here(&state)?;
    Ok((StatusCode::ACCEPTED, Json(state.status.resume(&name)?)))
}

/// The body of a backfill request; both fields optional, as in `govhub backfill`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackfillRequest {
    /// Re-read from this time (updated_since connectors); absent: from the beginning.
    since: Option<String>,
    /// Publish unchanged records again.
    #[serde(default)]
    republish: bool,
}

async fn backfill(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Accepted, AppError> {
    runs_here(&state)?;
    // JSON, as the guard has checked; an empty body means the defaults.
    let request: BackfillRequest = if body.iter().all(u8::is_ascii_whitespace) {
        BackfillRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("backfill body: {e}")))?
    };
    let view = state
        .status
        .request_backfill(&name, request.since.as_deref(), request.republish)?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

#[derive(Debug, Deserialize)]
struct DlqQuery {
    limit: Option<usize>,
    #[serde(default)]
    payload: bool,
}

/// One dead letter as `/api/dlq` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    /// `partition:offset` position in the dead-letter topic.
    pub partition: i32,
    /// See `partition`.
    pub offset: u64,
    /// The dead letter's event id.
    pub id: String,
    /// Connector that pulled the record.
    pub connector: String,
    /// Department owning the source system.
    pub department: String,
    /// Declared record kind.
    pub kind: String,
    /// The record's id in the source system.
    pub source_record_id: String,
    /// `map` or `validate`.
    pub stage: String,
    /// Every violation (locations and masked messages, no values).
    pub violations: Vec<Violation>,
    /// When the record was fetched.
    pub fetched_at: DateTime<Utc>,
    /// The record as the department sent it: only with `payload=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// Recent dead letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetters {
    /// All dead letters in the topic.
    pub total: usize,
    /// The newest `limit` of them, newest first.
    pub dead_letters: Vec<DeadLetterView>,
}

async fn dead_letters(
    State(state): State<AdminState>,
    query: Result<Query<DlqQuery>, QueryRejection>,
) -> Result<Json<DeadLetters>, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if query.payload {
        contents_allowed(&state)?;
    }
    let limit = query.limit.unwrap_or(DEFAULT_DLQ_LIMIT);
    if !(1..=MAX_DLQ_LIMIT).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit must be within 1..={MAX_DLQ_LIMIT}"
        )));
    }
    let Some(config) = &state.config else {
        return Err(AppError::Unavailable(
            "this server has no dead-letter topic to read".into(),
        ));
    };
    let letters = dlq::read(config)
        .await
        .map_err(|e| AppError::Internal(format!("reading the dead-letter topic: {e}")))?;
    let total = letters.len();
    let mut letters = letters;
    // Stable: letters fetched together keep their order in the topic.
    letters.sort_by_key(|s| s.letter.fetched_at);
    let dead_letters = letters
        .into_iter()
        .rev()
        .take(limit)
        .map(|s| DeadLetterView {
            partition: s.partition,
            offset: s.offset,
            id: s.id,
            connector: s.letter.connector,
            department: s.letter.department,
            kind: s.letter.kind,
            source_record_id: s.letter.source_record_id,
            stage: s.letter.stage,
            violations: s.letter.violations,
            fetched_at: s.letter.fetched_at,
            payload: query.payload.then_some(s.letter.payload),
        })
        .collect();
    Ok(Json(DeadLetters {
        total,
        dead_letters,
    }))
}

/// A person by id: 200 with the person (a retired id followed to the live person it
/// went into), 400 for what is not a person id, 404 for an id never given, 503 while no
/// run is active, 403 without a token (it carries personal data).
async fn person(
    State(state): State<AdminState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PersonView>, AppError> {
    contents_allowed(&state)?;
    // What is not a person id is not echoed: it could be a resident ID sent by mistake.
    let not_an_id = || AppError::BadRequest("a person id is p and 16 lowercase hex digits".into());
    let Path(id) = id.map_err(|_| not_an_id())?;
    if !is_person_id(&id) {
        return Err(not_an_id());
    }
    let Some(persons) = &state.persons else {
        return Err(AppError::Unavailable(
            "this server cannot ask identity resolution about persons".into(),
        ));
    };
    let view = persons
        .person(&id)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    view.map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no person {id:?}")))
}

/// `/api/views`: the sharing log, every line committed in this data directory.
#[derive(Debug, Serialize)]
struct SharingReport {
    /// One line per subscriber, record kind and UTC day.
    views: Vec<crate::views::log::SharingDay>,
}

/// Counts and field names only, no record contents: the same rules as the connectors'
/// data-quality report.
async fn views(State(state): State<AdminState>) -> Result<Json<SharingReport>, AppError> {
    let Some(log) = &state.views else {
        return Err(AppError::Unavailable(
            "this server has no hub running views".into(),
        ));
    };
    Ok(Json(SharingReport {
        views: log.report(),
    }))
}

/// `GET /api/cluster`: the instances of this hub as its group on the broker knows them,
/// the active one first; without a group (no Kafka, at-least-once, `run --once`) this
/// instance alone, active. Answered by standbys too, so any instance shows the cluster.
/// With connectors spread, each instance lists the connectors it runs.
pub fn cluster<S: Clone + Send + Sync + 'static>(
    members: Option<crate::cluster::Members>,
) -> axum::routing::MethodRouter<S> {
    get(move || async move {
        let this = crate::cluster::instance_name();
        let Some(members) = members else {
            return Ok(Json(serde_json::json!({
                "group": null,
                "this_instance": this,
                "instances": [{"instance": this, "host": null, "role": "active"}],
            })));
        };
        let listed = members.list().await.map_err(|e| {
            AppError::Unavailable(format!("the group coordinator did not answer: {e}"))
        })?;
        let instances: Vec<Value> = listed
            .into_iter()
            .map(|m| {
                let role = if m.active { "active" } else { "standby" };
                let mut instance =
                    serde_json::json!({"instance": m.instance, "host": m.host, "role": role});
                if let Some(connectors) = m.connectors {
                    instance["connectors"] = connectors.into();
                }
                instance
            })
            .collect();
        Ok::<_, AppError>(Json(serde_json::json!({
            "group": members.group(),
            "this_instance": this,
            "instances": instances,
        })))
    })
}
