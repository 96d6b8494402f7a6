//! `govhub run` processes for the multi-instance tests: started with a config, their
//! logs waited on, their admin API asked, killed or stopped gracefully.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::govhub_binary;

/// A `govhub run` process and its log.
#[derive(Debug)]
pub struct Instance {
    /// Its name in the test.
    pub name: &'static str,
    /// The process.
    pub child: Child,
    log: PathBuf,
}

impl Instance {
    /// Starts `govhub run --admin <admin> --config <config>` with `env`, logging at INFO
    /// to `<dir>/<name>.log`.
    pub fn start(
        name: &'static str,
        config: &Path,
        env: &BTreeMap<String, String>,
        dir: &Path,
        admin: &str,
    ) -> Instance {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(govhub_binary())
            .args(["run", "--admin", admin, "--config"])
            .arg(config)
            .envs(env)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Instance { name, child, log }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `count` lines containing `text`.
    pub async fn wait_for(&mut self, text: &str, count: usize, timeout: Duration) -> Instant {
        let started = Instant::now();
        loop {
            if self.log().matches(text).count() >= count {
                return Instant::now();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {text:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not log {text:?} {count} times in {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
pub fn get(port: u16, path: &str) -> (u16, String) {
    try_get(port, path).unwrap()
}

/// [`get`], or the error of connecting and reading (an instance between its standby
/// and its active admin server listens on nothing for a moment).
pub fn try_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((code, body))
}

/// The instances `GET /api/cluster` on 127.0.0.1:`port` lists, as process id and
/// role; the answering instance must be among them.
pub fn roles(port: u16) -> Vec<String> {
    let (code, body) = get(port, "/api/cluster");
    assert_eq!(code, 200, "{body}");
    let cluster: serde_json::Value = serde_json::from_str(&body).unwrap();
    let this = cluster["this_instance"].as_str().unwrap();
    let instances = cluster["instances"].as_array().unwrap();
    assert!(instances.iter().any(|i| i["instance"] == this), "{body}");
    instances
        .iter()
        .map(|i| {
            let name = i["instance"].as_str().unwrap();
            let pid = name.rsplit('-').next().unwrap();
            format!("{pid} {}", i["role"].as_str().unwrap())
        })
        .collect()
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM (a graceful stop) and waits for the exit.
pub fn terminate(instance: &mut Instance) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &instance.child.id().to_string()])
        .status();
    instance.child.wait().unwrap()
}
