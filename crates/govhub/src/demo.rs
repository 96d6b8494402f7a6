//! `govhub demo`: the four simulated departments, the hub and the embedded log in one
//! process, on the example config, with no setup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use govhub_schema::Standard;
use govhub_sim::Feed;
use govhub_sim::auth::Credentials;
use govhub_sim::education::Defect as EducationDefect;
use govhub_sim::{Departments, Faults, Ports, RunningDepartments};
use govhub_stream::{EmbeddedLog, Topics};
use tokio_util::sync::CancellationToken;

use crate::config::HubConfig;
use crate::hub::{BuildError, Hub, ProgressFn};
use crate::pipeline::{Counts, PipelineError};

/// The example config the demo runs, as shipped in `deploy/`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../deploy/govhub.example.toml");

/// Connector names of the example config, one per simulated department.
pub const EDUCATION: &str = "education";
/// See [`EDUCATION`].
pub const HEALTH: &str = "health";
/// See [`EDUCATION`].
pub const CIVIL_AFFAIRS: &str = "civil_affairs";
/// See [`EDUCATION`].
pub const URBAN: &str = "urban";
/// The community resident registry's connector in [`REGISTRY_EXAMPLE`].
pub const REGISTRY: &str = "registry";
/// A fifth department connected by config alone: `deploy/examples/registry.toml`, to
/// append to [`EXAMPLE_CONFIG`].
pub const REGISTRY_EXAMPLE: &str = include_str!("../../../deploy/examples/registry.toml");
/// Environment variable [`REGISTRY_EXAMPLE`] reads the registry's bearer token from.
pub const REGISTRY_TOKEN_VAR: &str = "GOVHUB_REGISTRY_TOKEN";

/// Environment variable the example config reads the health gateway's app secret from.
pub const HEALTH_APP_SECRET_VAR: &str = "GOVHUB_HEALTH_APP_SECRET";
/// Environment variable the example config reads the civil affairs password from.
pub const CIVIL_PASSWORD_VAR: &str = "GOVHUB_CIVIL_PASSWORD";
/// Environment variable the example config reads the urban platform's API key from.
pub const URBAN_API_KEY_VAR: &str = "GOVHUB_URBAN_API_KEY";

/// Ports `govhub sim` listens on by default, as the example config's URLs expect:
/// education, health, civil affairs and urban management from this one up.
pub const DEFAULT_BASE_PORT: u16 = 8801;

/// What the demo simulates.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the synthetic population.
    pub seed: u64,
    /// Residents in the population every department's records are about.
    pub residents: u64,
    /// One student record in this many is invalid, and the other departments' records
    /// are invalid at the rate `1 / invalid_every` (0: none on purpose; noise can still
    /// make a record invalid).
    pub invalid_every: u64,
    /// Generation the simulators serve: 0 is the initial load, each later one adds
    /// and changes records. A run on the same data directory at a later generation
    /// pulls only what changed.
    pub generation: u64,
    /// Where to keep cursors and the embedded log.
    pub data_dir: PathBuf,
}

impl DemoOptions {
    /// The simulated departments these options describe: default noise and demo
    /// credentials, invalid records as [`DemoOptions::invalid_every`] says, the clock at
    /// [`DemoOptions::generation`].
    pub fn departments(&self) -> Departments {
        let mut departments = Departments::new(self.seed, self.residents);
        if self.invalid_every > 0 {
            departments = departments.with_faults(Faults {
                invalid_rate: 1.0 / self.invalid_every as f64,
                ..Faults::default()
            });
        }
        departments.education.invalid_every = self.invalid_every;
        departments.clock.set(self.generation);
        departments
    }
}

/// What the demo did, read back from the embedded log.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Counts per connector.
    pub counts: BTreeMap<String, Counts>,
    /// Events found in the embedded log per topic after the run.
    pub stored: BTreeMap<String, usize>,
    /// Directory of the embedded log.
    pub log_dir: PathBuf,
    /// What identity resolution did.
    pub identity: govhub_resolve::identity::IdentityStats,
    /// Residents whose records come from more than one department.
    pub unified: u64,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulators could not start.
    #[error("simulator: {0}")]
    Sim(std::io::Error),
    /// The example config does not parse.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The hub could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A connector failed.
    #[error("connector {0}: {1}")]
    Sync(String, PipelineError),
    /// The embedded log could not be read back.
    #[error(transparent)]
    Stream(#[from] govhub_stream::StreamError),
}

