//! The HTTP-level metrics every connector emits, through the `metrics` facade: the
//! process that embeds the connectors installs a recorder (govhub's admin server renders
//! them for Prometheus) and describes them; without one they cost nothing.

use std::time::Duration;

/// Counter of HTTP requests sent, labelled `connector` and `status` (the HTTP status
/// code, or `error` when no response came: connection error or timeout).
pub const HTTP_REQUESTS: &str = "govhub_http_requests_total";
/// Counter of retried requests (each retry once), labelled `connector`.
pub const HTTP_RETRIES: &str = "govhub_http_retries_total";
/// Histogram of seconds one page fetch took, retries and their back-off included,
/// labelled `connector`.
pub const FETCH_DURATION: &str = "govhub_fetch_duration_seconds";

/// Label value of [`HTTP_REQUESTS`] for a request that got no response.
pub const STATUS_ERROR: &str = "error";

/// Counts one request of `connector` by its outcome: an HTTP status, or `None` for none.
pub(crate) fn request(connector: &str, status: Option<u16>) {
    let status = status.map_or_else(|| STATUS_ERROR.to_owned(), |s| s.to_string());
    metrics::counter!(HTTP_REQUESTS, "connector" => connector.to_owned(), "status" => status)
        .increment(1);
}

/// Counts one retry of `connector`.
pub(crate) fn retry(connector: &str) {
    metrics::counter!(HTTP_RETRIES, "connector" => connector.to_owned()).increment(1);
}

/// Records how long one page fetch of `connector` took.
pub(crate) fn fetch_duration(connector: &str, took: Duration) {
    metrics::histogram!(FETCH_DURATION, "connector" => connector.to_owned())
        .record(took.as_secs_f64());
}
