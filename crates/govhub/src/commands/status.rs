//! `govhub status`, `govhub pause`, `govhub resume`: ask a running hub's admin API.
//!
//! Exit codes: 0 answered, 1 the hub could not be reached or refused, 2 usage (a bad
//! URL, an unknown connector).

use std::process::ExitCode;
use std::time::Duration;

use govhub::admin::auth::TOKEN_VAR;
use govhub::status::{ConnectorView, Overview};
use reqwest::{Client, Method, StatusCode, Url};

use super::CONFIG_ERROR;

/// Where `--admin` points by default: the address `govhub run` listens on by default.
const DEFAULT_URL: &str = "http://127.0.0.1:9464";

/// `govhub status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The running hub's admin address (`http://host:port` or `host:port`).
    #[arg(long, default_value = DEFAULT_URL, value_name = "URL")]
    admin: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `govhub pause` and `govhub resume`.
#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    /// The connector's name in the hub's config.
    connector: String,
    /// The running hub's admin address (`http://host:port` or `host:port`).
    #[arg(long, default_value = DEFAULT_URL, value_name = "URL")]
    admin: String,
}

/// Why a call failed, with its exit code.
struct Failure(u8, String);

/// Prints every connector's state and counts.
pub async fn run(args: Args) -> ExitCode {
    let result = async {
        let body = call(&args.admin, Method::GET, "api/connectors").await?;
        if args.json {
            println!("{body}");
            return Ok(());
        }
        let overview: Overview = serde_json::from_str(&body)
            .map_err(|e| Failure(1, format!("unexpected answer from the admin API: {e}")))?;
        print_table(&overview);
        Ok(())
    };
    finish(result.await)
}

/// Pauses (`pause = true`) or resumes a connector.
pub async fn set_paused(args: ConnectorArgs, pause: bool) -> ExitCode {
    let action = if pause { "pause" } else { "resume" };
    let result = async {
        let name = &args.connector;
        let path = format!("api/connectors/{name}/{action}");
        let body = call(&args.admin, Method::POST, &path).await?;
        let view: ConnectorView = serde_json::from_str(&body)
            .map_err(|e| Failure(1, format!("unexpected answer from the admin API: {e}")))?;
        println!("{}: {}", view.name, view.state.as_str());
        Ok(())
    };
    finish(result.await)
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// The admin URL `admin` names, `http://` assumed.
fn base_url(admin: &str) -> Result<Url, Failure> {
    let text = if admin.contains("://") {
        admin.to_owned()
    } else {
        format!("http://{admin}")
    };
    let mut url = Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Failure(
                CONFIG_ERROR,
                format!("--admin {admin:?} is not an address like http://127.0.0.1:9464"),
            )
        })?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// Sends one request with the token from the environment; the body of a 2xx answer.
async fn call(admin: &str, method: Method, path: &str) -> Result<String, Failure> {
    let base = base_url(admin)?;
    let url = base
        .join(path)
        .map_err(|e| Failure(CONFIG_ERROR, format!("{path}: {e}")))?;
    let client = Client::builder()
        .timeout(Duration::from_secs(15))
        // The admin server is on this machine or next to it, never behind a proxy.
        .no_proxy()
        .build()
        .map_err(|e| Failure(1, format!("HTTP client: {e}")))?;
    // The server takes state-changing requests only as JSON; these carry no body.
    let json = method != Method::GET;
    let mut request = client.request(method, url);
    if json {
        request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
    }
    if let Ok(token) = std::env::var(TOKEN_VAR) {
        request = request.bearer_auth(token.trim());
    }
    let response = request.send().await.map_err(|e| {
        Failure(
            1,
            format!(
                "cannot reach the admin server at {base}: {}",
                govhub_core::error_chain(&e)
            ),
        )
    })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let error = || {
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        s if s.is_success() => Ok(body),
        StatusCode::UNAUTHORIZED => Err(Failure(
            1,
            format!(
                "the admin server wants its token: set {TOKEN_VAR} ({})",
                error()
            ),
        )),
        StatusCode::NOT_FOUND => Err(Failure(CONFIG_ERROR, error())),
        _ => Err(Failure(1, error())),
    }
}

fn print_table(overview: &Overview) {
    println!(
        "{:<16} {:<12} {:>10} {:>10} {:>10} {:>10}  {:<20}  last error",
        "connector", "state", "pulled", "published", "rejected", "duplicates", "last success"
    );
    for c in &overview.connectors {
        let success = c.last_success.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let error = c.last_error.as_ref().map_or_else(
            || "-".to_owned(),
            |e| format!("{} {}", e.at.format("%Y-%m-%dT%H:%M:%SZ"), e.message),
        );
        println!(
            "{:<16} {:<12} {:>10} {:>10} {:>10} {:>10}  {:<20}  {error}",
            c.name,
            c.state.as_str(),
            c.counts.pulled,
            c.counts.published,
            c.counts.rejected,
            c.counts.duplicates,
            success,
        );
    }
    let i = &overview.identity;
    println!(
        "\nidentity: {} residents, {} records, {} links, {} merges, {} splits",
        i.residents, i.records, i.links, i.merges, i.splits
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses_become_base_urls() {
        let url = |s| base_url(s).map(|u| u.to_string()).map_err(|f| f.0);
        assert_eq!(url("127.0.0.1:9464"), Ok("http://127.0.0.1:9464/".into()));
        assert_eq!(url("http://hub:80"), Ok("http://hub/".into()));
        assert_eq!(
            url("https://ops.example/govhub"),
            Ok("https://ops.example/govhub/".into())
        );
        assert_eq!(url("ftp://x"), Err(CONFIG_ERROR));
        assert_eq!(url("not an address"), Err(CONFIG_ERROR));
    }
}
