//! Department APIs that misbehave, each in one way, for testing that one bad system
//! cannot hold a hub's other connectors back.
//!
//! Every server listens on an ephemeral loopback port, answers at [`PATH`] with the
//! student registry's envelope (`{"code": 0, "msg": "ok", "data": {"list": [...]}}`,
//! records at [`RECORDS`], ids at [`RECORD_ID`]) and serves canonical
//! `education.enrollment` records built from the registry's students, so a connector
//! needs no mapping. Record ids carry the server's own prefix (`LOOP…`, `ENDLESS…`, …)
//! so they never collide with the real registry's.
//!
//! | server | pagination it speaks | misbehaviour |
//! |---|---|---|
//! | [`LoopingCursor`] | `cursor_token` ([`TOKEN_PARAM`], [`NEXT_TOKEN`]) | the next token cycles A → B → A …, every page full of records |
//! | [`EndlessPages`] | `page_number` (`page`, `size`) | every page is full and has fresh ids: there is no last page |
//! | [`Trickle`] | any (one page) | 200 at once, then the body one byte per interval, chunked |
//! | [`Oversized`] | any (one page) | a valid JSON body larger than a given size, streamed or with `Content-Length` |
//! | [`AlwaysFailing`] | any | always HTTP 503, optionally with `Retry-After` |
//!
//! Trickle and Oversized write HTTP/1.1 by hand on a plain TCP listener: a slow or
//! huge streamed body needs a body stream type, and this crate depends on none (axum
//! alone cannot build one). Each connection answers one request and closes.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::education::{EducationSim, MAX_PAGE_SIZE, STUDENTS_PATH};
use crate::server::{RunningSim, serve};

/// Path every misbehaving server answers at (the student registry's).
pub const PATH: &str = STUDENTS_PATH;
/// JSON pointer to the records in a response body.
pub const RECORDS: &str = "/data/list";
/// JSON pointer to a record's id.
pub const RECORD_ID: &str = "/student_id";
/// JSON pointer to the business status code (0: success) and to its message.
pub const STATUS_CODE: &str = "/code";
/// See [`STATUS_CODE`].
pub const STATUS_MESSAGE: &str = "/msg";
/// Query parameter [`LoopingCursor`] takes its token in.
pub const TOKEN_PARAM: &str = "cursor";
/// JSON pointer to [`LoopingCursor`]'s next token.
pub const NEXT_TOKEN: &str = "/data/next_cursor";
/// Kind of every record served.
pub const KIND: &str = "education.enrollment";

/// How long a hand-written server waits for a request's head before hanging up.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head a hand-written server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Chunk size of a streamed [`Oversized`] body.
const CHUNK: usize = 64 * 1024;

/// A misbehaving server running on a loopback port until dropped or shut down.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    server: Server,
}

#[derive(Debug)]
enum Server {
    Axum(RunningSim),
    Raw(RawServer),
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The full URL of its list endpoint, `http://<addr>/api/v1/students`.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Requests received so far (for a hand-written server: request heads read).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Stops the server. Requests in flight on an axum server are finished; trickling
    /// and streaming connections are cut, since they would never finish.
    pub async fn shutdown(self) -> io::Result<()> {
        match self.server {
            Server::Axum(server) => server.shutdown().await,
            Server::Raw(server) => server.shutdown().await,
        }
    }
}

/// Loopback, port 0.
fn ephemeral() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Student `i` of the registry of `seed` as a canonical enrollment record with `id`.
fn record(seed: u64, i: u64, id: String) -> Value {
    let registry = EducationSim {
        seed,
        students: u64::MAX,
        invalid_every: 0,
    };
    let mut value = registry.student(i).value;
    value["student_id"] = Value::String(id);
    value
}

/// The registry's error envelope.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({"code": code, "msg": message}))).into_response()
}

/// Page size from the query: the default when absent, `None` when out of range.
fn page_size(asked: Option<u64>, default: u64) -> Option<u64> {
    let size = asked.unwrap_or(default);
    (1..=MAX_PAGE_SIZE).contains(&size).then_some(size)
}

async fn start_axum(router: Router, requests: Arc<AtomicU64>) -> io::Result<Running> {
    let server = serve(router, ephemeral()).await?;
    Ok(Running {
        addr: server.addr(),
        requests,
        server: Server::Axum(server),
    })
}

// ---------------------------------------------------------------------------------------
// LoopingCursor
// ---------------------------------------------------------------------------------------

