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
use govhub_schema::Standard;

/// Exit code for invalid configuration, schemas or usage.
pub const CONFIG_ERROR: u8 = 2;

/// The config at `path`, or the exit code after printing why it cannot be read.
pub fn load_config(path: &Path) -> Result<HubConfig, ExitCode> {
    HubConfig::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// The embedded standard, or the exit code after printing why it does not compile.
pub fn load_standard() -> Result<Standard, ExitCode> {
    Standard::embedded().map_err(|e| {
        eprintln!("schemas: {e}");
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

/// Prints per-connector counts and the rejection reasons of all of them.
pub fn print_counts(counts: &BTreeMap<String, Counts>) {
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10}",
        "connector", "pulled", "published", "rejected", "duplicates"
    );
    let mut reasons = BTreeMap::new();
    for (name, c) in counts {
        println!(
            "{name:<16} {:>10} {:>10} {:>10} {:>10}",
            c.pulled, c.published, c.rejected, c.duplicates
        );
        for (reason, n) in &c.reasons {
            *reasons.entry(reason.clone()).or_default() += n;
        }
    }
    print_reasons(
        "rejections by reason (see the dead-letter topic for every record):",
        &reasons,
    );
}