/// Points the example config's connectors at `running` (the URLs the simulators got)
/// and returns the values of the `${VAR}` secrets the config expects, from the
/// simulators' credentials.
pub fn point_at(config: &mut HubConfig, running: &RunningDepartments) -> BTreeMap<String, String> {
    for (name, department) in [
        (EDUCATION, &running.education),
        (HEALTH, &running.health),
        (CIVIL_AFFAIRS, &running.civil_affairs),
        (URBAN, &running.urban),
    ] {
        if let Some(connector) = config.connectors.get_mut(name) {
            connector.url.clone_from(&department.url);
        }
    }
    if let Some(connector) = config.connectors.get_mut(REGISTRY) {
        connector.url.clone_from(&running.registry.url);
    }
    secrets(running)
}

/// The `${VAR}` secrets of the example config (and of the registry example), from the
/// simulators' credentials.
pub fn secrets(running: &RunningDepartments) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for department in running.all() {
        let (var, value) = match &department.credentials {
            Credentials::None => continue,
            Credentials::SignedGateway(c) => (HEALTH_APP_SECRET_VAR, &c.app_secret),
            Credentials::Basic(c) => (CIVIL_PASSWORD_VAR, &c.password),
            Credentials::ApiKey(c) => (URBAN_API_KEY_VAR, &c.key),
        };
        env.insert(var.to_owned(), value.clone());
    }
    env.insert(
        REGISTRY_TOKEN_VAR.to_owned(),
        running.registry.credentials.token.clone(),
    );
    env
}

/// The simulators running and a hub on the example config pointed at them.
#[derive(Debug)]
pub struct Demo {
    /// The hub, into the embedded log under the data directory.
    pub hub: Hub,
    /// The config the hub runs: the example's, with the simulators' URLs.
    pub config: HubConfig,
    /// The simulated departments.
    pub departments: RunningDepartments,
}

impl Demo {
    /// Starts the simulators on free ports and builds the hub; nothing is synced yet.
    pub async fn start(options: &DemoOptions) -> Result<Demo, DemoError> {
        Self::start_with(options, |_, _| {}).await
    }

    /// [`Demo::start`], with `configure` given the config and the `${VAR}` secrets the
    /// hub will read before it is built (to add views and their keys, say).
    pub async fn start_with(
        options: &DemoOptions,
        configure: impl FnOnce(&mut HubConfig, &mut BTreeMap<String, String>),
    ) -> Result<Demo, DemoError> {
        let departments = options
            .departments()
            .start(Ports::default())
            .await
            .map_err(DemoError::Sim)?;
        let mut config = HubConfig::parse(EXAMPLE_CONFIG, "deploy/govhub.example.toml")?;
        config.kafka = None;
        config.data_dir = options.data_dir.clone();
        let mut env = point_at(&mut config, &departments);
        configure(&mut config, &mut env);
        let standard = Arc::new(Standard::embedded().map_err(BuildError::from)?);
        let hub = Hub::build_with_env(&config, standard, &|var| env.get(var).cloned()).await?;
        Ok(Demo {
            hub,
            config,
            departments,
        })
    }

    /// What the embedded log holds now, with `counts`.
    pub fn report(&self, counts: BTreeMap<String, Counts>) -> Result<DemoReport, DemoError> {
        let log_dir = self.config.data_dir.join("log");
        let log = EmbeddedLog::open(&log_dir)?;
        let topics = Topics::new(&self.config.topic_prefix).unwrap_or_default();
        let mut stored = BTreeMap::new();
        for topic in log.topics()? {
            if topic.starts_with(topics.prefix()) {
                stored.insert(topic.clone(), log.count(&topic)?);
            }
        }
        Ok(DemoReport {
            counts,
            stored,
            log_dir,
            identity: self.hub.identity_stats(),
            unified: self.hub.unified_across_departments(),
        })
    }
}