/// `cursor_token` pagination whose next token cycles: the first request (no token) is
/// position 0, position `p` links to [`LoopingCursor::token`]`((p + 1) % cycle)`, so
/// with `cycle = 2` the tokens go `cursor-1`, `cursor-0`, `cursor-1`, … and the walk
/// never ends. Every page holds `page_size` records (`?size=` overrides, ≤ 500); the
/// same position always holds the same records (`LOOP` + position + index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopingCursor {
    /// Seed of the registry whose students the records are.
    pub seed: u64,
    /// Distinct tokens in the cycle (at least 2; 1 would repeat the token just sent,
    /// which clients already read as "caught up").
    pub cycle: u64,
    /// Records per page without `?size=`.
    pub page_size: u64,
}

impl Default for LoopingCursor {
    fn default() -> Self {
        LoopingCursor {
            seed: 2026,
            cycle: 2,
            page_size: 20,
        }
    }
}

#[derive(Debug, Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
    size: Option<u64>,
}

struct LoopState {
    sim: LoopingCursor,
    requests: Arc<AtomicU64>,
}

impl LoopingCursor {
    /// The token that asks for position `p`.
    pub fn token(p: u64) -> String {
        format!("cursor-{p}")
    }

    fn position(&self, token: Option<&str>) -> Option<u64> {
        match token {
            None => Some(0),
            Some(t) => t
                .strip_prefix("cursor-")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p < self.cycle),
        }
    }

    /// The server's router.
    fn router(self, requests: Arc<AtomicU64>) -> Router {
        Router::new()
            .route(PATH, get(looping_page))
            .with_state(Arc::new(LoopState {
                sim: LoopingCursor {
                    cycle: self.cycle.max(2),
                    ..self
                },
                requests,
            }))
    }

    /// Starts it on an ephemeral loopback port.
    pub async fn start(&self) -> io::Result<Running> {
        let requests = Arc::new(AtomicU64::new(0));
        start_axum(self.router(requests.clone()), requests).await
    }
}

