use std::path::Path;

use chrono::{DateTime, Utc};
use govhub_core::{Batch, Source, SourceRecord};
use reqwest::{Client, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::{display_url, fetch_page};
use crate::pagination::{Page, PageError, PageRequest};
use crate::{ConnectError, CursorStore, HttpSourceConfig};

/// A connector that pulls a department's records over HTTP, page by page.
///
/// `poll` reads from the current position and stages the cursor after the page;
/// `ack` persists that cursor; `nack` rewinds to the last persisted one.
#[derive(Debug)]
pub struct HttpSource {
    name: String,
    config: HttpSourceConfig,
    url: Url,
    client: Client,
    store: CursorStore,
    /// The last durably committed cursor.
    committed: Value,
    /// Where the next poll reads: `committed`, or past batches not yet acked.
    position: Value,
}

impl HttpSource {
    /// Builds the connector `name` and loads its committed cursor from `data_dir`.
    pub fn new(
        name: &str,
        config: HttpSourceConfig,
        data_dir: &Path,
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
            .build()
            .map_err(|e| config_error(format!("HTTP client: {e}")))?;
        let store = CursorStore::new(data_dir);
        let committed = store
            .load(name)
            .map_err(|source| ConnectError::CursorStore {
                connector: name.to_owned(),
                path: store.path(name).display().to_string(),
                source,
            })?
            .unwrap_or_else(|| config.pagination.start());
        Ok(HttpSource {
            name: name.to_owned(),
            config,
            url,
            client,
            store,
            position: committed.clone(),
            committed,
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
        let source_record_id = match payload.pointer(&self.config.record_id) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            // Still published to the dead-letter topic by validation, under a
            // position-derived id, rather than dropped.
            _ => fallback_id,
        };
        SourceRecord {
            connector: self.name.clone(),
            department: self.config.department.clone(),
            kind: self.config.kind.clone(),
            source_record_id,
            payload,
            fetched_at,
        }
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
        let pagination = &self.config.pagination;
        loop {
            let request = pagination
                .request(&self.position)
                .map_err(|e| self.page_error(&self.url, e))?;
            let url = self.target(&request)?;
            let fetched = fetch_page(
                &self.client,
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
                .map(|(i, payload)| {
                    self.record(payload, format!("#{position}item={i}"), fetched_at)
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

    async fn ack(&mut self, batch: &Batch) -> Result<(), ConnectError> {
        let store = self.store.clone();
        let name = self.name.clone();
        let cursor = batch.cursor.clone();
        tokio::task::spawn_blocking(move || store.store(&name, &cursor))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| ConnectError::CursorStore {
                connector: self.name.clone(),
                path: self.store.path(&self.name).display().to_string(),
                source,
            })?;
        self.committed = batch.cursor.clone();
        Ok(())
    }

    fn nack(&mut self, _batch: &Batch) {
        self.position = self.committed.clone();
    }
}

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
