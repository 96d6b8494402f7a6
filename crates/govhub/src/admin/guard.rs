//! What every request passes before its handler, and what every response carries.
//!
//! - [`host`]: the `Host` must name this server ([`Hosts`]); otherwise `421`. The
//!   probes are exempt: orchestrators call them by whatever address they know.
//! - [`same_origin_json`]: a request that may change state (any method but `GET`,
//!   `HEAD`, `OPTIONS`) from a browser must come from a page of this server's
//!   (`Sec-Fetch-Site`, `Origin`; otherwise `403`), and must declare a JSON body
//!   (otherwise `415`). A form, a `text/plain` body or a body-less `fetch` is what a
//!   page elsewhere can send without the browser asking first; `application/json`
//!   makes the browser ask (a CORS preflight), and this server never says yes.
//! - [`security_headers`]: the dashboard's Content-Security-Policy, no framing, no
//!   sniffing, no referrer on every response; `Cache-Control: no-store` under `/api`.

use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppError;
use super::hosts::Hosts;

/// Paths answered whatever the `Host`: liveness and readiness probes, which hold no
/// record data.
pub const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// The dashboard's policy: everything from this server, nothing inline, no framing.
/// JSON answers get it too; it costs nothing there.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; form-action 'none'; \
                       base-uri 'none'; frame-ancestors 'none'";

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// The authority a request was sent to: its target's (absolute form) or its `Host`
/// header. `None` when neither is there or they disagree.
fn authority(request: &Request) -> Option<String> {
    let header = request
        .headers()
        .get(HOST)
        .map(|h| h.to_str().ok().map(str::to_owned));
    let target = request.uri().authority().map(|a| a.as_str().to_owned());
    match (target, header) {
        (Some(target), Some(Some(header))) if target.eq_ignore_ascii_case(&header) => Some(target),
        (Some(_), Some(_)) => None,
        (Some(target), None) => Some(target),
        (None, Some(header)) => header,
        (None, None) => None,
    }
}

/// Middleware: `421` unless the request names this server (see [`Hosts`]); the
/// [`PROBES`] pass.
pub async fn host(State(hosts): State<Hosts>, request: Request, next: Next) -> Response {
    if PROBES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match authority(&request) {
        Some(authority) if hosts.allows(&authority) => next.run(request).await,
        // The Host is not repeated: it is whatever the sender chose.
        _ => AppError::MisdirectedRequest(
            "this server does not answer to that Host; to reach it under another name, \
             add the name to [admin] allowed_hosts in the config"
                .into(),
        )
        .into_response(),
    }
}

/// Middleware: requests that may change state come from no browser or from a page of
/// this server's (`403` otherwise), with `Content-Type: application/json` (`415`
/// otherwise). Runs after [`host`], so the `Host` is this server's.
pub async fn same_origin_json(
    State(hosts): State<Hosts>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if let Err(refused) = same_origin(&hosts, &request) {
        return refused.into_response();
    }
    if !declares_json(request.headers()) {
        return AppError::UnsupportedMediaType(
            "send Content-Type: application/json (with an empty body where the route takes \
             none)"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

fn same_origin(hosts: &Hosts, request: &Request) -> Result<(), AppError> {
    let headers = request.headers();
    if let Some(site) = headers.get(SEC_FETCH_SITE) {
        let site = site.to_str().unwrap_or_default().trim();
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return Err(AppError::Forbidden(
                "refused: the browser says this request comes from another site \
                 (Sec-Fetch-Site); only the dashboard served here may change state"
                    .into(),
            ));
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = authority(request).unwrap_or_default();
        if !hosts.is_own_origin(origin, &host) {
            return Err(AppError::Forbidden(
                "refused: the Origin is not this server's; only the dashboard served here \
                 may change state"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// `Content-Type: application/json`, parameters (`; charset=utf-8`) aside.
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Middleware: the security headers on every response, whatever answered it.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if api {
        // Answers under /api can carry personal data: no cache on the way keeps them.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_declared_with_or_without_parameters() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            declares_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        for not in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json-seq",
            "text/plain; a=application/json",
        ] {
            assert!(!with(not), "{not}");
        }
        assert!(!declares_json(&HeaderMap::new()));
    }

    #[test]
    fn the_policy_forbids_framing() {
        assert!(CSP.contains("frame-ancestors 'none'"));
        assert!(HeaderValue::from_str(CSP).is_ok());
    }
}
