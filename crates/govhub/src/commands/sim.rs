//! `govhub sim`: the four simulated departments standalone, on fixed ports, until
//! Ctrl-C, for running the hub (or anything else) against them; optionally misbehaving
//! (`--faults default`) and writing what a correct hub must publish from them
//! (`--expected FILE`, for `govhub verify`). The community resident registry listens on
//! the port after them (bearer token; not in the example config or the expected
//! outcome).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use govhub::chaos::ExpectedRun;
use govhub::config::HubConfig;
use govhub::demo::{self, CIVIL_AFFAIRS, EDUCATION, HEALTH, REGISTRY, URBAN};
use govhub_schema::Standard;
use govhub_sim::Feed;
use govhub_sim::auth::{API_KEY_HEADER, Credentials};
use govhub_sim::{Department, Departments, Faults, Ports};

/// A set of fault rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultPreset {
    /// Well-behaved departments (only the noise real data has).
    None,
    /// Moderate misbehaviour: 5% each of 429 (Retry-After 1 s), 5xx and bodies cut in
    /// half, 2% slow (+2 s) responses, 10 ms latency, repeated items on the health and
    /// urban feeds, one record in fifty invalid; a page fails at most twice.
    Default,
}

/// `govhub sim`'s fault options: a preset, each rate overridable.
#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// Faults the departments inject: `none`, or `default` (moderate rates; a page fails
    /// at most twice, so a retrying client gets through).
    #[arg(long, value_enum, default_value_t = FaultPreset::None)]
    pub faults: FaultPreset,
    /// Write what a correct hub on the example config must publish from these
    /// departments (per connector: source record ids on the kind topic and on the
    /// dead-letter topic) as JSON to FILE, for `govhub verify --expected`.
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,
    /// Each rate, overriding the preset's.
    #[command(flatten)]
    pub rates: FaultRates,
}

/// `govhub sim`'s fault rates, each overriding the preset's.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Fault rates (override the preset)")]
pub struct FaultRates {
    /// Share of requests answered 429 with Retry-After.
    #[arg(long, value_name = "RATE")]
    pub rate_limit_rate: Option<f64>,
    /// Share of requests answered 500, 502 (an HTML page) or 503.
    #[arg(long, value_name = "RATE")]
    pub server_error_rate: Option<f64>,
    /// Share of pages answered 200 with the JSON body cut in half.
    #[arg(long, value_name = "RATE")]
    pub malformed_rate: Option<f64>,
    /// Share of requests delayed by a further 2 s.
    #[arg(long, value_name = "RATE")]
    pub slow_rate: Option<f64>,
    /// Delay added to every response, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Share of page boundaries of the health and urban feeds where the next page
    /// repeats the previous page's last item (the page-number and offset APIs would
    /// serve more than the limit, which a client rightly refuses).
    #[arg(long, value_name = "RATE")]
    pub duplicate_rate: Option<f64>,
    /// One record in this many is invalid on purpose (0: none; noise in the data still
    /// makes a few invalid).
    #[arg(long, value_name = "N")]
    pub invalid_every: Option<u64>,
}

