//! `govhub sim`: the four simulated departments standalone, on fixed ports, until
//! Ctrl-C, for running the hub (or anything else) against them.

use std::process::ExitCode;

use anyhow::Context;
use govhub::demo::{self, CIVIL_AFFAIRS, EDUCATION, HEALTH, URBAN};
use govhub_sim::Feed;
use govhub_sim::auth::{API_KEY_HEADER, Credentials};
use govhub_sim::{Departments, Ports};

/// Starts the simulators on `base_port` and the three ports after it, prints where they
/// are and how to authenticate, and serves until Ctrl-C.
pub async fn run(seed: u64, residents: u64, base_port: u16) -> anyhow::Result<ExitCode> {
    let Some(last_port) = base_port.checked_add(3).filter(|_| base_port > 0) else {
        anyhow::bail!("--base-port must be within 1..=65532 (four consecutive ports)");
    };
    let ports = Ports {
        education: base_port,
        health: base_port + 1,
        civil_affairs: base_port + 2,
        urban: last_port,
    };
    let departments = Departments::new(seed, residents);
    let running = departments.start(ports).await.with_context(|| {
        format!("starting the simulators on 127.0.0.1 ports {base_port}-{last_port}")
    })?;
    let generation = departments.clock.generation();
    let households = departments.civil_affairs.len(generation);
    let members = departments.civil_affairs.ground_truth(generation).count();
    println!(
        "govhub sim: four simulated departments over {residents} synthetic residents (seed {seed})\n"
    );
    println!("{:<14} {:<56} auth", "connector", "url");
    for (connector, department) in [
        (EDUCATION, &running.education),
        (HEALTH, &running.health),
        (CIVIL_AFFAIRS, &running.civil_affairs),
        (URBAN, &running.urban),
    ] {
        let auth = match &department.credentials {
            Credentials::None => "none".to_owned(),
            Credentials::SignedGateway(c) => format!(
                "signed gateway: app key {}, app secret {}",
                c.app_key, c.app_secret
            ),
            Credentials::Basic(c) => {
                format!("basic: user {}, password {}", c.username, c.password)
            }
            Credentials::ApiKey(c) => format!("{API_KEY_HEADER}: {}", c.key),
        };
        println!("{connector:<14} {:<56} {auth}", department.url);
    }
    println!(
        "\nrecords: {} students, {} encounters, {households} households ({members} members), {} grid cases",
        departments.education.students,
        departments.health.len(generation),
        departments.urban.len(generation),
    );
    println!("\n# the secrets deploy/govhub.example.toml reads from the environment:");
    for (var, value) in demo::secrets(&running) {
        println!("export {var}={}", shell_quote(&value));
    }
    if base_port != demo::DEFAULT_BASE_PORT {
        println!(
            "# note: the example config's URLs expect --base-port {}",
            demo::DEFAULT_BASE_PORT
        );
    }
    println!("# then: govhub run --config deploy/govhub.example.toml\n\nserving until Ctrl-C");

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping the simulators");
    running
        .shutdown()
        .await
        .context("stopping the simulators")?;
    Ok(ExitCode::SUCCESS)
}

/// `value` as one POSIX shell word: as it is when that is safe, else single-quoted.
fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/@%+=".contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("demo-health-secret"), "demo-health-secret");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
