//! One module per subcommand.

pub mod asyncapi;
pub mod backfill;
pub mod check;
pub mod demo;
pub mod dlq;
pub mod eval;
pub mod run;
pub mod schemas;
pub mod serve;
pub mod sim;
pub mod status;
pub mod tail;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use govhub::config::HubConfig;
use govhub::pipeline::Counts;
use govhub_resolve::identity::IdentityStats;
use govhub_schema::Standard;

/// Exit code for invalid configuration, schemas or usage.
pub const CONFIG_ERROR: u8 = 2;

/// `govhub acl`: prints the Kafka ACL commands for the config at `path`.
pub fn acl(path: &Path, principal: &str, command_config: &str) -> ExitCode {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match govhub::acl::commands(&config, principal, command_config) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(CONFIG_ERROR)
        }
    }
}

/// The config at `path`, or the exit code after printing why it cannot be read.
pub fn load_config(path: &Path) -> Result<HubConfig, ExitCode> {
    HubConfig::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// The standard `config` runs on (built in, extended by its `schemas_dir`; without a
/// config, the one built in), or the exit code after printing why it does not compile.
pub fn load_standard(config: Option<&HubConfig>) -> Result<Standard, ExitCode> {
    let extra = config.and_then(|c| c.schemas_dir.as_ref());
    let loaded = match extra {
        Some(dir) => Standard::embedded_with(dir),
        None => Standard::embedded(),
    };
    loaded.map_err(|e| {
        match extra {
            Some(dir) => eprintln!("schemas (with schemas_dir {}): {e}", dir.display()),
            None => eprintln!("schemas: {e}"),
        }
        ExitCode::from(CONFIG_ERROR)
    })
}

/// Prints a reason → count table, largest first.
pub fn print_reasons(title: &str, reasons: &BTreeMap<String, u64>) {
    if reasons.is_empty() {
        return;
    }
    let mut sorted: Vec<(&String, &u64)> = reasons.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("\n{title}");
    for (reason, n) in sorted {
        println!("  {reason:<48} {n:>8}");
    }
}

/// Prints per connector: pulled, published, rejected, duplicates, then each
/// connector's rejection reasons.
pub fn print_counts(counts: &BTreeMap<String, Counts>) {
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10}",
        "connector", "pulled", "published", "rejected", "duplicates"
    );
    for (name, c) in counts {
        println!(
            "{name:<16} {:>10} {:>10} {:>10} {:>10}",
            c.pulled, c.published, c.rejected, c.duplicates
        );
    }
    if counts.values().any(|c| !c.reasons.is_empty()) {
        println!("\nrejections by connector and reason (the dead-letter topic has every record):");
        for (name, c) in counts.iter().filter(|(_, c)| !c.reasons.is_empty()) {
            println!("  {name}");
            let mut sorted: Vec<(&String, &u64)> = c.reasons.iter().collect();
            sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (reason, n) in sorted {
                println!("    {reason:<62} {n:>6}");
            }
        }
    }
    if counts.values().any(|c| !c.set_aside.is_empty()) {
        println!(
            "\ndata quality: values set aside as invalid, the records published (for the department to correct):"
        );
        for (name, c) in counts.iter().filter(|(_, c)| !c.set_aside.is_empty()) {
            println!("  {name}");
            for (field, q) in &c.set_aside {
                println!(
                    "    {field:<62} {:>6}  e.g. {}",
                    q.count,
                    q.examples.join(", ")
                );
            }
        }
    }
}

/// Prints what identity resolution did: records, residents, how many residents have
/// records from more than one department, merges, splits, comparisons per record.
pub fn print_identity(i: &IdentityStats, unified: u64) {
    println!(
        "\nidentity: {} records resolved into {} residents; {} of them unified across departments ({} merges, {} splits, {:.2} comparisons per record)",
        i.records,
        i.residents,
        unified,
        i.merges,
        i.splits,
        i.comparisons as f64 / i.records.max(1) as f64
    );
}