/// Runs the simulators and the hub until every department is fully synced, telling
/// `progress` about every batch.
pub async fn run(options: &DemoOptions, progress: ProgressFn) -> Result<DemoReport, DemoError> {
    let mut demo = Demo::start(options).await?;
    let mut counts = BTreeMap::new();
    let synced = demo
        .hub
        .sync_all_with_progress(&mut counts, &CancellationToken::new(), progress)
        .await;
    let report = demo.report(counts);
    let _ = demo.departments.shutdown().await;
    synced.map_err(|(connector, e)| DemoError::Sync(connector, e))?;
    report
}

/// Where a correct hub puts one connector's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Source record ids that must arrive on the kind's topic.
    pub valid: BTreeSet<String>,
    /// Source record ids that must arrive on the dead-letter topic.
    pub invalid: BTreeSet<String>,
}

/// What the example config's connectors must publish from `departments` at their
/// clock's generation, starting from nothing, per connector — from the simulators' own
/// record lists, not from running anything: a record with a deliberate defect is
/// rejected (for a household, the members the defect touches); everything else is
/// published, a person entry whose resident ID has two digits swapped too, and a
/// student whose resident ID has a wrong check character (the example config sets
/// such an ID aside as unverified rather than lose the record).
pub fn expected(departments: &Departments) -> BTreeMap<&'static str, Expected> {
    let generation = departments.clock.generation();
    let mut out: BTreeMap<&'static str, Expected> = BTreeMap::new();
    let mut put = |connector, id: String, valid: bool| {
        let entry = out.entry(connector).or_default();
        if valid {
            entry.valid.insert(id);
        } else {
            entry.invalid.insert(id);
        }
    };
    for student in departments.education.all() {
        let kept = matches!(student.defect, None | Some(EducationDefect::BadCheckDigit));
        put(EDUCATION, student.id, kept);
    }
    for r in departments.health.records(generation) {
        put(HEALTH, r.id.clone(), r.defect.is_none());
    }
    for r in departments.civil_affairs.records(generation) {
        for (slot, person) in r.people.iter().enumerate() {
            // Address defects touch every member; the others only the head.
            let defective = match r.defect {
                None => false,
                Some("bad_division_code" | "empty_address") => true,
                Some(_) => slot == 0,
            };
            put(CIVIL_AFFAIRS, person.record_id.clone(), !defective);
        }
    }
    for r in departments.urban.records(generation) {
        // Reporters carry no resident ID: only defects are rejected.
        put(URBAN, r.id.clone(), r.defect.is_none());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &std::path::Path) -> DemoOptions {
        DemoOptions {
            seed: 7,
            residents: 600,
            invalid_every: 25,
            generation: 0,
            data_dir: dir.to_owned(),
        }
    }

    fn topic_of(connector: &str) -> &'static str {
        match connector {
            EDUCATION => "govhub.education.enrollment.v2",
            HEALTH => "govhub.health.encounter.v1",
            CIVIL_AFFAIRS => "govhub.civil-affairs.household-member.v1",
            _ => "govhub.urban-management.grid-case.v1",
        }
    }

    /// Every path under `dir` (`dir` included) with its mode bits, depth first.
    #[cfg(unix)]
    fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
            }
            out.push((path, meta.is_dir(), meta.permissions().mode() & 0o7777));
        }
        out
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn everything_under_the_data_dir_is_private_to_its_user() {
        let dir = tempfile::tempdir().unwrap();
        // A data_dir that does not exist yet: govhub creates it, and all in it.
        let data_dir = dir.path().join("var/govhub");
        run(&options(&data_dir), std::sync::Arc::new(|_| {}))
            .await
            .unwrap();
        let found = modes(&data_dir);
        let files = found.iter().filter(|(_, is_dir, _)| !is_dir).count();
        // The lock, the log's topics, and the state store's files.
        assert!(files > 10, "{found:?}");
        for dir in ["log", "state"] {
            assert!(data_dir.join(dir).is_dir(), "{dir}");
        }
        for (path, is_dir, mode) in &found {
            if *is_dir {
                assert_eq!(mode & 0o077, 0, "{}: {mode:o}", path.display());
                assert_eq!(mode & 0o700, 0o700, "{}: {mode:o}", path.display());
            } else {
                assert_eq!(mode & !0o600, 0, "{}: {mode:o}", path.display());
            }
        }
        assert_eq!(
            found.iter().find(|(p, ..)| *p == data_dir).unwrap().2,
            0o700
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_syncs_all_four_departments_and_only_changes_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        let report = run(&options, std::sync::Arc::new(|_| {})).await.unwrap();
        let departments = options.departments();
        let expected = expected(&departments);
        assert_eq!(
            report.counts.keys().collect::<Vec<_>>(),
            [CIVIL_AFFAIRS, EDUCATION, HEALTH, URBAN]
        );
        let mut dead_letters = 0;
        for (name, c) in &report.counts {
            let e = &expected[name.as_str()];
            assert_eq!(c.pulled, c.published + c.rejected, "{name}");
            assert_eq!(c.duplicates, 0, "{name}");
            assert_eq!(
                (c.published, c.rejected),
                (e.valid.len() as u64, e.invalid.len() as u64),
                "{name}: {:?}",
                c.reasons
            );
            assert!(c.published > 0 && c.rejected > 0, "{name}");
            assert_eq!(report.stored[topic_of(name)], e.valid.len(), "{name}");
            dead_letters += e.invalid.len();
        }
        assert_eq!(report.stored["govhub.dlq.v1"], dead_letters);

        // The student registry: every 25th record broken. A wrong check character costs
        // nothing but the ID (the example config's mapping sets it aside and flags the
        // enrollment); the other three defects are caught by the schema.
        let edu = &report.counts[EDUCATION];
        let students = departments.education.students;
        let mistyped = departments
            .education
            .all()
            .filter(|s| s.defect == Some(EducationDefect::BadCheckDigit))
            .count() as u64;
        assert!(mistyped > 0);
        assert_eq!(edu.pulled, students);
        assert_eq!(edu.rejected, students / 25 - mistyped);
        assert_eq!(
            edu.set_aside["/student/resident_id_unverified"].count,
            mistyped
        );
        for reason in [
            "validate: maximum at /grade",
            "validate: required at /school",
            "validate: format at /student/birth_date",
        ] {
            assert!(
                edu.reasons.contains_key(reason),
                "{reason}: {:?}",
                edu.reasons
            );
        }
        assert_eq!(edu.reasons.len(), 3, "{:?}", edu.reasons);
        // Households are split into members; the others are one record per item.
        assert_eq!(
            report.counts[CIVIL_AFFAIRS].pulled,
            departments.civil_affairs.ground_truth(0).count() as u64
        );
        assert_eq!(report.counts[HEALTH].pulled, departments.health.len(0));
        assert_eq!(report.counts[URBAN].pulled, departments.urban.len(0));

        // Again on the same data dir and generation: every cursor is committed, nothing
        // is pulled or published.
        let again = run(&options, std::sync::Arc::new(|_| {})).await.unwrap();
        for (name, c) in &again.counts {
            assert_eq!(c.pulled, 0, "{name}");
        }
        assert_eq!(again.stored, report.stored);

        // One generation later: only what changed is pulled. The registry is static;
        // the health platform and the household register append (their paging cannot
        // see changes to old records); the grid case feed also re-delivers every case
        // changed since, as a new version.
        let next = DemoOptions {
            generation: 1,
            ..options.clone()
        };
        let later = run(&next, std::sync::Arc::new(|_| {})).await.unwrap();
        let d = next.departments();
        let before: BTreeMap<String, String> = departments
            .urban
            .records(0)
            .map(|r| (r.id, r.value["updated_at"].to_string()))
            .collect();
        let changed_cases = d
            .urban
            .records(1)
            .filter(|r| before.get(&r.id) != Some(&r.value["updated_at"].to_string()))
            .count() as u64;
        let pulled = |name: &str| later.counts[name].pulled;
        assert_eq!(pulled(EDUCATION), 0);
        assert_eq!(pulled(HEALTH), d.health.len(1) - d.health.len(0));
        assert_eq!(
            pulled(CIVIL_AFFAIRS),
            (d.civil_affairs.ground_truth(1).count() - d.civil_affairs.ground_truth(0).count())
                as u64
        );
        assert_eq!(pulled(URBAN), changed_cases);
        assert!(pulled(HEALTH) > 0 && pulled(CIVIL_AFFAIRS) > 0);
        assert!(
            changed_cases > d.urban.len(1) - d.urban.len(0),
            "updates too"
        );
        for (name, c) in &later.counts {
            assert_eq!(c.pulled, c.published + c.rejected, "{name}");
            assert_eq!(c.duplicates, 0, "{name}: changes are new versions");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_enrollment_with_a_wrong_check_character_is_published_flagged_on_v2() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        let report = run(&options, std::sync::Arc::new(|_| {})).await.unwrap();
        // The students whose resident ID the registry has with a wrong check character.
        let mistyped: BTreeMap<String, serde_json::Value> = options
            .departments()
            .education
            .all()
            .filter(|s| s.defect == Some(EducationDefect::BadCheckDigit))
            .map(|s| (s.id, s.value["student"]["resident_id"].clone()))
            .collect();
        assert!(!mistyped.is_empty());
        assert!(!report.stored.contains_key("govhub.education.enrollment.v1"));

        let log = EmbeddedLog::open(&report.log_dir).unwrap();
        let events = log.read("govhub.education.enrollment.v2").unwrap();
        let mut flagged = BTreeSet::new();
        for event in &events {
            assert_eq!(
                event.header("ce_type"),
                Some("govhub.education.enrollment.v2")
            );
            assert!(
                event
                    .header("ce_dataschema")
                    .is_some_and(|s| s.ends_with("/education/enrollment.v2.json"))
            );
            let id = event.header("ce_subject").unwrap();
            let student = &event.value["student"];
            match mistyped.get(id) {
                Some(bad) => {
                    // The ID is kept apart, as the registry had it; the record is flagged.
                    assert_eq!(&student["resident_id_unverified"], bad, "{id}");
                    assert!(student.get("resident_id").is_none(), "{id}");
                    assert_eq!(
                        event.header("ce_govhubquality"),
                        Some("/student/resident_id_unverified"),
                        "{id}"
                    );
                    flagged.insert(id.to_owned());
                }
                None => {
                    assert!(student.get("resident_id_unverified").is_none(), "{id}");
                    assert_eq!(event.header("ce_govhubquality"), None, "{id}");
                }
            }
        }
        assert_eq!(flagged, mistyped.keys().cloned().collect());
        // None of them is a dead letter, and the data-quality report names them.
        for letter in log.read("govhub.dlq.v1").unwrap() {
            let id = letter.value["source_record_id"].as_str().unwrap();
            assert!(!mistyped.contains_key(id), "{id} dead-lettered");
        }
        let quality = &report.counts[EDUCATION].set_aside["/student/resident_id_unverified"];
        assert_eq!(quality.count, mistyped.len() as u64);
        assert!(quality.examples.iter().all(|id| mistyped.contains_key(id)));
    }

    #[test]
    fn the_example_config_expects_the_secrets_the_demo_supplies() {
        let config = HubConfig::parse(EXAMPLE_CONFIG, "example").unwrap();
        let text = serde_json::to_string(&config.connectors).unwrap();
        for var in [HEALTH_APP_SECRET_VAR, CIVIL_PASSWORD_VAR, URBAN_API_KEY_VAR] {
            assert!(text.contains(&format!("${{{var}}}")), "{var}");
        }
        for (name, port) in [
            (EDUCATION, DEFAULT_BASE_PORT),
            (HEALTH, DEFAULT_BASE_PORT + 1),
            (CIVIL_AFFAIRS, DEFAULT_BASE_PORT + 2),
            (URBAN, DEFAULT_BASE_PORT + 3),
        ] {
            let url = &config.connectors[name].url;
            assert!(
                url.starts_with(&format!("http://127.0.0.1:{port}/")),
                "{url}"
            );
        }
    }
}
