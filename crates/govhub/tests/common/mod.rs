//! What the tests that run the `govhub` binary share.

#![allow(dead_code)] // each test binary uses some of these

pub mod admin;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// Runs the built `govhub` binary with `args` to completion: quiet logs, and no admin
/// token inherited from the environment.
pub fn govhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args(args)
        .env("GOVHUB_LOG", "error")
        .env_remove("GOVHUB_ADMIN_TOKEN")
        .output()
        .expect("the govhub binary runs")
}

/// Writes `govhub.toml` under `dir`: the example config's education connector alone,
/// pointed at `url`, into the embedded log under `dir`; `edit` may change the
/// connector's settings further. Returns the file's path.
pub fn write_config(dir: &Path, url: &str, edit: impl FnOnce(&mut toml::Table)) -> PathBuf {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/govhub.example.toml"
    ))
    .expect("the example config");
    let mut config: toml::Table = toml::from_str(&example).expect("the example parses");
    config.remove("kafka");
    config.insert("data_dir".into(), dir.display().to_string().into());
    let connectors = config["connectors"]
        .as_table_mut()
        .expect("a connectors table");
    connectors.retain(|name, _| name == "education");
    let education = connectors["education"]
        .as_table_mut()
        .expect("an education connector");
    education["url"] = url.into();
    edit(education);
    let path = dir.join("govhub.toml");
    std::fs::write(&path, toml::to_string(&config).expect("serializes")).expect("written");
    path
}

/// Runs `govhub demo` over `residents` residents into `<dir>/data`; returns that data
/// directory.
pub fn demo(dir: &Path, residents: u32) -> PathBuf {
    let data = dir.join("data");
    let out = govhub(&[
        "demo",
        "--residents",
        &residents.to_string(),
        "--data-dir",
        data.to_str().expect("a UTF-8 path"),
    ]);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// Kills the child if a test fails before it has exited.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sigterm(child: &Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Waits for the child to exit, failing the test past `deadline`.
pub fn wait_exit(child: &mut Child, deadline: Duration) -> ExitStatus {
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < until,
            "still running {deadline:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
