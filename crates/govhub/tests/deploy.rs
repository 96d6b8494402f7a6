//! The deployment files under `deploy/` agree with govhub and with each other: the
//! systemd unit, the Kubernetes manifests, the compose file and the Grafana dashboard.
//!
//! YAML is parsed by Python's PyYAML (the workspace has no YAML crate). Where a checking
//! tool is installed it runs too: `systemd-analyze verify` and `security --offline`,
//! `kubectl kustomize`, `docker compose config`, `promtool check rules`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

mod common;
use common::govhub;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Whether `tool` can be run (`tool --version` or the given probe succeeds).
fn have(tool: &str, probe: &[&str]) -> bool {
    Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every document of each YAML file, as JSON, parsed by PyYAML.
fn yaml(files: &[PathBuf]) -> BTreeMap<String, Vec<Value>> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        print(json.dumps({f: list(yaml.safe_load_all(open(f, encoding='utf-8'))) for f in sys.argv[1:]}))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); it parses the YAML files"));
    assert!(
        out.status.success(),
        "PyYAML could not parse the files (install it with `pip install pyyaml` or \
         `apt-get install python3-yaml` if it is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The only document of a YAML file.
fn yaml_doc(path: &Path) -> Value {
    let mut docs = yaml(&[path.to_owned()]).into_values().next().unwrap();
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0)
}

/// The options `govhub <command> --help` lists.
fn flags(command: &[&str]) -> BTreeSet<String> {
    let mut args = command.to_vec();
    args.push("--help");
    let out = govhub(&args);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(['=', '.']).to_owned())
        .collect()
}

/// The default of `--shutdown-timeout`, as `govhub run --help` states it.
fn shutdown_timeout_default() -> u64 {
    let out = govhub(&["run", "--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    let line = help
        .lines()
        .find(|l| l.contains("--shutdown-timeout"))
        .unwrap();
    let default = line.split("[default: ").nth(1).unwrap();
    default[..default.find(']').unwrap()].parse().unwrap()
}

/// Checks a `govhub` command line: the subcommand and every option exist, and returns
/// the options' values.
fn check_command_line(args: &[String], what: &str) -> BTreeMap<String, String> {
    let at = args
        .iter()
        .position(|a| a == "run")
        .unwrap_or_else(|| panic!("{what}: no `run` in {args:?}"));
    let run_flags = flags(&["run"]);
    let mut values = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (flag, None),
            };
            assert!(
                run_flags.contains(&format!("--{name}")),
                "{what}: `govhub run` has no option --{name} (it has {run_flags:?})"
            );
            let value = match inline {
                Some(v) => v,
                None if name == "once" => String::new(),
                None => {
                    i += 1;
                    args[i].clone()
                }
            };
            values.insert(name.to_owned(), value);
        } else {
            assert!(i == at, "{what}: unexpected argument {arg:?} in {args:?}");
        }
        i += 1;
    }
    values
}