async fn looping_page(
    State(state): State<Arc<LoopState>>,
    Query(query): Query<CursorQuery>,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let sim = &state.sim;
    let Some(size) = page_size(query.size, sim.page_size) else {
        let msg = format!("size must be within 1..={MAX_PAGE_SIZE}");
        return error(StatusCode::BAD_REQUEST, 40001, &msg);
    };
    let Some(p) = sim.position(query.cursor.as_deref()) else {
        return error(StatusCode::BAD_REQUEST, 40002, "unknown cursor");
    };
    let list: Vec<Value> = (0..size)
        .map(|j| record(sim.seed, p * size + j, format!("LOOP{p:06}{j:04}")))
        .collect();
    let next = LoopingCursor::token((p + 1) % sim.cycle);
    Json(json!({
        "code": 0,
        "msg": "ok",
        "data": {"list": list, "next_cursor": next},
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------
// EndlessPages
// ---------------------------------------------------------------------------------------

/// `page_number` pagination (`?page=N&size=S`, pages from 1) with no last page: every
/// page is full, with fresh ids (`ENDLESS` + page + index), however far a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndlessPages {
    /// Seed of the registry whose students the records are.
    pub seed: u64,
    /// Records per page without `?size=`.
    pub page_size: u64,
}

impl Default for EndlessPages {
    fn default() -> Self {
        EndlessPages {
            seed: 2026,
            page_size: 100,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<u64>,
    size: Option<u64>,
}

struct EndlessState {
    sim: EndlessPages,
    requests: Arc<AtomicU64>,
}

impl EndlessPages {
    /// The server's router.
    fn router(self, requests: Arc<AtomicU64>) -> Router {
        Router::new()
            .route(PATH, get(endless_page))
            .with_state(Arc::new(EndlessState {
                sim: self,
                requests,
            }))
    }

    /// Starts it on an ephemeral loopback port.
    pub async fn start(&self) -> io::Result<Running> {
        let requests = Arc::new(AtomicU64::new(0));
        start_axum(self.router(requests.clone()), requests).await
    }
}

async fn endless_page(
    State(state): State<Arc<EndlessState>>,
    Query(query): Query<PageQuery>,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let sim = &state.sim;
    let page = query.page.unwrap_or(1);
    let (Some(size), true) = (page_size(query.size, sim.page_size), page >= 1) else {
        let msg = format!("page must be >= 1 and size within 1..={MAX_PAGE_SIZE}");
        return error(StatusCode::BAD_REQUEST, 40001, &msg);
    };
    // Students repeat after a while (the ids do not): a client reading a million pages
    // must not make the server build a million distinct people.
    let list: Vec<Value> = (0..size)
        .map(|j| {
            let i = (page - 1).wrapping_mul(size).wrapping_add(j) % 100_000;
            record(sim.seed, i, format!("ENDLESS{page:012}{j:03}"))
        })
        .collect();
    Json(json!({
        "code": 0,
        "msg": "ok",
        "data": {"total": null, "list": list},
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------
// AlwaysFailing
// ---------------------------------------------------------------------------------------

/// A department system that is down: every request is answered `503 Service
/// Unavailable` with the registry's error envelope, and `Retry-After` when set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlwaysFailing {
    /// Seconds in a `Retry-After` header (a maintenance window); none when absent.
    pub retry_after: Option<u64>,
}

/// Another name for [`AlwaysFailing`].
pub type ServerDown = AlwaysFailing;

impl AlwaysFailing {
    /// The server's router: every path, every method.
    fn router(self, requests: Arc<AtomicU64>) -> Router {
        Router::new().fallback(move || {
            let requests = requests.clone();
            async move {
                requests.fetch_add(1, Ordering::Relaxed);
                let mut response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    50300,
                    "service unavailable",
                );
                if let Some(secs) = self.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                response
            }
        })
    }

    /// Starts it on an ephemeral loopback port.
    pub async fn start(&self) -> io::Result<Running> {
        let requests = Arc::new(AtomicU64::new(0));
        start_axum(self.router(requests.clone()), requests).await
    }
}

// ---------------------------------------------------------------------------------------
// Trickle
// ---------------------------------------------------------------------------------------

/// Answers `200 OK` with its headers at once, then sends a valid one-page body (the
/// registry envelope with `records` students, `TRICKLE` ids) one byte per `interval`
/// in chunked encoding: about 300 bytes per record, so at one byte a second a page of
/// three takes a quarter of an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trickle {
    /// Seed of the registry whose students the records are.
    pub seed: u64,
    /// Records in the body.
    pub records: u64,
    /// Delay between two bytes.
    pub interval: Duration,
}

impl Default for Trickle {
    fn default() -> Self {
        Trickle {
            seed: 2026,
            records: 3,
            interval: Duration::from_secs(1),
        }
    }
}

impl Trickle {
    /// The whole body it would send, if a client waited long enough.
    pub fn body(&self) -> Vec<u8> {
        let list: Vec<Value> = (0..self.records)
            .map(|j| record(self.seed, j, format!("TRICKLE{j:06}")))
            .collect();
        json!({"code": 0, "msg": "ok", "data": {"total": self.records, "list": list}})
            .to_string()
            .into_bytes()
    }

    /// Starts it on an ephemeral loopback port.
    pub async fn start(&self) -> io::Result<Running> {
        let body = Arc::new(self.body());
        let interval = self.interval;
        start_raw(move |stream| trickle(stream, body.clone(), interval)).await
    }
}

async fn trickle(mut stream: TcpStream, body: Arc<Vec<u8>>, interval: Duration) -> io::Result<()> {
    // Each byte goes out on its own, as from a stalled backend behind a proxy.
    stream.set_nodelay(true)?;
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        )
        .await?;
    for byte in body.iter() {
        let mut chunk = *b"1\r\n \r\n";
        chunk[3] = *byte;
        stream.write_all(&chunk).await?;
        tokio::time::sleep(interval).await;
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------
// Oversized
// ---------------------------------------------------------------------------------------

/// Answers `200 OK` with one valid JSON page (the registry envelope, `OVERSIZED` ids) of
/// more than `min_bytes` bytes: chunked without a length, so a client only finds out by
/// reading, or with `Content-Length` when `declare_length` is set. The body is built
/// once, at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    /// Seed of the registry whose students the records are.
    pub seed: u64,
    /// The body is longer than this.
    pub min_bytes: usize,
    /// Send `Content-Length` instead of streaming chunks.
    pub declare_length: bool,
}

impl Default for Oversized {
    fn default() -> Self {
        Oversized {
            seed: 2026,
            min_bytes: 20 * 1024 * 1024,
            declare_length: false,
        }
    }
}

impl Oversized {
    /// The body it sends.
    pub fn body(&self) -> Vec<u8> {
        // A few hundred distinct students, repeated under fresh ids: building 40,000
        // people for one response would make the server, not the client, the slow part.
        let students: Vec<Value> = (0..256)
            .map(|i| record(self.seed, i, String::new()))
            .collect();
        let mut body = br#"{"code":0,"msg":"ok","data":{"list":["#.to_vec();
        let mut n: u64 = 0;
        while body.len() <= self.min_bytes {
            let mut student = students[(n % 256) as usize].clone();
            student["student_id"] = Value::String(format!("OVERSIZED{n:010}"));
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(student.to_string().as_bytes());
            n += 1;
        }
        body.extend_from_slice(format!(r#"],"total":{n}}}}}"#).as_bytes());
        body
    }

    /// Starts it on an ephemeral loopback port.
    pub async fn start(&self) -> io::Result<Running> {
        let body = Arc::new(self.body());
        let declare_length = self.declare_length;
        start_raw(move |stream| oversized(stream, body.clone(), declare_length)).await
    }
}

async fn oversized(
    mut stream: TcpStream,
    body: Arc<Vec<u8>>,
    declare_length: bool,
) -> io::Result<()> {
    let head = if declare_length {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            body.len()
        )
    } else {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n\r\n"
            .to_owned()
    };
    stream.write_all(head.as_bytes()).await?;
    if declare_length {
        stream.write_all(&body).await?;
    } else {
        for chunk in body.chunks(CHUNK) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
    }
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------
// The hand-written HTTP/1.1 server
// ---------------------------------------------------------------------------------------

/// A TCP server answering each connection's first request with `answer`, then closing.
#[derive(Debug)]
struct RawServer {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RawServer {
    async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other),
            None => Ok(()),
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn start_raw<F, Fut>(answer: F) -> io::Result<Running>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind(ephemeral()).await?;
    let addr = listener.local_addr()?;
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    let answer = Arc::new(answer);
    let (tx, mut rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Dropped at the end of the task, which aborts connections still trickling or
        // streaming: they would otherwise outlive the server by half an hour.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut rx => break,
                accepted = listener.accept() => {
                    let Ok((mut stream, _)) = accepted else {
                        // Out of descriptors and the like: transient, keep serving.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let (counter, answer) = (counter.clone(), answer.clone());
                    connections.spawn(async move {
                        if read_head(&mut stream).await {
                            counter.fetch_add(1, Ordering::Relaxed);
                            // Errors are clients hanging up, which is what clients of
                            // these servers are expected to do.
                            let _ = answer(stream).await;
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(Running {
        addr,
        requests,
        server: Server::Raw(RawServer {
            shutdown: Some(tx),
            task: Some(task),
        }),
    })
}

/// Reads a request's head (up to the blank line); whether a whole one came in time.
/// The request itself does not matter: every one gets the same answer.
async fn read_head(stream: &mut TcpStream) -> bool {
    let read = async {
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            if head.len() > MAX_REQUEST_HEAD {
                return false;
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    tokio::time::timeout(REQUEST_HEAD_TIMEOUT, read)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use govhub_schema::Standard;
    use reqwest::Client;

    use super::*;

    /// Every record of `body` validates as [`KIND`]; returns their ids.
    fn valid_ids(standard: &Standard, body: &Value) -> Vec<String> {
        let schema = standard.latest(KIND).unwrap();
        let list = body.pointer(RECORDS).unwrap().as_array().unwrap();
        list.iter()
            .map(|r| {
                let violations = schema.validate(r);
                assert!(violations.is_empty(), "{violations:?}");
                r.pointer(RECORD_ID).unwrap().as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_looping_cursor_links_back_to_a_token_it_already_gave() {
        let standard = Standard::embedded().unwrap();
        let server = LoopingCursor::default().start().await.unwrap();
        let client = Client::new();
        let mut token: Option<String> = None;
        let mut tokens = Vec::new();
        let mut pages = std::collections::BTreeMap::new();
        for _ in 0..6 {
            let mut request = client.get(server.url()).query(&[("size", "5")]);
            if let Some(t) = &token {
                request = request.query(&[(TOKEN_PARAM, t)]);
            }
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            assert_eq!(body[STATUS_CODE.trim_start_matches('/')], 0);
            let ids = valid_ids(&standard, &body);
            assert_eq!(ids.len(), 5, "every page is full");
            // The same token always reads the same page.
            if let Some(seen) = pages.insert(token.clone(), ids.clone()) {
                assert_eq!(seen, ids);
            }
            let next = body
                .pointer(NEXT_TOKEN)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            tokens.push(next.clone());
            token = Some(next);
        }
        assert_eq!(
            tokens,
            [
                "cursor-1", "cursor-0", "cursor-1", "cursor-0", "cursor-1", "cursor-0"
            ]
        );
        // Never the token just sent: a client that only checks that keeps going.
        assert_ne!(tokens[0], tokens[1]);
        let unknown = client
            .get(server.url())
            .query(&[(TOKEN_PARAM, "cursor-7")])
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(server.requests(), 7);
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn endless_pages_are_always_full_with_fresh_ids() {
        let standard = Standard::embedded().unwrap();
        let server = EndlessPages::default().start().await.unwrap();
        let client = Client::new();
        let mut seen = std::collections::BTreeSet::new();
        for page in (1..=20).chain([1_000_000]) {
            let body: Value = client
                .get(server.url())
                .query(&[("page", page), ("size", 50)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids = valid_ids(&standard, &body);
            assert_eq!(ids.len(), 50, "page {page} is full");
            for id in ids {
                assert!(seen.insert(id), "ids never repeat");
            }
        }
        assert_eq!(seen.len(), 21 * 50);
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn always_failing_answers_503_to_everything() {
        for retry_after in [None, Some(3)] {
            let server = AlwaysFailing { retry_after }.start().await.unwrap();
            let client = Client::new();
            for path in [PATH, "/", "/anything?page=2"] {
                let response = client
                    .get(format!("http://{}{path}", server.addr()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
                let header = response.headers().get("retry-after");
                assert_eq!(
                    header.map(|v| v.to_str().unwrap().to_owned()),
                    retry_after.map(|s| s.to_string())
                );
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], 50300);
            }
            assert_eq!(server.requests(), 3);
            server.shutdown().await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_trickle_sends_headers_at_once_then_a_byte_per_interval() {
        let sim = Trickle {
            interval: Duration::from_millis(100),
            ..Trickle::default()
        };
        let total = sim.body().len();
        assert!(total > 600, "{total} bytes: ten minutes at one a second");
        let server = sim.start().await.unwrap();
        let started = Instant::now();
        let mut response = Client::new().get(server.url()).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert!(response.content_length().is_none(), "chunked");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "headers at once"
        );
        let mut received = 0;
        let reading = tokio::time::timeout(Duration::from_millis(1050), async {
            while let Some(chunk) = response.chunk().await.unwrap() {
                received += chunk.len();
            }
        })
        .await;
        assert!(reading.is_err(), "the body is still coming");
        // About ten bytes in a second at ten a second; never the whole body.
        assert!((5..=15).contains(&received), "{received} bytes in a second");
        assert_eq!(server.requests(), 1);
        // Shutting down cuts the trickling connection instead of waiting for it.
        let stopping = Instant::now();
        server.shutdown().await.unwrap();
        assert!(stopping.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_trickled_body_is_a_valid_page_once_it_has_all_come() {
        let sim = Trickle {
            records: 1,
            interval: Duration::ZERO,
            ..Trickle::default()
        };
        let server = sim.start().await.unwrap();
        let body: Value = Client::new()
            .get(server.url())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            valid_ids(&Standard::embedded().unwrap(), &body),
            ["TRICKLE000000"]
        );
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn the_oversized_page_is_larger_than_asked_and_valid_json() {
        let standard = Standard::embedded().unwrap();
        for declare_length in [false, true] {
            let sim = Oversized {
                declare_length,
                ..Oversized::default()
            };
            let server = sim.start().await.unwrap();
            let response = Client::new().get(server.url()).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let declared = response.content_length();
            let bytes = response.bytes().await.unwrap();
            assert!(bytes.len() > 20 * 1024 * 1024, "{} bytes", bytes.len());
            if declare_length {
                assert_eq!(declared, Some(bytes.len() as u64));
                server.shutdown().await.unwrap();
                continue; // the same body: parsed once, below, is enough (debug builds)
            }
            assert_eq!(declared, None, "streamed: the size shows only by reading");
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            let list = body.pointer(RECORDS).unwrap().as_array().unwrap();
            assert_eq!(body["data"]["total"], list.len());
            // A sample: every record is one of the 256 students under a fresh id.
            let sample = json!({"data": {"list": list[..300].to_vec()}});
            let ids = valid_ids(&standard, &sample);
            assert_eq!(ids[299], "OVERSIZED0000000299");
            server.shutdown().await.unwrap();
        }
    }
}
