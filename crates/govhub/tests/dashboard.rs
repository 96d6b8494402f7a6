//! The operator dashboard in a real browser.
//!
//! Runs `govhub demo --serve --admin <addr>` (the four simulated departments, the hub
//! and its admin server), starts `chromedriver`, drives headless Chromium over the W3C
//! WebDriver protocol and checks what an operator sees against the JSON API the page
//! reads: every connector's card with its published count, the identity panel, the
//! throughput chart, Pause / Resume, and the token prompt off loopback; and what a page
//! elsewhere can make the browser do to the admin server: post a form, frame the
//! dashboard, reach it under a rebound name — all refused.
//!
//! Needs Debian's `chromium` and `chromium-driver`: without them the tests fail and say
//! how to install them. The screenshot goes to a temporary directory, or to
//! `docs/dashboard.png` with `GOVHUB_UPDATE_SCREENSHOT=1` (which also wants a CJK font,
//! `apt-get install fonts-noto-cjk`, so the Chinese labels render).
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The connectors of deploy/govhub.example.toml, which the demo runs.
const CONNECTORS: [&str; 4] = ["civil_affairs", "education", "health", "urban"];
/// The key of a web element reference in W3C WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const INSTALL: &str = "apt-get install chromium chromium-driver";
/// Generous: the demo pulls every department before it says it is serving, and other
/// builds may be sharing the machine.
const STARTUP: Duration = Duration::from_secs(180);
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_every_connector_and_pauses_and_resumes_one() {
    let started = Instant::now();
    let update_screenshot = std::env::var("GOVHUB_UPDATE_SCREENSHOT").as_deref() == Ok("1");
    if update_screenshot {
        require_cjk_font();
    }
    let mut demo = Demo::start("127.0.0.1", None).await;
    let browser = demo.open_browser().await;
    // On loopback the page needs no token: it goes straight to the cards.
    browser.navigate(&demo.url).await;

    // The stylesheet applies (served with the right type): the cards are a grid.
    let display = browser
        .exec("return getComputedStyle(document.getElementById('connectors')).display")
        .await;
    assert_eq!(display, json!("grid"), "dashboard.css did not apply");

    cards_match_api(&demo, &browser).await;
    let hub = browser.attr("#hub-state", "data-state").await.unwrap();
    assert!(
        ["healthy", "attention"].contains(&hub.as_str()),
        "header state {hub:?}"
    );

    // Pause one connector with its button: the badge says so, in words, and the API
    // agrees; the others carry on.
    let target = "education";
    let card = format!("[data-connector=\"{target}\"]");
    pause_with_button(&demo, &browser, target).await;
    assert!(browser.enabled(&format!("{card} button.resume")).await);
    assert!(!browser.enabled(&format!("{card} button.pause")).await);
    let data = demo.api().await.unwrap();
    for other in CONNECTORS.into_iter().filter(|n| *n != target) {
        let state = &connector(&data, other).unwrap()["state"];
        assert_ne!(state, "paused", "pausing {target} paused {other} too");
    }

    // And resume it.
    browser.click(&format!("{card} button.resume")).await;
    eventually("education to leave paused", SETTLE, async || {
        let state = browser
            .attr(&format!("{card} .state"), "data-state")
            .await?;
        let api_state = connector(&demo.api().await?, target)?["state"].clone();
        if state == "paused" || api_state == "paused" {
            return Err(format!("badge {state:?}, API {api_state}"));
        }
        if !browser.enabled(&format!("{card} button.pause")).await {
            return Err("Pause is still disabled".into());
        }
        Ok(())
    })
    .await;

    // Nothing came from anywhere but the hub, and the page logged no errors.
    let foreign = browser
        .exec(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(u => !u.startsWith(location.origin + '/'))",
        )
        .await;
    assert_eq!(foreign, json!([]), "the page fetched from elsewhere");
    let log = browser
        .call(Method::POST, "se/log", Some(json!({"type": "browser"})))
        .await
        .unwrap();
    let errors: Vec<&Value> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");

    // The whole page, for the README.
    let png = browser.full_page_screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(
        width >= 1000 && height >= 600,
        "screenshot is {width}x{height}"
    );
    let path = if update_screenshot {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::fs::create_dir_all(&docs).unwrap();
        docs.join("dashboard.png")
    } else {
        demo.dir.path().join("dashboard.png")
    };
    std::fs::write(&path, &png).unwrap();
    eprintln!(
        "dashboard test: {width}x{height} screenshot at {}, {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_asks_for_the_token_off_loopback() {
    // Bound beyond loopback, the API wants GOVHUB_ADMIN_TOKEN; the page asks for it.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("synthetic-{nanos:x}-{}", std::process::id());
    let mut demo = Demo::start("0.0.0.0", Some(&token)).await;
    let browser = demo.open_browser().await;
    browser.navigate(&demo.url).await;

    let dialog_open = async || -> Result<(), String> {
        let open = browser
            .exec("return document.getElementById('token-dialog').open")
            .await;
        let hub = browser.attr("#hub-state", "data-state").await?;
        if open == json!(true) && hub == "auth" {
            Ok(())
        } else {
            Err(format!("dialog open: {open}, header state {hub:?}"))
        }
    };
    eventually("the page to ask for the token", SETTLE, async || {
        dialog_open().await
    })
    .await;
    assert!(
        browser.find(".card").await.is_err(),
        "cards shown without a token"
    );

    // A wrong token is refused and asked for again.
    browser.type_into("#token-input", "not-the-token").await;
    browser.click("#token-form button[type=submit]").await;
    eventually(
        "the page to say the token was refused",
        SETTLE,
        async || {
            if !browser.displayed("#token-problem").await {
                return Err("no problem shown".into());
            }
            dialog_open().await
        },
    )
    .await;

    // The right one opens the dashboard, is kept for the tab, and goes with every call:
    // the cards fill and Pause works.
    browser.type_into("#token-input", &token).await;
    browser.click("#token-form button[type=submit]").await;
    cards_match_api(&demo, &browser).await;
    let kept = browser
        .exec("return sessionStorage.getItem('govhub.admin.token')")
        .await;
    assert_eq!(kept, json!(token), "token not kept in sessionStorage");
    pause_with_button(&demo, &browser, "urban").await;
}

/// A site elsewhere (another origin on the same machine: the browser calls it
/// same-site, the closest a page gets without being the dashboard) whose pages post
/// to the admin server at `admin` and frame its dashboard.
async fn site_elsewhere(admin: &str) -> govhub_sim::RunningSim {
    use axum::response::Html;
    let page = |body: String| Html(format!("<!doctype html><title>elsewhere</title>{body}"));
    let pause = page(format!(
        r#"<form method="POST" action="{admin}api/connectors/education/pause"><input name="x" value="1"></form>"#
    ));
    // What a text/plain form sends: name=value, here `{{"republish":true,"x":"="}}`.
    let backfill = page(format!(
        r#"<form method="POST" enctype="text/plain" action="{admin}api/connectors/education/backfill"><input name='{{"republish":true,"x":"' value='"}}'></form>"#
    ));
    let frame = page(format!(
        r#"<iframe src="{admin}" width="800" height="600"></iframe>"#
    ));
    let router = axum::Router::new()
        .route("/pause", axum::routing::get(move || async move { pause }))
        .route(
            "/backfill",
            axum::routing::get(move || async move { backfill }),
        )
        .route("/frame", axum::routing::get(move || async move { frame }))
        .route(
            "/",
            axum::routing::get(move || async move { page(String::new()) }),
        );
    govhub_sim::serve(router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_elsewhere_can_neither_change_state_nor_frame_nor_rebind_the_dashboard() {
    let mut demo = Demo::start("127.0.0.1", None).await;
    let browser = demo.open_browser().await;
    let elsewhere = site_elsewhere(&demo.url).await;
    let education = async || {
        connector(&demo.api().await.unwrap(), "education")
            .unwrap()
            .clone()
    };
    let before = education().await;
    let body = async || -> String {
        let text = browser
            .exec("return document.body ? document.body.innerText : ''")
            .await;
        text.as_str().unwrap_or_default().to_owned()
    };

    // A form posted to the admin server: the browser follows it there and shows what
    // it answered.
    for (page, what) in [
        ("/pause", "pause form"),
        ("/backfill", "text/plain backfill form"),
    ] {
        browser.navigate(&elsewhere.url(page)).await;
        browser
            .exec("document.forms[0].submit(); return null")
            .await;
        let answer = eventually(&format!("the {what} to be answered"), SETTLE, async || {
            let text = body().await;
            if text.contains("error") {
                Ok(text)
            } else {
                Err(format!("page says {text:?}"))
            }
        })
        .await;
        assert!(answer.contains("refused"), "{what}: {answer}");
    }
    // A body-less POST by fetch, which a browser sends without asking first.
    browser.navigate(&elsewhere.url("/")).await;
    let script = format!(
        "return fetch('{}api/connectors/education/pause', {{method: 'POST', mode: 'no-cors'}})         .then(() => 'sent', e => String(e))",
        demo.url
    );
    assert_eq!(browser.exec(&script).await, json!("sent"));

    let after = education().await;
    assert_ne!(after["state"], "paused", "{after}");
    let (was, is) = (&before["counts"], &after["counts"]);
    assert!(
        is["published"] == was["published"] && is["duplicates"] == was["duplicates"],
        "a backfill happened: {was} then {is}"
    );

    // Framed, the dashboard does not render: the frame holds the browser's error page.
    browser.navigate(&elsewhere.url("/frame")).await;
    let framed = eventually("the frame to settle", SETTLE, async || {
        browser
            .call(Method::POST, "frame", Some(json!({"id": 0})))
            .await?;
        let href = browser.exec("return location.href").await;
        let cards = browser
            .exec("return document.getElementById('connectors') !== null")
            .await;
        browser.call(Method::POST, "frame/parent", None).await?;
        match href.as_str() {
            Some("about:blank") | None => Err(format!("frame at {href}")),
            Some(href) => Ok((href.to_owned(), cards)),
        }
    })
    .await;
    assert_eq!(
        framed.1,
        json!(false),
        "the dashboard rendered framed at {}",
        framed.0
    );

    // Under a name that resolves to the admin server's address, nothing but a refusal.
    let port = demo
        .url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    for path in ["", "api/connectors", "api/dlq"] {
        browser
            .navigate(&format!("http://rebound.test:{port}/{path}"))
            .await;
        let text = body().await;
        assert!(text.contains("allowed_hosts"), "/{path}: {text}");
        assert!(!text.contains("education"), "/{path}: {text}");
    }
    let _ = elsewhere.shutdown().await;
}

/// Waits until every card shows what `/api/connectors` reports, every connector having
/// published: the published count, department and kind, the chart's total; and the
/// identity panel.
async fn cards_match_api(demo: &Demo, browser: &Browser) {
    eventually(
        "every card to show its connector's published count (> 0) as /api/connectors reports it",
        STARTUP,
        async || {
            let data = demo.api().await?;
            for name in CONNECTORS {
                let c = connector(&data, name)?;
                let published = c["counts"]["published"].as_u64().unwrap_or(0);
                if published == 0 {
                    return Err(format!("{name}: nothing published yet"));
                }
                let card = format!("[data-connector=\"{name}\"]");
                let shown = browser.text(&format!("{card} .published")).await?;
                if digits(&shown) != Some(published) {
                    return Err(format!(
                        "{name}: card shows {shown:?}, API says {published}"
                    ));
                }
                for field in ["department", "kind"] {
                    let shown = browser.text(&format!("{card} .{field}")).await?;
                    if c[field].as_str() != Some(shown.as_str()) {
                        return Err(format!("{name}: {field} {shown:?}, API says {}", c[field]));
                    }
                }
                // The chart draws the records written in the last 10 minutes (all of
                // them, this soon after the start) as bars.
                let written: u64 = c["throughput"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b["records"].as_u64())
                    .sum();
                let total_css = format!("{card} .throughput-total");
                let total = browser.attr(&total_css, "data-value").await?;
                if written == 0 || total.parse::<u64>().ok() != Some(written) {
                    return Err(format!(
                        "{name}: chart total {total:?}, API throughput {written}"
                    ));
                }
                let bars = browser
                    .exec(&format!(
                        "return document.querySelectorAll('{card} svg.chart rect.bar').length"
                    ))
                    .await;
                if bars.as_u64().unwrap_or(0) == 0 {
                    return Err(format!("{name}: no bars in the throughput chart"));
                }
                // The data-quality report: one row per field with a value set aside,
                // its count as the API says.
                let quality = c["data_quality"].as_object().cloned().unwrap_or_default();
                let rows = browser
                    .exec(&format!(
                        "return Array.from(document.querySelectorAll('{card} ol.quality li')).map((li) => li.textContent)"
                    ))
                    .await;
                let rows: Vec<String> = rows
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect();
                let expected: Vec<String> = quality
                    .iter()
                    .map(|(field, q)| format!("{field}{}", q["count"]))
                    .collect();
                if rows != expected {
                    return Err(format!(
                        "{name}: data quality shows {rows:?}, API says {expected:?}"
                    ));
                }
            }
            // The demo's health and civil-affairs records include IDs set aside.
            let reported = CONNECTORS.iter().any(|name| {
                connector(&data, name).is_ok_and(|c| {
                    c["data_quality"]
                        .as_object()
                        .is_some_and(|q| !q.is_empty())
                })
            });
            if !reported {
                return Err("no connector reports a value set aside yet".into());
            }
            // The data-sharing views' panel has read /api/views: the demo configures no
            // views, so no line, and it says nothing was shared.
            let lines = browser.attr("#views", "data-lines").await?;
            if lines != "0" || !browser.displayed("#views-empty").await {
                return Err(format!("views panel: {lines:?} lines, expected 0 and its notice"));
            }
            for k in ["residents", "records", "links", "merges", "splits"] {
                let want = data["identity"][k]
                    .as_u64()
                    .ok_or_else(|| format!("identity.{k} missing in {}", data["identity"]))?;
                let shown = browser.text(&format!("#identity-{k}")).await?;
                if digits(&shown) != Some(want) {
                    return Err(format!(
                        "identity {k}: page shows {shown:?}, API says {want}"
                    ));
                }
            }
            Ok(())
        },
    )
    .await;
}

/// Clicks the connector's Pause button and waits until its badge says paused, in words
/// (English and Chinese), and the API agrees.
async fn pause_with_button(demo: &Demo, browser: &Browser, name: &str) {
    let card = format!("[data-connector=\"{name}\"]");
    browser.click(&format!("{card} button.pause")).await;
    eventually(&format!("{name} to show as paused"), SETTLE, async || {
        let state = browser
            .attr(&format!("{card} .state"), "data-state")
            .await?;
        let text = browser.text(&format!("{card} .state")).await?;
        if state != "paused" || !text.contains("Paused") || !text.contains("已暂停") {
            return Err(format!("badge {state:?} {text:?}"));
        }
        let api_state = connector(&demo.api().await?, name)?["state"].clone();
        if api_state != "paused" {
            return Err(format!("API says {api_state}"));
        }
        Ok(())
    })
    .await;
}

/// `govhub demo --serve` with its admin server, once it says it is serving.
#[derive(Debug)]
struct Demo {
    // Dropped first: the processes go before their directory.
    procs: Processes,
    dir: TempDir,
    http: reqwest::Client,
    /// The dashboard's URL as an operator opens it.
    url: String,
    /// `/api/connectors`.
    api_url: String,
    token: Option<String>,
}

impl Demo {
    /// Binds the admin server to a free port on `host`; `token` goes to the hub as
    /// GOVHUB_ADMIN_TOKEN and with the test's own API calls.
    async fn start(host: &str, token: Option<&str>) -> Demo {
        // Before anything starts: without the browser there is nothing to test.
        let chromium = find_in_path("chromium");
        assert!(
            chromium.is_some(),
            "chromium is not installed (no `chromium` on PATH): {INSTALL}"
        );
        let chromedriver = find_in_path("chromedriver");
        assert!(
            chromedriver.is_some(),
            "chromedriver is not installed (no `chromedriver` on PATH): {INSTALL}"
        );

        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let admin = format!("{host}:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_govhub"));
        command
            .args(["demo", "--serve", "--admin", &admin, "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("GOVHUB_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("govhub.stdout")).unwrap())
            .stderr(File::create(dir.path().join("govhub.stderr")).unwrap())
            .process_group(0);
        if let Some(token) = token {
            command.env("GOVHUB_ADMIN_TOKEN", token);
        }
        let mut procs = Processes::default();
        procs.children.push(command.spawn().unwrap());
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut demo = Demo {
            procs,
            dir,
            http,
            url: String::new(),
            api_url: format!("http://127.0.0.1:{port}/api/connectors"),
            token: token.map(str::to_owned),
        };

        // The URL the demo prints is the one an operator opens; it prints it again
        // once the initial sync is done and it keeps serving. Fail at once if the hub
        // exits instead.
        let printed = eventually("govhub demo to serve the dashboard", STARTUP, async || {
            if let Some(status) = demo.procs.children[0].try_wait().unwrap() {
                panic!("govhub demo --serve exited ({status})\n{}", demo.logs());
            }
            let out =
                std::fs::read_to_string(demo.dir.path().join("govhub.stdout")).unwrap_or_default();
            let url = printed_url(&out, &admin)
                .ok_or_else(|| format!("no http://{admin}/ URL yet\n{}", demo.logs()))?;
            if !out.contains(&format!("serving the dashboard at {url}")) {
                return Err(format!("not serving yet\n{}", demo.logs()));
            }
            Ok(url)
        })
        .await;
        demo.api().await.unwrap();
        // 0.0.0.0 is where it listens, not an address to browse to.
        demo.url = printed.replace("//0.0.0.0:", "//127.0.0.1:");
        demo
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "govhub stdout:\n{}\ngovhub stderr:\n{}",
            read("govhub.stdout").unwrap_or_default(),
            read("govhub.stderr").unwrap_or_default()
        )
    }

    /// GET /api/connectors, with the token if there is one.
    async fn api(&self) -> Result<Value, String> {
        let url = &self.api_url;
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        response.json().await.map_err(|e| format!("GET {url}: {e}"))
    }

    /// Starts chromedriver and a headless Chromium session, both ended with the demo.
    async fn open_browser(&mut self) -> Browser {
        let chromium = find_in_path("chromium").unwrap();
        let chromedriver = find_in_path("chromedriver").unwrap();
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(File::create(self.dir.path().join("chromedriver.log")).unwrap())
            .stderr(File::create(self.dir.path().join("chromedriver.stderr")).unwrap())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL}", chromedriver.display()));
        self.procs.children.push(child);
        let driver = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to be ready", SETTLE, async || {
            let status = self
                .http
                .get(format!("{driver}/status"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json::<Value>()
                .await
                .map_err(|e| e.to_string())?;
            match status["value"]["ready"].as_bool() {
                Some(true) => Ok(()),
                _ => Err(format!("not ready: {status}")),
            }
        })
        .await;
        let browser = Browser::start(self.http.clone(), driver, &chromium).await;
        self.procs.session = Some((port, browser.session.clone()));
        browser
    }
}