/// Writes `text` to a file in `dir` and runs `govhub check` on it.
fn assert_config_checks(dir: &Path, text: &str, what: &str) -> toml::Table {
    let path = dir.join("checked.toml");
    std::fs::write(&path, text).unwrap();
    let out = govhub(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{what} fails `govhub check`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    toml::from_str(text).unwrap()
}

/// The `${VAR}` secrets a config text reads from the environment (comments aside).
fn secrets_of(config: &str) -> BTreeSet<String> {
    config
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split("\"${").skip(1))
        .map(|rest| rest[..rest.find('}').unwrap()].to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------------------

/// `key → values` of a unit file (a key may repeat).
fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap();
        settings
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    settings
}

#[test]
fn the_systemd_unit_runs_govhub_hardened() {
    let path = repo().join("deploy/systemd/govhub.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let unit = unit_settings(&text);
    let one = |key: &str| -> &str {
        let values = unit.get(key).unwrap_or_else(|| panic!("{key} is not set"));
        assert_eq!(values.len(), 1, "{key}");
        &values[0]
    };

    let exec: Vec<String> = one("ExecStart")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/govhub");
    let options = check_command_line(&exec[1..], "ExecStart");
    assert_eq!(options["config"], "/etc/govhub/govhub.toml");
    assert_eq!(options["admin"], "127.0.0.1:9464");
    assert_eq!(one("EnvironmentFile"), "/etc/govhub/govhub.env");

    // The data directory: StateDirectory=govhub is /var/lib/govhub, the example's.
    assert_eq!(one("StateDirectory"), "govhub");
    // Personal data: only govhub's user enters it, and what it creates there is private.
    assert_eq!(one("StateDirectoryMode"), "0700");
    assert_eq!(one("UMask"), "0077");
    let example: toml::Table = toml::from_str(
        &std::fs::read_to_string(repo().join("deploy/govhub.example.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(example["data_dir"].as_str(), Some("/var/lib/govhub"));

    // systemd waits longer than govhub's own shutdown deadline before SIGKILL.
    let stop: u64 = one("TimeoutStopSec").trim_end_matches('s').parse().unwrap();
    assert!(stop > shutdown_timeout_default(), "TimeoutStopSec={stop}");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("DynamicUser"), "yes");

    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert!(unit["SystemCallFilter"].contains(&"@system-service".to_owned()));

    if !have("systemd-analyze", &["--version"]) {
        eprintln!("note: systemd-analyze is not installed; the unit was only parsed");
        return;
    }
    // verify wants ExecStart to exist: point a copy at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("govhub.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/govhub", env!("CARGO_BIN_EXE_govhub")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    if out.status.success() {
        let report = String::from_utf8_lossy(&out.stdout);
        let level: f64 = report
            .lines()
            .find_map(|l| {
                l.split("Overall exposure level for govhub.service: ")
                    .nth(1)
            })
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no exposure level in:\n{report}"))
            .parse()
            .unwrap();
        assert!(level <= 2.0, "exposure level {level}:\n{report}");
    } else {
        eprintln!(
            "note: this systemd-analyze cannot score units offline: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------

/// The documents of each kind (a kind may come more than once: the Services).
fn by_kind(docs: &BTreeMap<String, Vec<Value>>) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for (file, docs) in docs {
        for doc in docs {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no kind"));
            assert!(doc["apiVersion"].is_string(), "{file}: no apiVersion");
            if kind != "Kustomization" {
                let name = doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: no name"));
                assert!(
                    names.insert((kind.to_owned(), name.to_owned())),
                    "two {kind}s named {name}"
                );
            }
            out.entry(kind.to_owned()).or_default().push(doc.clone());
        }
    }
    out
}

/// The one document of `kind`.
fn only<'a>(kinds: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    let docs = &kinds[kind];
    assert_eq!(docs.len(), 1, "{} {kind}s", docs.len());
    &docs[0]
}

/// Every key of a label selector's `matchLabels` (or a Service's `selector`) is on
/// the pod with the same value, and there is at least one.
fn assert_selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no selector"));
    assert!(!selector.is_empty(), "{what}: an empty selector");
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "{what}: selector {k}");
    }
}

/// A probe's or service's port, resolved through the container's named ports.
fn port_of(port: &Value, container: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
            .as_u64()
            .unwrap(),
        other => panic!("port {other}"),
    }
}

