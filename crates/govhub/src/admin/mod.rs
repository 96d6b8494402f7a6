//! The admin HTTP server: probes (`/healthz`, `/readyz`), Prometheus metrics
//! (`/metrics`), the JSON API (`/api/...`, see [`api`]) and the operator dashboard (`/`).
//!
//! [`app`] builds the router, so tests call it in-process; [`bind`] takes its socket
//! (by default on 127.0.0.1; anywhere else it requires a token, see [`auth`]) and
//! [`AdminListener::serve`] serves it. Every request passes the [`guard`]s first: its
//! `Host` must name this server, and a request that may change state must come from
//! no browser or from the dashboard itself, as JSON.

pub mod api;
pub mod auth;
pub mod config;
pub mod guard;
pub mod hosts;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::task::JoinHandle;

pub use self::auth::Token;
pub use self::config::AdminConfig;
use self::hosts::Hosts;
use crate::config::HubConfig;
use crate::persons::PersonLookup;
use crate::status::Status;

/// Where the admin server listens unless told otherwise (Prometheus exporters' range).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// [`DEFAULT_ADDR`] as an address.
const DEFAULT_SOCKET_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The hub's status.
    pub status: Arc<Status>,
    /// The config, for reading the dead-letter topic; `None`: `/api/dlq` answers 503.
    pub config: Option<Arc<HubConfig>>,
    /// The token requests must carry; `None`: no authentication, and no route that
    /// answers with record contents.
    pub token: Option<Token>,
    /// Asks the running hub about persons; `None`: `/api/persons/{id}` answers 503.
    pub persons: Option<PersonLookup>,
    /// What the data-sharing views sent; `None`: `/api/views` answers 503.
    pub views: Option<Arc<crate::views::SharingLog>>,
    /// The address the server answers for: a request's `Host` must name it (see
    /// [`hosts::Hosts`]). [`AdminListener::serve`] sets the bound one; [`DEFAULT_ADDR`]
    /// until then.
    pub addr: SocketAddr,
    /// `Host`s answered besides those of `addr` (`[admin] allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// The group of this hub's instances; `None`: `/api/cluster` lists this one alone.
    pub cluster: Option<crate::cluster::Members>,
}

impl AdminState {
    /// State over `status`, without dead letters, person lookups or a token.
    pub fn new(status: Arc<Status>) -> Self {
        AdminState {
            status,
            config: None,
            token: None,
            persons: None,
            views: None,
            addr: DEFAULT_SOCKET_ADDR,
            allowed_hosts: Vec::new(),
            cluster: None,
        }
    }

    /// Lists the instances of `members`' group at `/api/cluster`.
    pub fn with_cluster(mut self, members: Option<crate::cluster::Members>) -> Self {
        self.cluster = members;
        self
    }

    /// Answers requests whose `Host` is one of `hosts` too (`[admin] allowed_hosts`).
    pub fn with_allowed_hosts(mut self, hosts: Vec<String>) -> Self {
        self.allowed_hosts = hosts;
        self
    }

    /// Answers `/api/persons/{id}` through `persons` (the hub's [`crate::hub::Hub::persons`]).
    pub fn with_persons(mut self, persons: PersonLookup) -> Self {
        self.persons = Some(persons);
        self
    }

    /// Answers `/api/views` from the hub's sharing log.
    pub fn with_views(mut self, log: Arc<crate::views::SharingLog>) -> Self {
        self.views = Some(log);
        self
    }

    /// Reads dead letters from the sink `config` names.
    pub fn with_dlq(mut self, config: HubConfig) -> Self {
        self.config = Some(Arc::new(config));
        self
    }

    /// Requires `token` on every route but the probes and the dashboard's files.
    pub fn with_token(mut self, token: Option<Token>) -> Self {
        self.token = token;
        self
    }
}

/// An API error, answered as `{"error": "..."}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// 404: no such connector, person or route.
    #[error("{0}")]
    NotFound(String),
    /// 400: a malformed body or query.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or the wrong one.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: refused whoever asks: from another site, or record contents without a token.
    #[error("{0}")]
    Forbidden(String),
    /// 409: a request this hub's setup cannot carry out (a connector that runs on
    /// whichever instance the group assigns it).
    #[error("{0}")]
    Conflict(String),
    /// 415: a request that may change state without `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 421: the `Host` does not name this server.
    #[error("{0}")]
    MisdirectedRequest(String),
    /// 503: the server cannot answer this now (e.g. no dead-letter reader).
    #[error("{0}")]
    Unavailable(String),
    /// 500: reading state failed.
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (status, axum::Json(json!({"error": self.to_string()}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"govhub\""),
            );
        }
        response
    }
}

/// The admin router: probes and static dashboard assets open, the rest behind the
/// token when `state` has one; every route but the probes only for a `Host` naming
/// this server, requests that may change state only same-origin and as JSON, and the
/// security headers on every response (see [`guard`]).
///
/// The dashboard's HTML, script and style sheet hold no data: they load without a
/// token so a browser can open the page, which then asks for the token and sends it
/// with every API call.
pub fn app(state: AdminState) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};

    let hosts = Hosts::new(state.addr, &state.allowed_hosts);
    let protected = Router::new()
        .route("/metrics", get(prometheus))
        .route("/api/cluster", api::cluster(state.cluster.clone()))
        .merge(api::routes());
    let protected = protect(protected, state.token.clone(), &hosts);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/", get(|| async { asset("text/html", DASHBOARD_HTML) }))
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript", DASHBOARD_JS) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css", DASHBOARD_CSS) }),
        )
        .merge(protected)
        .fallback(|| async { AppError::NotFound("no such route".into()) })
        .layer(from_fn_with_state(hosts, guard::host))
        .layer(from_fn(guard::security_headers))
        .with_state(state)
}

