//! A fifth department connected by configuration alone: the community resident registry
//! (`deploy/examples/registry.toml`, a plain people list with its own field names, split
//! names, document-type codes and bearer auth), checked against its API before going
//! live, run, and resolved together with the four other departments' records.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use govhub::config::HubConfig;
use govhub::demo::{EXAMPLE_CONFIG, REGISTRY, REGISTRY_EXAMPLE, REGISTRY_TOKEN_VAR, point_at};
use govhub::eval::labelled;
use govhub_resolve::identity::Resolver;
use govhub_schema::Standard;
use govhub_sim::noise::IdNoise;
use govhub_sim::registry::DocumentType;
use govhub_sim::{Department, Departments, Ports};

/// The example config with the registry appended, pointed at `running`, into the
/// embedded log under `dir`, keeping only the connectors `keep` names (all: `None`),
/// changed further by `edit`. Returns the file and the secrets its `${VAR}`s need.
fn config_file(
    dir: &Path,
    running: &govhub_sim::RunningDepartments,
    keep: Option<&[&str]>,
    edit: impl FnOnce(&mut toml::Table),
) -> (PathBuf, BTreeMap<String, String>) {
    let text = format!("{EXAMPLE_CONFIG}\n{REGISTRY_EXAMPLE}");
    let mut config = HubConfig::parse(&text, "registry example").unwrap();
    let secrets = point_at(&mut config, running);
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table.remove("kafka");
    table.insert(
        "data_dir".into(),
        dir.join("data").display().to_string().into(),
    );
    let connectors = table["connectors"].as_table_mut().unwrap();
    for (name, connector) in connectors.iter_mut() {
        connector["url"] = config.connectors[name].url.clone().into();
    }
    if let Some(keep) = keep {
        connectors.retain(|name, _| keep.contains(&name));
    }
    edit(&mut table);
    let path = dir.join("govhub.toml");
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    (path, secrets)
}