#[test]
fn the_kubernetes_manifests_agree_with_govhub_and_each_other() {
    let k8s = repo().join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&k8s)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let docs = yaml(&files);
    let kinds = by_kind(&docs);
    let names: BTreeSet<&str> = kinds.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "ConfigMap",
            "Kustomization",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "StatefulSet"
        ])
    );

    // kustomization.yaml lists every manifest but the example Secret.
    let listed: BTreeSet<String> = only(&kinds, "Kustomization")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let on_disk: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|f| f != "kustomization.yaml" && f != "secret.example.yaml")
        .collect();
    assert_eq!(listed, on_disk);

    // One active pod and one warm standby, each with its own data directory; updated
    // pod by pod by hand (a RollingUpdate would wait for ever for the standby, never
    // Ready, to become Ready).
    let statefulset = only(&kinds, "StatefulSet");
    let spec = &statefulset["spec"];
    assert_eq!(spec["replicas"], 2, "one active instance, one standby");
    assert_eq!(spec["updateStrategy"]["type"], "OnDelete");
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    let pod = &spec["template"]["spec"];
    let labels = &spec["template"]["metadata"]["labels"];
    assert_selects(&spec["selector"]["matchLabels"], labels, "statefulset");
    let anti_affinity =
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .expect("a preferred podAntiAffinity");
    assert!(
        anti_affinity.iter().any(|term| {
            let term = &term["podAffinityTerm"];
            term["topologyKey"] == "kubernetes.io/hostname"
                && term["labelSelector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v))
        }),
        "the pods spread over nodes: {anti_affinity:?}"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let args: Vec<String> = strings(&container["args"]);
    let options = check_command_line(&args, "statefulset args");
    let admin = &options["admin"];
    let (host, port) = admin.rsplit_once(':').unwrap();
    assert_eq!(
        host, "0.0.0.0",
        "the kubelet's probes come from outside the pod"
    );
    let port: u64 = port.parse().unwrap();
    assert_eq!(port, 9464);
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(port_of(&get["port"], container), port, "{probe}");
    }
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > shutdown_timeout_default());
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // The StatefulSet's governing Service is headless, selects its pods and publishes
    // the standby's address too.
    let services = &kinds["Service"];
    assert_eq!(
        services.len(),
        2,
        "the readiness-routed and the headless Service"
    );
    let governing = spec["serviceName"].as_str().expect("a serviceName");
    let headless = services
        .iter()
        .find(|s| s["metadata"]["name"] == governing)
        .unwrap_or_else(|| panic!("no Service {governing}, the StatefulSet's serviceName"));
    assert_eq!(
        headless["spec"]["clusterIP"], "None",
        "{governing} is headless"
    );
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert_selects(&headless["spec"]["selector"], labels, governing);
    assert!(
        headless["metadata"]["annotations"]["prometheus.io/scrape"].is_null(),
        "a scrape through {governing} would reach the standby, whose /metrics answers 503"
    );

    // The PodDisruptionBudget: one pod at a time.
    let pdb = only(&kinds, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_selects(&pdb["spec"]["selector"]["matchLabels"], labels, "pdb");

    // Secrets: the admin token and every ${VAR} of the config, all clearly fake.
    let secret = only(&kinds, "Secret");
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    let env_from = container["envFrom"].as_array().unwrap();
    assert!(
        env_from
            .iter()
            .any(|e| e["secretRef"]["name"] == secret_name)
    );
    let secret_keys: BTreeSet<String> = secret["stringData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            assert!(v.as_str().unwrap().contains("FAKE"), "{k} looks real");
            k.clone()
        })
        .collect();
    assert!(secret_keys.contains("GOVHUB_ADMIN_TOKEN"));

    // The config: it passes `govhub check`, its secrets are in the Secret, its data_dir
    // is the mount of the StatefulSet's volumeClaimTemplate (a claim per pod), and it is
    // mounted where --config points.
    let configmap = only(&kinds, "ConfigMap");
    let config_path = Path::new(&options["config"]);
    let file_name = config_path.file_name().unwrap().to_str().unwrap();
    let text = configmap["data"][file_name].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = assert_config_checks(dir.path(), text, "deploy/k8s/configmap.yaml");
    let needed = secrets_of(text);
    assert!(!needed.is_empty());
    assert!(
        needed.is_subset(&secret_keys),
        "{needed:?} ⊄ {secret_keys:?}"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    let mount_of = |name: &str| -> String {
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("volume {name} is not mounted"))["mountPath"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let claims = spec["volumeClaimTemplates"].as_array().unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    let claim_name = claim["metadata"]["name"].as_str().unwrap();
    assert_eq!(claim_name, "data");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert!(claim["spec"]["resources"]["requests"]["storage"].is_string());
    assert!(
        volumes.iter().all(|v| v["name"] != claim_name),
        "a pod volume {claim_name} would hide the claim's"
    );
    assert!(
        volumes.iter().all(|v| v["persistentVolumeClaim"].is_null()),
        "a claim shared by the pods: each needs its own data directory"
    );
    assert_eq!(
        config["data_dir"].as_str(),
        Some(mount_of(claim_name).as_str())
    );
    let config_volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == configmap["metadata"]["name"])
        .expect("the ConfigMap is a volume");
    assert_eq!(
        Path::new(&mount_of(config_volume["name"].as_str().unwrap())),
        config_path.parent().unwrap()
    );

    // The readiness-routed Service exposes the admin port for Prometheus and operators:
    // it reaches the active pod only, the one that is Ready.
    let service = services
        .iter()
        .find(|s| s["spec"]["clusterIP"] != "None")
        .expect("a Service with a cluster IP");
    assert_ne!(service["spec"]["publishNotReadyAddresses"], true);
    assert_selects(&service["spec"]["selector"], labels, "service");
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert_eq!(port_of(&ports[0]["targetPort"], container), port);
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    if have("kubectl", &["version", "--client"]) {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&k8s)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8(out.stdout).unwrap();
        // ConfigMap, StatefulSet, two Services, PodDisruptionBudget.
        assert_eq!(
            rendered.matches("\nkind: ").count() + usize::from(rendered.starts_with("kind: ")),
            5,
            "{rendered}"
        );
    } else {
        eprintln!("note: kubectl is not installed; `kubectl kustomize` was not run");
    }
}