const DASHBOARD_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                format!("{content_type}; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// 200 when the hub can work; 503 with every reason when not.
async fn readyz(State(state): State<AdminState>) -> Response {
    let reasons = state.status.unready_reasons().await;
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"ready": reasons.is_empty(), "reasons": reasons});
    (status, axum::Json(body)).into_response()
}

async fn prometheus(State(state): State<AdminState>) -> Response {
    let text = metrics::render(&state.status);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Why the admin server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bound beyond loopback without a token.
    #[error(
        "the admin API on {0} would be reachable from other machines: set {var} to the token \
         clients must send (Authorization: Bearer <token>), or bind it to 127.0.0.1",
        var = auth::TOKEN_VAR
    )]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error(
        "admin server: cannot listen on {addr}: {source}; give another address with \
         --admin ADDR, or --admin off for no admin server"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The admin server's socket, bound but not yet serving: bound before the hub starts,
/// so a taken port fails start-up before anything else happens.
#[derive(Debug)]
pub struct AdminListener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    token: Option<Token>,
}

/// Binds `addr` for the admin server, which then requires `token` if there is one.
/// Beyond loopback a token is required, or this fails before binding (as
/// [`config::bind_problem`] says).
pub async fn bind(addr: SocketAddr, token: Option<Token>) -> Result<AdminListener, ServeError> {
    if config::bind_problem(addr, token.as_ref()).is_some() {
        return Err(ServeError::TokenRequired(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok(AdminListener {
        listener,
        addr,
        token,
    })
}

impl AdminListener {
    /// Serves [`app`] over `state` (with the token decided at [`bind`]) until
    /// `shutdown` completes.
    pub fn serve(
        self,
        mut state: AdminState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> AdminServer {
        state.token = self.token;
        state.addr = self.addr;
        // Installs the recorder now, so metrics recorded before the first scrape count.
        metrics::handle();
        let router = app(state);
        let listener = self.listener;
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
        let url = format!("http://{}/", self.addr);
        tracing::info!(addr = %self.addr, url, "admin server listening");
        AdminServer {
            addr: self.addr,
            task,
        }
    }
}

/// `routes` behind the token (when there is one) and, outside that check so that a
/// cross-site request is refused as such, token or not, the same-origin JSON rule.
fn protect<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    token: Option<Token>,
    hosts: &Hosts,
) -> Router<S> {
    use axum::middleware::from_fn_with_state;

    let routes = match token {
        Some(token) => routes.layer(from_fn_with_state(token, auth::require)),
        None => routes,
    };
    routes.route_layer(from_fn_with_state(hosts.clone(), guard::same_origin_json))
}

/// Why an instance standing by answers nothing but its probes.
pub const STANDBY: &str = "standby: another instance of this hub is active";

/// The admin router of an instance standing by for the active one
/// ([`crate::cluster`]): `/healthz` answers, `/readyz` says it is not ready and why,
/// `/api/cluster` lists the instances (behind the token, as on the active one), every
/// other route answers 503, so a load balancer sends operators to the active instance.
/// The same `Host` rule and security headers as [`app`].
pub fn standby_app(
    addr: SocketAddr,
    allowed_hosts: &[String],
    token: Option<Token>,
    members: crate::cluster::Members,
) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};

    let hosts = Hosts::new(addr, allowed_hosts);
    let not_ready = json!({"ready": false, "reasons": [STANDBY]});
    let cluster = Router::new().route("/api/cluster", api::cluster(Some(members)));
    let protected = protect(cluster, token, &hosts);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(not_ready)).into_response()
            }),
        )
        .merge(protected)
        .fallback(|| async { AppError::Unavailable(STANDBY.into()) })
        .layer(from_fn_with_state(hosts, guard::host))
        .layer(from_fn(guard::security_headers))
}

/// The admin server of an instance standing by; [`StandbyServer::stop`] gives the
/// address back for the full server once the instance is active.
#[derive(Debug)]
pub struct StandbyServer {
    server: AdminServer,
    stop: tokio_util::sync::CancellationToken,
    token: Option<Token>,
}

impl AdminListener {
    /// Serves [`standby_app`] until [`StandbyServer::stop`].
    pub fn serve_standby(
        self,
        allowed_hosts: &[String],
        members: crate::cluster::Members,
    ) -> StandbyServer {
        let router = standby_app(self.addr, allowed_hosts, self.token.clone(), members);
        let stop = tokio_util::sync::CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let listener = self.listener;
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
        tracing::info!(addr = %self.addr, "admin server listening, standing by: probes only");
        StandbyServer {
            server: AdminServer {
                addr: self.addr,
                task,
            },
            stop,
            token: self.token,
        }
    }
}

impl StandbyServer {
    /// Stops answering and binds the same address again, for the active instance's
    /// server.
    pub async fn stop(self) -> Result<AdminListener, ServeError> {
        self.stop.cancel();
        let addr = self.server.local_addr();
        if let Err(e) = self.server.stopped().await {
            tracing::warn!(error = %e, "the standby admin server failed");
        }
        bind(addr, self.token).await
    }
}

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// The address it listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until it has stopped after its shutdown signal, open requests answered.
    pub async fn stopped(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// [`bind`]s `addr` with the token in `state`, then serves [`app`] until `shutdown`
/// completes.
pub async fn serve(
    addr: SocketAddr,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<AdminServer, ServeError> {
    let listener = bind(addr, state.token.clone()).await?;
    Ok(listener.serve(state, shutdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_address_is_one() {
        assert_eq!(DEFAULT_ADDR.parse(), Ok(DEFAULT_SOCKET_ADDR));
    }
}