impl FaultArgs {
    /// `departments` with these faults.
    fn apply(&self, mut departments: Departments) -> anyhow::Result<Departments> {
        let (mut faults, mut invalid_every, mut duplicate_rate) = match self.faults {
            FaultPreset::None => (Faults::default(), 0, 0.0),
            FaultPreset::Default => (
                Faults {
                    rate_limit_rate: 0.05,
                    retry_after_secs: 1,
                    server_error_rate: 0.05,
                    malformed_rate: 0.05,
                    slow_rate: 0.02,
                    slow_latency: Duration::from_secs(2),
                    latency: Duration::from_millis(10),
                    max_failures_per_page: 2,
                    ..Faults::default()
                },
                50,
                0.1,
            ),
        };
        for (name, given, rate) in [
            (
                "--rate-limit-rate",
                self.rates.rate_limit_rate,
                &mut faults.rate_limit_rate,
            ),
            (
                "--server-error-rate",
                self.rates.server_error_rate,
                &mut faults.server_error_rate,
            ),
            (
                "--malformed-rate",
                self.rates.malformed_rate,
                &mut faults.malformed_rate,
            ),
            ("--slow-rate", self.rates.slow_rate, &mut faults.slow_rate),
            (
                "--duplicate-rate",
                self.rates.duplicate_rate,
                &mut duplicate_rate,
            ),
        ] {
            if let Some(value) = given {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&value),
                    "{name} must be within 0..=1, not {value}"
                );
                *rate = value;
            }
        }
        if let Some(ms) = self.rates.latency_ms {
            faults.latency = Duration::from_millis(ms);
        }
        if let Some(n) = self.rates.invalid_every {
            invalid_every = n;
        }
        if invalid_every > 0 {
            faults.invalid_rate = 1.0 / invalid_every as f64;
        }
        departments = departments.with_faults(faults);
        departments.education.invalid_every = invalid_every;
        departments.health.faults.duplicate_rate = duplicate_rate;
        departments.urban.faults.duplicate_rate = duplicate_rate;
        Ok(departments)
    }

    /// The faults in effect, in words.
    fn describe(&self, departments: &Departments) -> String {
        let f = &departments.health.faults;
        if *f == Faults::default() {
            return "none".to_owned();
        }
        let invalid = match departments.education.invalid_every {
            0 => "none on purpose".to_owned(),
            n => format!("1 in {n}"),
        };
        format!(
            "429 {:.0}% (Retry-After {} s), 5xx {:.0}%, truncated {:.0}%, slow {:.0}% (+{} ms), \
             latency {} ms, repeated items {:.0}% (health, urban), invalid {invalid}, at most \
             {} failures per page",
            f.rate_limit_rate * 100.0,
            f.retry_after_secs,
            f.server_error_rate * 100.0,
            f.malformed_rate * 100.0,
            f.slow_rate * 100.0,
            f.slow_latency.as_millis(),
            f.latency.as_millis(),
            f.duplicate_rate * 100.0,
            f.max_failures_per_page,
        )
    }
}

/// Writes what a correct hub on the example config publishes from `departments`.
fn write_expected(
    path: &std::path::Path,
    departments: &Departments,
    faults: &str,
) -> anyhow::Result<()> {
    let config = HubConfig::parse(demo::EXAMPLE_CONFIG, "deploy/govhub.example.toml")?;
    let standard = Standard::embedded().context("loading the schemas")?;
    ExpectedRun::of(departments, &config, &standard, faults)?.write(path)?;
    Ok(())
}