/// The children a test started, and its browser session: the session is closed (it
/// takes the browser down) and every child killed with its process group when the test
/// ends, whether it passed or panicked.
#[derive(Debug, Default)]
struct Processes {
    children: Vec<Child>,
    session: Option<(u16, String)>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some((port, session)) = self.session.take() {
            delete_session(port, &session);
        }
        for child in &mut self.children {
            // Spawned with process_group(0): the group's id is the child's.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// DELETE /session/{id} with plain blocking I/O (this runs in Drop): reads the answer's
/// head and its Content-Length bytes, as chromedriver keeps the connection open.
fn delete_session(port: u16, session: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..head_end]
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok());
        if length.is_none_or(|length| answer.len() >= head_end + 4 + length) {
            break;
        }
    }
}

/// A W3C WebDriver session on chromedriver.
#[derive(Debug)]
struct Browser {
    http: reqwest::Client,
    driver: String,
    session: String,
}

impl Browser {
    async fn start(http: reqwest::Client, driver: String, chromium: &Path) -> Browser {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-background-networking",
                            "--window-size=1400,1000",
                            // A name that resolves to loopback, as one rebound by its
                            // owner's DNS server would (DNS rebinding).
                            "--host-resolver-rules=MAP rebound.test 127.0.0.1",
                        ],
                    },
                },
            },
        });
        let answer = http
            .post(format!("{driver}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver did not start {}: {answer}",
                    chromium.display()
                )
            })
            .to_owned();
        Browser {
            http,
            driver,
            session,
        }
    }

    /// One command; Err carries the WebDriver error (e.g. "no such element").
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}/{path}", self.driver, self.session);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == Method::POST {
            request = request.json(&json!({}));
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| format!("{path}: {e}"))?;
        if status.is_success() {
            Ok(answer["value"].clone())
        } else {
            Err(format!(
                "{path}: {} {}",
                answer["value"]["error"], answer["value"]["message"]
            ))
        }
    }

    async fn navigate(&self, url: &str) {
        self.call(Method::POST, "url", Some(json!({ "url": url })))
            .await
            .unwrap();
    }

    async fn find(&self, css: &str) -> Result<String, String> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self.call(Method::POST, "element", Some(body)).await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{css}: no element reference in {found}"))
    }

    async fn text(&self, css: &str) -> Result<String, String> {
        let element = self.find(css).await?;
        let text = self
            .call(Method::GET, &format!("element/{element}/text"), None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    async fn attr(&self, css: &str, name: &str) -> Result<String, String> {
        let element = self.find(css).await?;
        let value = self
            .call(
                Method::GET,
                &format!("element/{element}/attribute/{name}"),
                None,
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    async fn enabled(&self, css: &str) -> bool {
        let element = self.find(css).await.unwrap();
        let path = format!("element/{element}/enabled");
        let enabled = self.call(Method::GET, &path, None).await.unwrap();
        enabled.as_bool().unwrap()
    }

    /// Whether the element is there and shown; false when it is not there.
    async fn displayed(&self, css: &str) -> bool {
        let Ok(element) = self.find(css).await else {
            return false;
        };
        let path = format!("element/{element}/displayed");
        let shown = self.call(Method::GET, &path, None).await;
        shown.is_ok_and(|v| v == json!(true))
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await.unwrap();
        self.call(Method::POST, &format!("element/{element}/click"), None)
            .await
            .unwrap();
    }

    /// Types `text` into an input, as a user would.
    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await.unwrap();
        let body = json!({ "text": text });
        self.call(
            Method::POST,
            &format!("element/{element}/value"),
            Some(body),
        )
        .await
        .unwrap();
    }

    async fn exec(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(Method::POST, "execute/sync", Some(body))
            .await
            .unwrap()
    }

    /// Grows the window to the page's height, then takes a PNG of it.
    async fn full_page_screenshot(&self) -> Vec<u8> {
        let rect = self.call(Method::GET, "window/rect", None).await.unwrap();
        let inner = self.exec("return window.innerHeight").await;
        let chrome = rect["height"].as_i64().unwrap() - inner.as_i64().unwrap();
        let page = self
            .exec("return document.documentElement.scrollHeight")
            .await;
        let height = page.as_i64().unwrap() + chrome.max(0);
        let body = json!({ "width": rect["width"], "height": height });
        self.call(Method::POST, "window/rect", Some(body))
            .await
            .unwrap();
        eventually("the window to fit the page", SETTLE, async || {
            let fits = self
                .exec("return window.innerHeight >= document.documentElement.scrollHeight")
                .await;
            if fits == json!(true) {
                Ok(())
            } else {
                Err("window still shorter than the page".into())
            }
        })
        .await;
        let png = self.call(Method::GET, "screenshot", None).await.unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }
}

/// Runs `probe` every 200 ms until it returns Ok; panics with its last Err after `timeout`.
async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn connector<'v>(data: &'v Value, name: &str) -> Result<&'v Value, String> {
    data["connectors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .ok_or_else(|| format!("no connector {name} in /api/connectors"))
}

/// The number a card shows, "1,163" → 1163.
fn digits(text: &str) -> Option<u64> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The dashboard URL in the demo's output: `http://<admin>/` (with or without the slash).
fn printed_url(out: &str, admin: &str) -> Option<String> {
    let prefix = format!("http://{admin}");
    out.split_whitespace()
        .find(|word| *word == prefix || word.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A screenshot for the README needs the Chinese labels to render.
fn require_cjk_font() {
    let fonts = Command::new("fc-list")
        .args([":lang=zh", "family"])
        .output();
    let found = fonts.is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty());
    assert!(
        found,
        "GOVHUB_UPDATE_SCREENSHOT=1 needs a CJK font for the Chinese labels: \
         apt-get install fonts-noto-cjk"
    );
}
