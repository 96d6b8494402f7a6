use std::collections::HashSet;

use chrono::{DateTime, Utc};
use govhub_core::{Batch, Classified, Source, SourceRecord};
use reqwest::{Client, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::circuit::{CircuitBreaker, CircuitState};
use crate::http::{Transport, display_url, fetch_page};
use crate::pagination::{Page, PageError, PageRequest};
use crate::{ConnectError, HttpSourceConfig};

/// A connector that pulls a department's records over HTTP, page by page.
///
/// `poll` reads from the current position and stages the cursor after the page; `ack`
/// (after the hub durably committed the batch with its state) makes that cursor the
/// committed one; `nack` rewinds to the last committed one. The source keeps no state on
/// disk itself: the hub's state store holds the committed cursor.
#[derive(Debug)]
pub struct HttpSource {
    name: String,
    config: HttpSourceConfig,
    url: Url,
    transport: Transport,
    circuit: CircuitBreaker,
    /// The last durably committed cursor.
    committed: Value,
    /// Where the next poll reads: `committed`, or past batches not yet acked.
    position: Value,
    /// Digests of the cursors this sync has read from: a cursor seen twice is a loop.
    visited: HashSet<[u8; 16]>,
    /// Pages read in this sync.
    pages: u32,
}

impl HttpSource {
    /// Builds the connector `name`, reading from `committed` (the cursor the hub's state
    /// store holds; `None`: from the beginning); `${VAR}` secrets are read from the
    /// process environment.
    pub fn new(
        name: &str,
        config: HttpSourceConfig,
        committed: Option<Value>,
    ) -> Result<Self, ConnectError> {
        Self::with_env(name, config, committed, &|var| std::env::var(var).ok())
    }

    /// Like [`HttpSource::new`], but `${VAR}` secrets are looked up through `env`
    /// (the demo hands its simulators' credentials over this way instead of setting
    /// process environment variables).
    pub fn with_env(
        name: &str,
        config: HttpSourceConfig,
        committed: Option<Value>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConnectError> {
        let config_error = |message: String| ConnectError::Config {
            connector: name.to_owned(),
            message,
        };
        let problems = config.problems();
        if !problems.is_empty() {
            let joined: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            return Err(config_error(joined.join("; ")));
        }
        let url = Url::parse(&config.url).map_err(|e| config_error(format!("url: {e}")))?;
        let client = Client::builder()
            .timeout(config.timeout())
            .user_agent(concat!("govhub/", env!("CARGO_PKG_VERSION")))
            // Each redirect is decided by the connector (`crate::redirect`): reqwest's
            // own policy would resend custom headers (API keys, signatures) anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config_error(format!("HTTP client: {e}")))?;
        let auth = match &config.auth {
            Some(auth) => Some(
                auth.resolve(env)
                    .map_err(|e| config_error(format!("auth: {e}")))?,
            ),
            None => None,
        };
        let transport = Transport {
            client,
            auth,
            limiter: config.reliability.rate_limiter(),
            retry: config.reliability.retry_policy(),
            max_response_bytes: config.reliability.max_response_bytes,
            redirects: config.follow_redirects,
        };
        let circuit = config.reliability.circuit_breaker();
        let committed = committed.unwrap_or_else(|| config.pagination.start());
        Ok(HttpSource {
            name: name.to_owned(),
            config,
            url,
            transport,
            circuit,
            position: committed.clone(),
            committed,
            visited: HashSet::new(),
            pages: 0,
        })
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last committed cursor.
    pub fn committed_cursor(&self) -> &Value {
        &self.committed
    }

    fn record(
        &self,
        payload: Value,
        fallback_id: String,
        fetched_at: DateTime<Utc>,
    ) -> SourceRecord {
        source_record(&self.name, &self.config, payload, fallback_id, fetched_at)
    }

    /// The URL `request` reads. A style may point elsewhere (a `Link` target) but only on
    /// the connector's own origin: whatever credentials the connector sends go with it.
    fn target(&self, request: &PageRequest) -> Result<Url, ConnectError> {
        match &request.url {
            None => Ok(self.url.clone()),
            Some(url) if url.origin() == self.url.origin() => Ok(url.clone()),
            Some(url) => Err(ConnectError::Envelope {
                connector: self.name.clone(),
                url: display_url(&self.url),
                message: format!(
                    "refusing to follow a page on another origin ({})",
                    url.origin().ascii_serialization()
                ),
            }),
        }
    }

    fn page_error(&self, url: &Url, error: PageError) -> ConnectError {
        let url = display_url(url);
        let connector = self.name.clone();
        match error {
            PageError::Cursor(m) => ConnectError::Envelope {
                connector,
                url,
                message: format!("bad cursor: {m}"),
            },
            PageError::Response(message) => ConnectError::Envelope {
                connector,
                url,
                message,
            },
            PageError::Config(message) => ConnectError::Config { connector, message },
        }
    }
}

impl Source for HttpSource {
    type Error = ConnectError;

    async fn poll(&mut self) -> Result<Option<Batch>, ConnectError> {
        let now = Instant::now();
        if let Err(open) = self.circuit.allow(now) {
            return Err(ConnectError::CircuitOpen {
                connector: self.name.clone(),
                retry_in_secs: open.remaining(now).as_secs(),
            });
        }
        let result = self.poll_pages().await;
        match &result {
            Ok(_) => self.circuit.record_success(),
            Err(e) => {
                self.circuit.record_failure(Instant::now());
                tracing::warn!(connector = %self.name, class = e.class().as_str(), error = %e, "poll failed");
            }
        }
        result
    }

    async fn ack(&mut self, batch: &Batch) -> Result<(), ConnectError> {
        self.committed = batch.cursor.clone();
        Ok(())
    }

    fn nack(&mut self, _batch: &Batch) {
        self.position = self.committed.clone();
        // Reading the same pages again is the point of a nack, not a loop.
        self.begin_sync();
    }
}

impl HttpSource {
    /// The circuit breaker's state, for status reports.
    pub fn circuit_state(&self) -> CircuitState {
        self.circuit.state(Instant::now())
    }

    /// Backfill: reads from `cursor` (`None`: the beginning) on the next poll, and
    /// returns that cursor for the caller to commit. Batches polled before and not yet
    /// acked are still acked in order; the reset comes after them.
    pub fn reset(&mut self, cursor: Option<Value>) -> Value {
        let cursor = cursor.unwrap_or_else(|| self.config.pagination.start());
        self.position = cursor.clone();
        self.committed = cursor.clone();
        self.begin_sync();
        cursor
    }

    /// A new sync starts: the loop and page-limit guards count from here.
    pub fn begin_sync(&mut self) {
        self.visited.clear();
        self.pages = 0;
    }

    /// Counts a page read from `position` and refuses one the sync has read from
    /// already or one past the page limit.
    fn guard(&mut self, position: &Value) -> Result<(), ConnectError> {
        let limit = self.config.reliability.max_pages_per_sync;
        if self.pages >= limit {
            return Err(ConnectError::PageLimit {
                connector: self.name.clone(),
                url: display_url(&self.url),
                limit,
            });
        }
        let digest = Sha256::digest(position.to_string().as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        if !self.visited.insert(key) {
            return Err(ConnectError::CursorCycle {
                connector: self.name.clone(),
                url: display_url(&self.url),
                pages: self.pages,
            });
        }
        self.pages += 1;
        Ok(())
    }

    /// Reads pages from the current position until one has new records or the API has
    /// nothing more.
    async fn poll_pages(&mut self) -> Result<Option<Batch>, ConnectError> {
        loop {
            let position = self.position.clone();
            self.guard(&position)?;
            let pagination = &self.config.pagination;
            let request = pagination
                .request(&self.position)
                .map_err(|e| self.page_error(&self.url, e))?;
            let url = self.target(&request)?;
            let fetched = fetch_page(
                &self.transport,
                &self.name,
                &url,
                &request.query,
                self.config.status.as_ref(),
                &self.config.records,
            )
            .await?;
            let page = Page {
                url: &fetched.url,
                headers: &fetched.headers,
                body: &fetched.body,
                records: &fetched.records,
            };
            let advance = pagination
                .advance(&self.position, &page)
                .map_err(|e| self.page_error(&url, e))?;
            // Stage only a cursor the next poll can follow: a bad one (say, a next link
            // to another host) fails this poll rather than every poll after the ack.
            let next_request = pagination
                .request(&advance.next)
                .map_err(|e| self.page_error(&url, e))?;
            self.target(&next_request)?;
            let fetched_at = Utc::now();
            let position = fallback_position(&request);
            let fresh: Vec<SourceRecord> = fetched
                .records
                .into_iter()
                .enumerate()
                .skip(advance.skip)
                .flat_map(|(i, payload)| explode(self.config.explode.as_deref(), payload, i))
                .map(|(position_in_page, payload)| {
                    let fallback = format!("#{position}item={position_in_page}");
                    self.record(payload, fallback, fetched_at)
                })
                .collect();
            self.position = advance.next.clone();
            if !fresh.is_empty() {
                return Ok(Some(Batch {
                    records: fresh,
                    cursor: advance.next,
                }));
            }
            if !advance.more {
                return Ok(None);
            }
        }
    }
}

/// A record of connector `name` with its source record id read from the item at
/// `config.record_id`, or `fallback_id` when the item has none there (still published,
/// to the dead-letter topic by validation, under a position-derived id, rather than
/// dropped).
pub fn source_record(
    name: &str,
    config: &HttpSourceConfig,
    payload: Value,
    fallback_id: String,
    fetched_at: DateTime<Utc>,
) -> SourceRecord {
    let source_record_id = match payload.pointer(&config.record_id) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => fallback_id,
    };
    SourceRecord {
        connector: name.to_owned(),
        department: config.department.clone(),
        kind: config.kind.clone(),
        source_record_id,
        payload,
        fetched_at,
    }
}

/// The records one API item stands for: the item itself, or with `explode` set, each
/// element of the array at that pointer, carrying the rest of the item under `_parent`
/// (a household's members, each with the household's address). An item whose pointer
/// holds no array is passed on whole, so validation rejects it visibly.
pub fn explode(pointer: Option<&str>, mut item: Value, index: usize) -> Vec<(String, Value)> {
    let Some(pointer) = pointer else {
        return vec![(index.to_string(), item)];
    };
    let members = match item.pointer_mut(pointer) {
        Some(Value::Array(members)) => std::mem::take(members),
        _ => return vec![(index.to_string(), item)],
    };
    if let Some(slot) = item.pointer_mut(pointer) {
        *slot = Value::Null;
    }
    members
        .into_iter()
        .enumerate()
        .map(|(j, mut member)| {
            if let Value::Object(map) = &mut member {
                map.insert(PARENT_KEY.to_owned(), item.clone());
            }
            (format!("{index}.{j}"), member)
        })
        .collect()
}

/// Key under which an exploded element carries its parent item.
pub const PARENT_KEY: &str = "_parent";

/// Where a page is, for the ids of records that lack one: the pagination parameters as
/// before, and for a URL the API linked to, a digest of it. Never the connector's own
/// query nor a linked URL as such: either may carry credentials, and these ids are
/// published.
fn fallback_position(request: &PageRequest) -> String {
    let mut position = String::new();
    if let Some(url) = &request.url {
        let digest = Sha256::digest(url.as_str().as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        position.push_str(&format!("link={hex}&"));
    }
    for (k, v) in &request.query {
        position.push_str(&format!("{k}={v}&"));
    }
    position
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn explode_hands_out_each_member_with_its_parent() {
        let household = json!({"hh_id": "H1", "address": {"xzqh": "110105"},
            "members": [{"cybh": "H101"}, {"cybh": "H102"}]});
        let out = explode(Some("/members"), household, 3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].0, "3.1");
        assert_eq!(out[1].1["cybh"], "H102");
        assert_eq!(out[1].1["_parent"]["address"]["xzqh"], "110105");
        assert_eq!(out[1].1["_parent"]["members"], Value::Null);
        // No array: the item goes on whole, to be rejected visibly downstream.
        let odd = explode(Some("/members"), json!({"hh_id": "H2"}), 0);
        assert_eq!(odd, vec![("0".to_owned(), json!({"hh_id": "H2"}))]);
        assert_eq!(explode(None, json!(1), 7), vec![("7".to_owned(), json!(1))]);
    }
}