fn govhub(args: &[&str], secrets: &BTreeMap<String, String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govhub"))
        .args(args)
        .envs(secrets)
        .env("GOVHUB_LOG", "error")
        .env_remove("GOVHUB_ADMIN_TOKEN")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `govhub run --once` on `config`: exit 0, and the registry's row of its table says
/// every registry record was pulled and published, none rejected (a bad ID is kept as
/// unverified), none a duplicate.
fn run_once_publishing_every_registry_record(
    config: &str,
    secrets: &BTreeMap<String, String>,
    departments: &Departments,
) -> Output {
    let run = govhub(&["run", "--config", config, "--once"], secrets);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(REGISTRY))
        .unwrap_or_else(|| panic!("no registry line in {stdout}"));
    let counts: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let items = departments.registry.len();
    assert_eq!(counts, [items, items, 0, 0], "{}", text(&run));
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_people_registry_is_connected_with_config_alone_and_joins_the_others() {
    let departments = Departments::new(11, 1500);
    let running = departments.start(Ports::default()).await.unwrap();
    // Before going live: the registry alone, tried against its API.
    let trial = tempfile::tempdir().unwrap();
    let (alone, secrets) = config_file(trial.path(), &running, Some(&[REGISTRY]), |_| {});
    let alone = alone.to_str().unwrap();
    let checked = govhub(&["check", "--config", alone, "--sample", "400"], &secrets);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    let sampled = text(&checked);
    assert!(
        sampled.contains("connector registry (civil-affairs.resident)\n  sampled 400: would publish 400, would reject 0"),
        "{sampled}"
    );
    assert!(
        !sampled.contains("no rule reads"),
        "the example maps every field: {sampled}"
    );

    // Live, with the four other departments.
    let dir = tempfile::tempdir().unwrap();
    let (config, secrets) = config_file(dir.path(), &running, None, |_| {});
    let config = config.to_str().unwrap();
    let run = run_once_publishing_every_registry_record(config, &secrets, &departments);
    let out = String::from_utf8_lossy(&run.stdout);
    // The data-quality report counts exactly the IDs the simulator spoiled beyond repair
    // (a digit typed wrong, two transposed): kept, set aside, to be sent back.
    let spoiled = departments
        .registry
        .items()
        .filter(|i| {
            i.document == Some(DocumentType::ResidentIdCard)
                && matches!(i.noise().id, Some(IdNoise::Transposed | IdNoise::Mistyped))
        })
        .count();
    assert!(spoiled > 0);
    let reported = out
        .lines()
        .skip_while(|l| !l.starts_with("data quality:"))
        .skip_while(|l| l.trim() != REGISTRY)
        .nth(1)
        .unwrap_or_else(|| panic!("no data-quality line for the registry in {out}"));
    let fields: Vec<&str> = reported.split_whitespace().collect();
    assert_eq!(fields[0], "/person/identifiers/resident_id_unverified");
    assert_eq!(fields[1], spoiled.to_string(), "{reported}");
    assert_eq!(fields[2], "e.g.", "record ids as examples: {reported}");
    // The same records carry the flag on their events, for consumers.
    let log = std::fs::read_to_string(
        dir.path()
            .join("data/log/govhub.civil-affairs.resident.v1.jsonl"),
    )
    .unwrap();
    let flagged = log
        .lines()
        .filter(|l| {
            l.contains(r#"["ce_govhubquality","/person/identifiers/resident_id_unverified"]"#)
        })
        .count();
    assert_eq!(flagged, spoiled, "events flagged ce_govhubquality");
    assert!(
        out.contains("\nidentity: "),
        "run --once says what resolution did: {out}"
    );
    running.shutdown().await.unwrap();

    // Resolution across departments, scored against the simulator's ground truth: the
    // same mappings and standard as the run, every record in the order a hub reads them.
    let (pairs, recall, precision) = registry_links(&departments, Path::new(config), None);
    assert!(
        pairs > 1000,
        "the registry shares residents with the others: {pairs}"
    );
    assert!(
        recall >= 0.95 && precision >= 0.99,
        "registry ↔ other departments: recall {recall:.4}, precision {precision:.4} over {pairs} true pairs"
    );
}

/// Pairs of a registry record and another department's record of one resident (ground
/// truth), and the recall and precision of resolution on them, resolving every
/// simulated record through the config's mappings and standard (`schemas_dir`: the
/// embedded one extended by that directory).
fn registry_links(
    departments: &Departments,
    config: &Path,
    schemas_dir: Option<&Path>,
) -> (u64, f64, f64) {
    let config = HubConfig::load(config).unwrap();
    let standard = match schemas_dir {
        Some(dir) => Standard::embedded_with(dir).unwrap(),
        None => Standard::embedded().unwrap(),
    };
    let data = labelled(departments, &config, &standard);
    let model = Resolver::load_model(&config.identity).unwrap();
    let mut resolver = Resolver::in_memory(&config.identity, &model).unwrap();
    for o in &data.observations {
        resolver.observe(o);
    }
    let person: HashMap<_, _> = resolver.assignments().collect();
    let registry = Department::Registry.as_str();
    let is_registry = |i: usize| data.observations[i].record.department == registry;
    assert!(
        (0..data.observations.len()).any(is_registry),
        "registry records are observed"
    );
    let mut by_resident: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_person: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (o, t)) in data.observations.iter().zip(&data.truth).enumerate() {
        by_resident.entry(*t).or_default().push(i);
        by_person
            .entry(person[&o.record].as_str())
            .or_default()
            .push(i);
    }
    let cross = |groups: Vec<&Vec<usize>>, counts: &dyn Fn(usize, usize) -> bool| {
        let (mut all, mut counted) = (0u64, 0u64);
        for members in groups {
            for &a in members.iter().filter(|&&a| is_registry(a)) {
                for &b in members.iter().filter(|&&b| !is_registry(b)) {
                    all += 1;
                    counted += u64::from(counts(a, b));
                }
            }
        }
        (all, counted)
    };
    let same_person = |a: usize, b: usize| {
        person[&data.observations[a].record] == person[&data.observations[b].record]
    };
    let same_resident = |a: usize, b: usize| data.truth[a] == data.truth[b];
    let (pairs, found) = cross(by_resident.values().collect(), &same_person);
    let (predicted, right) = cross(by_person.values().collect(), &same_resident);
    (
        pairs,
        found as f64 / pairs.max(1) as f64,
        right as f64 / predicted.max(1) as f64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_from_a_local_schema_directory_takes_part_in_resolution() {
    // A kind govhub does not ship, about a person: no Rust changes, only a schema file
    // with its x-govhub-person annotation and a config that points at it.
    let schemas = tempfile::tempdir().unwrap();
    std::fs::create_dir(schemas.path().join("community")).unwrap();
    std::fs::write(
        schemas.path().join("community/volunteer.v1.json"),
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://govhub.invalid/schemas/community/volunteer.v1.json",
            "title": "志愿者 (volunteer)",
            "x-govhub-person": "/volunteer",
            "type": "object",
            "additionalProperties": false,
            "required": ["volunteer_id", "volunteer"],
            "properties": {
                "volunteer_id": {"type": "string", "minLength": 1},
                "volunteer": {"$ref": "https://govhub.invalid/schemas/common/person.v1.json"},
                "hours": {"type": "integer", "minimum": 0}
            }
        })
        .to_string(),
    )
    .unwrap();
    let mapping = r#"
"/volunteer_id" = { from = "/rkbh" }
"/volunteer/name" = { concat = ["/xing", "/ming"], normalize = "name" }
"/volunteer/sex" = { from = "/xbdm", codes = "sex_gb2261", optional = true }
"/volunteer/birth_date" = { from = "/csrq", date = "compact", optional = true }
"/volunteer/identifiers/resident_id" = { from = "/zjhm", normalize = "resident_id", on_invalid = "/volunteer/identifiers/resident_id_unverified", when = { field = "/zjlx", equals = "111" } }
"/volunteer/contacts/phone" = { from = "/sjhm", normalize = "mobile", optional = true }
"/hours" = { const = 0 }
"#;
    let departments = Departments::new(12, 1200);
    let running = departments.start(Ports::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, secrets) = config_file(dir.path(), &running, None, |table| {
        table.insert(
            "schemas_dir".into(),
            schemas.path().display().to_string().into(),
        );
        let registry = &mut table["connectors"][REGISTRY];
        registry["kind"] = "community.volunteer".into();
        registry["mapping"] = toml::from_str(mapping).unwrap();
    });
    let config = config.to_str().unwrap();
    let checked = govhub(&["check", "--config", config], &secrets);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    run_once_publishing_every_registry_record(config, &secrets, &departments);
    running.shutdown().await.unwrap();

    let (pairs, recall, precision) =
        registry_links(&departments, Path::new(config), Some(schemas.path()));
    assert!(pairs > 500, "{pairs}");
    assert!(
        recall >= 0.95 && precision >= 0.99,
        "volunteers ↔ other departments: recall {recall:.4}, precision {precision:.4} over {pairs} pairs"
    );

    // Without the directory the kind is unknown: a config error, not a silent skip.
    let without = std::fs::read_to_string(config)
        .unwrap()
        .replace("schemas_dir", "# schemas_dir");
    let path = dir.path().join("without.toml");
    std::fs::write(&path, without).unwrap();
    let checked = govhub(&["check", "--config", path.to_str().unwrap()], &secrets);
    assert_eq!(checked.status.code(), Some(2), "{}", text(&checked));
    assert!(
        text(&checked).contains("no schema for kind \"community.volunteer\""),
        "{}",
        text(&checked)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sample_reports_a_wrong_mapping_before_anything_is_published() {
    let departments = Departments::new(5, 400);
    let running = departments.start(Ports::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // What a first attempt looks like: a name field the registry does not have, the
    // birth date read in the wrong layout, sex codes not translated, and the rest of
    // the registry's fields ignored.
    let wrong = r#"
"/record_id" = { from = "/rkbh" }
"/person/name" = { from = "/xm" }
"/person/birth_date" = { from = "/csrq", date = "iso", optional = true }
"/person/sex" = { from = "/xbdm", optional = true }
"#;
    let (config, secrets) = config_file(dir.path(), &running, Some(&[REGISTRY]), |table| {
        table["connectors"][REGISTRY]["mapping"] = toml::from_str(wrong).unwrap();
    });
    let config = config.to_str().unwrap();
    let out = govhub(&["check", "--config", config, "--sample", "100"], &secrets);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("sampled 100: would publish 0, would reject 100"),
        "{said}"
    );
    // Every reason in one round: the map's and the schema's together.
    for reason in [
        "100 × map: missing at /xm",
        "map: date at /csrq",
        "validate: enum at /person/sex",
    ] {
        assert!(said.contains(reason), "{reason:?} in {said}");
    }
    assert!(
        said.contains("(e.g. RK0000000001, RK0000000002, RK0000000003)"),
        "record ids as examples: {said}"
    );
    let unread = said
        .lines()
        .find_map(|l| l.trim().strip_prefix("source fields no rule reads: "))
        .unwrap_or_else(|| panic!("no unread fields line in {said}"));
    for field in ["/xing", "/ming", "/zjhm", "/jzdz", "/gxsj"] {
        assert!(
            unread.split(", ").any(|f| f == field),
            "{field} in {unread}"
        );
    }
    assert!(
        !unread.contains("/csrq"),
        "a field read, even badly, is used: {unread}"
    );
    assert!(
        said.contains("fields the mapping reads that no sampled record has: /xm"),
        "{said}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a dry run writes nothing, not even the data directory"
    );

    // With a wrong token the API refuses: the connector cannot be sampled, said plainly.
    let mut wrong_token = secrets.clone();
    wrong_token.insert(REGISTRY_TOKEN_VAR.into(), "not-the-token".into());
    let out = govhub(&["check", "--config", config, "--sample"], &wrong_token);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("cannot sample:"), "{said}");
    assert!(
        !said.contains("not-the-token"),
        "the secret is never shown: {said}"
    );
    // Zero records is no sample: a usage error, before anything is fetched.
    let out = govhub(&["check", "--config", config, "--sample", "0"], &secrets);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    running.shutdown().await.unwrap();
}