/// Starts the simulators on `base_port` and the three ports after it, the community
/// registry on the fourth, with `faults`, prints where they are and how to
/// authenticate, and serves until Ctrl-C.
pub async fn run(
    seed: u64,
    residents: u64,
    base_port: u16,
    faults: FaultArgs,
) -> anyhow::Result<ExitCode> {
    let Some(last_port) = base_port.checked_add(4).filter(|_| base_port > 0) else {
        anyhow::bail!(
            "--base-port must be within 1..=65531 (five consecutive ports: four departments \
             and the community registry)"
        );
    };
    let ports = Ports {
        education: base_port,
        health: base_port + 1,
        civil_affairs: base_port + 2,
        urban: base_port + 3,
        registry: last_port,
    };
    let departments = faults.apply(Departments::new(seed, residents))?;
    let described = faults.describe(&departments);
    if let Some(path) = &faults.expected {
        write_expected(path, &departments, &described)
            .with_context(|| format!("writing the expected outcome to {}", path.display()))?;
    }
    let running = departments.start(ports).await.with_context(|| {
        format!("starting the simulators on 127.0.0.1 ports {base_port}-{last_port}")
    })?;
    let generation = departments.clock.generation();
    let households = departments.civil_affairs.len(generation);
    let members = departments.civil_affairs.ground_truth(generation).count();
    println!(
        "govhub sim: four simulated departments and a community registry over {residents} \
         synthetic residents (seed {seed})"
    );
    println!("faults: {described}\n");
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
    // Apart from the table: scripts read the table's connectors as the example config's.
    println!(
        "\nnot in the example config (deploy/examples/registry.toml connects it):\n\
         {REGISTRY} ({}) {:<44} Authorization: Bearer {}",
        Department::Registry.as_str(),
        running.registry.url,
        running.registry.credentials.token
    );
    println!(
        "\nrecords: {} students, {} encounters, {households} households ({members} members), {} grid cases, \
         {} registered residents (community)",
        departments.education.students,
        departments.health.len(generation),
        departments.urban.len(generation),
        departments.registry.len(),
    );
    println!(
        "\n# the secrets deploy/govhub.example.toml (and deploy/examples/registry.toml) read from the environment:"
    );
    for (var, value) in demo::secrets(&running) {
        println!("export {var}={}", shell_quote(&value));
    }
    if base_port != demo::DEFAULT_BASE_PORT {
        println!(
            "# note: the example config's URLs expect --base-port {}",
            demo::DEFAULT_BASE_PORT
        );
    }
    if let Some(path) = &faults.expected {
        println!(
            "# expected outcome (for govhub verify --expected): {}",
            path.display()
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
    use super::*;

    fn args(faults: FaultPreset) -> FaultArgs {
        FaultArgs {
            faults,
            expected: None,
            rates: FaultRates {
                rate_limit_rate: None,
                server_error_rate: None,
                malformed_rate: None,
                slow_rate: None,
                latency_ms: None,
                duplicate_rate: None,
                invalid_every: None,
            },
        }
    }

    #[test]
    fn the_default_preset_misbehaves_but_lets_retries_through() {
        let d = args(FaultPreset::Default)
            .apply(Departments::new(1, 100))
            .unwrap();
        for f in [
            &d.education_faults,
            &d.health.faults,
            &d.civil_affairs.faults,
            &d.urban.faults,
            &d.registry.faults,
        ] {
            assert!(f.rate_limit_rate > 0.0 && f.server_error_rate > 0.0);
            assert!(f.malformed_rate > 0.0 && f.slow_rate > 0.0);
            assert_eq!(f.max_failures_per_page, 2);
        }
        // Page-number and offset clients refuse an over-long page: no repeats there.
        assert_eq!(d.education_faults.duplicate_rate, 0.0);
        assert_eq!(d.civil_affairs.faults.duplicate_rate, 0.0);
        assert_eq!(d.registry.faults.duplicate_rate, 0.0);
        assert!(d.health.faults.duplicate_rate > 0.0 && d.urban.faults.duplicate_rate > 0.0);
        assert_eq!(d.education.invalid_every, 50);
        assert!(
            args(FaultPreset::Default)
                .describe(&d)
                .contains("at most 2")
        );
    }

    #[test]
    fn no_faults_by_default_and_rates_override_the_preset() {
        let d = args(FaultPreset::None)
            .apply(Departments::new(1, 100))
            .unwrap();
        assert_eq!(d.health.faults, Faults::default());
        assert_eq!(args(FaultPreset::None).describe(&d), "none");

        let mut a = args(FaultPreset::Default);
        a.rates.server_error_rate = Some(0.0);
        a.rates.invalid_every = Some(0);
        let d = a.apply(Departments::new(1, 100)).unwrap();
        assert_eq!(d.urban.faults.server_error_rate, 0.0);
        assert_eq!(d.urban.faults.invalid_rate, 0.0);
        assert!(d.urban.faults.rate_limit_rate > 0.0);

        a.rates.malformed_rate = Some(1.5);
        let err = a.apply(Departments::new(1, 100)).unwrap_err().to_string();
        assert!(
            err.contains("--malformed-rate must be within 0..=1"),
            "{err}"
        );
    }

    #[test]
    fn the_expected_outcome_follows_the_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expected.json");
        let d = args(FaultPreset::Default)
            .apply(Departments::new(5, 300))
            .unwrap();
        write_expected(&path, &d, "default").unwrap();
        let run = ExpectedRun::load(&path).unwrap();
        assert_eq!((run.seed, run.residents), (5, 300));
        let education = &run.connectors[EDUCATION];
        // One student in fifty is defective; a wrong check character is kept (its ID set
        // aside), the other defects rejected.
        let rejected = d
            .education
            .all()
            .filter(|s| {
                s.defect.is_some() && s.defect != Some(govhub_sim::education::Defect::BadCheckDigit)
            })
            .count();
        assert_eq!(education.invalid.len(), rejected, "one student in fifty");
        assert!(run.connectors.values().all(|c| !c.valid.is_empty()));
    }

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("demo-health-secret"), "demo-health-secret");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
