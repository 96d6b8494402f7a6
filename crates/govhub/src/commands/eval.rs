//! `govhub eval`: identity resolution measured against the simulator's ground truth.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub::eval::{Labelled, Report, evaluate, labelled};
use govhub_resolve::identity::{
    Labels, Model, Observation, Resolver, recorded_observations, train,
};
use govhub_sim::Departments;

use super::{load_config, load_standard};

/// Options of `govhub eval`.
#[derive(Debug)]
pub struct Options<'a> {
    /// Residents of the simulated population.
    pub residents: u64,
    /// Its seed.
    pub seed: u64,
    /// Config whose mappings and `[identity]` settings to use (default: the example).
    pub config: Option<&'a Path>,
    /// Estimate a model from this population and write it here instead of evaluating.
    pub train: Option<&'a Path>,
    /// With `train`: estimate from the records a hub resolved under this data directory.
    pub data_dir: Option<&'a Path>,
    /// With `train`: whether resident IDs label pairs.
    pub labels: Labels,
    /// Print the report as JSON.
    pub json: bool,
}

/// Runs the evaluation (or training).
pub fn run(options: &Options<'_>) -> anyhow::Result<ExitCode> {
    let config = match options.config {
        Some(path) => match load_config(path) {
            Ok(c) => c,
            Err(code) => return Ok(code),
        },
        None => HubConfig::parse(EXAMPLE_CONFIG, "example").context("the example config")?,
    };
    if let (Some(out), Some(data_dir)) = (options.train, options.data_dir) {
        if !data_dir.join(govhub_resolve::state::STATE_DIR).is_dir() {
            anyhow::bail!(
                "no hub state under {} (has a hub run with this data directory?)",
                data_dir.display()
            );
        }
        // The store is locked by a running hub: training reads it with the hub stopped.
        let store = govhub_resolve::StateStore::open(data_dir)?;
        let observations = recorded_observations(store.journal()?);
        let trained_on = format!(
            "govhub eval --train: {} records resolved under {}",
            observations.len(),
            data_dir.display()
        );
        let in_use = Resolver::load_model(&config.identity)?;
        return write_model(&observations, options, &trained_on, out, &in_use);
    }
    let standard = match load_standard(Some(&config)) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let departments = Departments::new(options.seed, options.residents);
    eprintln!(
        "generating and mapping the records of {} residents (seed {}) …",
        options.residents, options.seed
    );
    let data = labelled(&departments, &config, &standard);
    let model = Resolver::load_model(&config.identity)?;
    if let Some(out) = options.train {
        let trained_on = format!(
            "govhub eval --train: simulated population of {} residents, seed {}",
            options.residents, options.seed
        );
        return write_model(&data.observations, options, &trained_on, out, &model);
    }
    let report = evaluate(&data, &config.identity, &model)?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &data, config.identity.link_threshold);
    }
    Ok(ExitCode::SUCCESS)
}

/// Estimates a model from `observations`, writes it to `out` and prints how its weights
/// differ from `in_use`'s (the config's model, or the built-in one).
fn write_model(
    observations: &[Observation],
    options: &Options<'_>,
    trained_on: &str,
    out: &Path,
    in_use: &Model,
) -> anyhow::Result<ExitCode> {
    let (model, report) = train(observations, options.seed, trained_on, options.labels);
    let text = serde_json::to_string_pretty(&model)?;
    std::fs::write(out, text + "\n").with_context(|| format!("writing {}", out.display()))?;
    println!(
        "trained on {} records ({} candidate pairs, {} labelled matches by resident ID): u from {} random pairs; prior {:.3e}{}; written to {}",
        report.records,
        report.candidate_pairs,
        report.matches,
        report.random_pairs,
        model.prior,
        if report.matches == 0 {
            " (estimated: no labelled matches)"
        } else {
            " (from resident IDs)"
        },
        out.display()
    );
    println!("\nm by EM over each blocking rule's pairs:");
    for rule in &report.rules {
        println!(
            "  {:<32} {:>9} pairs, {:>9} labelled, matches {:>6.2}%, {:>2} rounds; m of: {}",
            rule.rule,
            rule.pairs,
            rule.labelled,
            rule.match_share * 100.0,
            rule.rounds,
            if rule.estimated.is_empty() {
                "none".to_owned()
            } else {
                rule.estimated.join(", ")
            }
        );
    }
    print_weight_changes(in_use, &model);
    Ok(ExitCode::SUCCESS)
}

/// Each weight of the model in use beside the trained one's, in bits.
fn print_weight_changes(in_use: &Model, trained: &Model) {
    println!("\nweights in bits, log2(m/u): the model in use → the one trained");
    for (comparison, level, before, after) in in_use.weight_changes(trained) {
        let label = if level.is_empty() {
            comparison
        } else {
            format!("{comparison}: {level}")
        };
        match before {
            Some(w) => println!(
                "  {label:<32} {w:>+8.2} → {after:>+8.2}   ({:+.2})",
                after - w
            ),
            None => println!("  {label:<32} {:>8} → {after:>+8.2}", "—"),
        }
    }
}

fn print_report(r: &Report, data: &Labelled, threshold: f64) {
    let a = &r.accuracy;
    println!(
        "records resolved      {:>12}   (rejected by the standard, not resolved: {}; for an identifier alone: {})",
        a.records, data.rejected, data.rejected_for_identifier
    );
    println!("residents (truth)     {:>12}", a.residents);
    println!(
        "persons (resolved)    {:>12}   exactly right: {}",
        a.persons, a.exact_persons
    );
    println!("link threshold        {threshold:>12}");
    println!(
        "pairwise precision    {:>12.5}   ({} of {} pairs)",
        a.precision, a.correct_pairs, a.predicted_pairs
    );
    println!(
        "pairwise recall       {:>12.5}   ({} of {} pairs)",
        a.recall, a.correct_pairs, a.true_pairs
    );
    println!("pairwise F1           {:>12.5}", a.f1);
    let b = &r.blocking;
    println!(
        "blocking recall       {:>12.5}   ({} of {} pairs reachable; directly: {} same ID, {} an unverified ID a keystroke away, {} a blocking key)",
        b.recall(),
        b.reachable,
        b.true_pairs,
        b.same_id,
        b.keystroke,
        b.shared_key
    );
    let l = &r.accuracy_by_resident_id;
    println!(
        "resident IDs the simulator gave to two residents: {} — counting each such ID as one person:",
        r.shared_resident_ids
    );
    println!(
        "  precision {:.5}  recall {:.5}  F1 {:.5}",
        l.precision, l.recall, l.f1
    );
    println!(
        "merges / splits       {:>12}",
        format!("{} / {}", r.merges, r.splits)
    );
    println!("comparisons / record  {:>12.2}", r.comparisons_per_record);
    println!(
        "resolve time          {:>12.3} s",
        r.resolve_time.as_secs_f64()
    );
    println!("records / s (1 core)  {:>12.0}", r.records_per_sec);
    println!(
        "index bytes           {:>12}   ({:.0} per resident)",
        r.index_bytes, r.bytes_per_resident
    );
    if let Some(peak) = peak_rss_bytes() {
        println!(
            "peak RSS of process   {:>12}   (generation, mapping and the index together)",
            peak
        );
    }
}

/// The process's peak resident set size (Linux `VmHWM`).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