// ---------------------------------------------------------------------------------------
// compose
// ---------------------------------------------------------------------------------------

#[test]
fn the_compose_file_builds_and_runs_govhub_with_kafka() {
    let compose_dir = repo().join("deploy/compose");
    let compose = yaml_doc(&compose_dir.join("compose.yaml"));
    let services = compose["services"].as_object().unwrap();
    let kafka = &services["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:")
    );
    let hub = &services["govhub"];

    // Built from the Dockerfile, relative to the build context.
    let context = compose_dir.join(hub["build"]["context"].as_str().unwrap());
    let dockerfile = context.join(hub["build"]["dockerfile"].as_str().unwrap());
    let docker = std::fs::read_to_string(&dockerfile).unwrap();
    assert!(docker.contains(" AS build"), "multi-stage");
    assert!(docker.contains("cargo build --release --locked -p govhub"));
    let user = docker
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the image sets a user");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "USER {user}"
    );
    assert!(compose_dir.join("Dockerfile.dockerignore").is_file());

    let command: Vec<String> = strings(&hub["command"]);
    let options = check_command_line(&command, "compose command");
    let cmd_line = docker.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap();
    let cmd: Vec<String> = serde_json::from_str(cmd_line).unwrap();
    assert_eq!(cmd, command, "the image's CMD and compose's command agree");
    let (host, port) = options["admin"].rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0");
    assert!(
        hub["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with(&format!(":{port}:{port}")))
    );
    let environment = hub["environment"].as_object().unwrap();
    assert!(environment.contains_key("GOVHUB_ADMIN_TOKEN"));

    // The mounted config passes `govhub check`, reaches the kafka service, and every
    // secret it reads is passed in.
    let mount = hub["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .find(|v| v.contains(&format!(":{}", options["config"])))
        .expect("the config is mounted where --config points");
    let source = compose_dir.join(mount.split(':').next().unwrap());
    let text = std::fs::read_to_string(&source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = assert_config_checks(dir.path(), &text, "deploy/compose/govhub.toml");
    let servers = config["kafka"]["bootstrap_servers"].as_str().unwrap();
    let advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap();
    assert!(
        advertised.contains(&format!("://{servers}")),
        "{servers} is not an advertised listener: {advertised}"
    );
    for var in secrets_of(&text) {
        assert!(
            environment.contains_key(&var),
            "{var} is not passed to govhub"
        );
    }
    let data_dir = config["data_dir"].as_str().unwrap();
    assert!(
        hub["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().ends_with(&format!(":{data_dir}")))
    );

    let compose_works = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if compose_works {
        let out = Command::new("docker")
            .args(["compose", "-f"])
            .arg(compose_dir.join("compose.yaml"))
            .args(["config", "--quiet"])
            .env("GOVHUB_ADMIN_TOKEN", "x")
            .env("GOVHUB_HEALTH_APP_SECRET", "x")
            .env("GOVHUB_CIVIL_PASSWORD", "x")
            .env("GOVHUB_URBAN_API_KEY", "x")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker compose config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("note: `docker compose` is not available; the compose file was only parsed");
    }
}

// ---------------------------------------------------------------------------------------
// Grafana
// ---------------------------------------------------------------------------------------

/// The metrics the hub exposes: `(name, is a histogram)`.
const METRICS: &[(&str, bool)] = &[
    ("govhub_records_pulled_total", false),
    ("govhub_records_published_total", false),
    ("govhub_records_rejected_total", false),
    ("govhub_duplicates_dropped_total", false),
    ("govhub_http_requests_total", false),
    ("govhub_http_retries_total", false),
    ("govhub_connector_errors_total", false),
    ("govhub_fetch_duration_seconds", true),
    ("govhub_record_latency_seconds", true),
    ("govhub_cursor_lag_seconds", false),
    ("govhub_connector_paused", false),
    ("govhub_connector_circuit_open", false),
    ("govhub_kafka_queue_depth", false),
    ("govhub_identity_residents", false),
    ("govhub_identity_links_total", false),
    ("govhub_identity_merges_total", false),
    ("govhub_identity_splits_total", false),
];

/// The metric names a PromQL expression selects: identifiers outside label matchers,
/// ranges, strings and grouping clauses that are not functions, aggregations or
/// keywords. Grafana variables (`$connector`, `$__rate_interval`) are skipped.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
        // Aggregations, which may be followed by `by (…)` rather than their `(`.
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_to = |mut i: usize, open: char, close: char| {
        let mut depth = 0;
        let mut quote = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(_) if c == '\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == open => depth += 1,
                None if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                None => {}
            }
            i += 1;
        }
        i
    };
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '{', '}');
        } else if c == '[' {
            i = skip_to(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            let end = chars[i + 1..].iter().position(|d| *d == c).unwrap();
            i += end + 2;
        } else if c == '$' || c.is_ascii_digit() {
            i += 1;
            while i < chars.len() && (ident_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) && call {
                i = skip_to(next, '(', ')');
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &Value, out: &mut Vec<Value>) {
    for panel in panels.as_array().unwrap() {
        out.push(panel.clone());
        if let Some(nested) = panel.get("panels") {
            all_panels(nested, out);
        }
    }
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (connector, le) (rate(a_bucket{connector=~"$connector",x="}"}[$__rate_interval])))"#
        ),
        ["a_bucket"]
    );
    assert_eq!(
        metric_names(
            "sum(max by (c) (b{c=~\"$c\"})) + sum without (x) (c) / on(c) group_left d offset 5m"
        ),
        ["b", "c", "d"]
    );
    assert_eq!(metric_names("topk(10, increase(e[$__range]))"), ["e"]);
}

