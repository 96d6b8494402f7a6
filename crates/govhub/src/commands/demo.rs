//! `govhub demo`: the four simulated departments, the hub and the embedded log in one
//! process.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use govhub::demo::{self, DemoOptions};
use govhub::hub::Progress;
use govhub::pipeline::Counts;

/// Runs the demo and prints its summary.
pub async fn run(
    residents: u64,
    seed: u64,
    invalid_every: u64,
    generation: u64,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("govhub-demo-")
            .tempdir()
            .context("creating a data directory")?
            .keep(),
    };
    println!(
        "govhub demo: four simulated departments → unified standard → embedded log\n\
         population: {residents} residents, seed {seed}, generation {generation}\n\
         data directory: {}\n",
        data_dir.display()
    );
    let options = DemoOptions {
        seed,
        residents,
        invalid_every,
        generation,
        data_dir,
    };
    let tty = std::io::stderr().is_terminal();
    let report = demo::run(&options, &|p| show_progress(p, tty)).await?;
    println!();
    print_table(&report.counts);
    println!("\nembedded log ({}):", report.log_dir.display());
    for (topic, n) in &report.stored {
        println!("  {topic:<48} {n:>8} events");
    }
    Ok(ExitCode::SUCCESS)
}

/// One progress line per connector on stderr: on a terminal, rewritten in place as
/// batches are written; otherwise one line when the connector has caught up.
fn show_progress(progress: Progress<'_>, tty: bool) {
    let mut err = std::io::stderr().lock();
    let Progress {
        connector,
        records,
        caught_up,
    } = progress;
    let _ = if !tty {
        if caught_up {
            writeln!(err, "synced {connector}: {records} records")
        } else {
            Ok(())
        }
    } else if caught_up {
        writeln!(err, "\r\x1b[2Ksynced {connector}: {records} records")
    } else {
        write!(err, "\r\x1b[2Ksyncing {connector}: {records} records…")
    };
    let _ = err.flush();
}

/// Per connector: pulled, published, rejected, duplicates, then each connector's rejection reasons.
fn print_table(counts: &BTreeMap<String, Counts>) {
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
    if counts.values().all(|c| c.reasons.is_empty()) {
        return;
    }
    println!("\nrejections by connector and reason (the dead-letter topic has every record):");
    for (name, c) in counts {
        if c.reasons.is_empty() {
            continue;
        }
        println!("  {name}");
        let mut sorted: Vec<(&String, &u64)> = c.reasons.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in sorted {
            println!("    {reason:<62} {n:>6}");
        }
    }
}