#[test]
fn the_grafana_dashboard_uses_only_the_metrics_govhub_exposes() {
    let path = repo().join("deploy/grafana/govhub.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(dashboard["schemaVersion"], 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(variable("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(variable("DS_PROMETHEUS")["query"], "prometheus");
    let connector = variable("connector");
    assert_eq!(
        connector["query"]["query"],
        "label_values(govhub_records_pulled_total, connector)"
    );
    assert_eq!(connector["definition"], connector["query"]["query"]);
    assert_eq!(connector["datasource"]["uid"], "${DS_PROMETHEUS}");

    let allowed: BTreeMap<&str, bool> = METRICS.iter().copied().collect();
    let mut panels = Vec::new();
    all_panels(&dashboard["panels"], &mut panels);
    let mut used = BTreeSet::new();
    let mut expressions = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: duplicate id"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr}");
            for name in names {
                let base = name.strip_suffix("_bucket").unwrap_or(&name);
                let histogram = allowed.get(base).copied();
                assert!(
                    allowed.contains_key(name.as_str()) || histogram == Some(true),
                    "{title}: {name} is not a metric govhub exposes ({expr})"
                );
                if histogram == Some(true) {
                    assert!(
                        name.ends_with("_bucket") && expr.contains("histogram_quantile("),
                        "{title}: histogram {base} is read through histogram_quantile over _bucket"
                    );
                }
                used.insert(base.to_owned());
            }
            if expr.contains("connector") && !expr.contains("govhub_identity") {
                assert!(
                    expr.contains(r#"connector=~"$connector""#),
                    "{title}: {expr}"
                );
            }
            expressions.push(expr.to_owned());
        }
    }
    let unused: Vec<&&str> = allowed.keys().filter(|m| !used.contains(**m)).collect();
    assert!(unused.is_empty(), "metrics on no panel: {unused:?}");

    // The hub really exposes each of them: its name is in govhub's source.
    let mut sources = String::new();
    let mut stack = vec![repo().join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("tests") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    for (name, _) in METRICS {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "govhub's source does not register {name}"
        );
    }

    if have("promtool", &["--version"]) {
        // Every expression, with Grafana's variables filled in, as a recording rule.
        let rules = json!({ "groups": [{ "name": "dashboard", "rules": expressions
            .iter()
            .enumerate()
            .map(|(i, e)| json!({
                "record": format!("dashboard:expr{i}"),
                "expr": e.replace("$__rate_interval", "5m").replace("$__range", "6h").replace("$connector", ".*"),
            }))
            .collect::<Vec<_>>() }] });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.json");
        std::fs::write(&file, rules.to_string()).unwrap();
        let out = Command::new("promtool")
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool rejects a dashboard expression:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("note: promtool is not installed; PromQL syntax was not checked");
    }
}

/// A JSON array of strings (a command line in a manifest), as owned strings.
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}
