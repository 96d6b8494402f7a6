//! `govhub demo`: simulator, hub and embedded log in one process.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use govhub::demo::{self, DemoOptions};

use super::print_counts;

/// Runs the demo and prints its summary.
pub async fn run(
    students: u64,
    seed: u64,
    invalid_every: u64,
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
    println!("govhub demo: simulated education registry → unified standard → embedded log");
    println!("data directory: {}\n", data_dir.display());
    let report = demo::run(&DemoOptions {
        seed,
        students,
        invalid_every,
        data_dir,
    })
    .await?;
    print_counts(&report.counts);
    println!("\nembedded log ({}):", report.log_dir.display());
    for (topic, n) in &report.stored {
        println!("  {topic:<40} {n:>8} events");
    }
    Ok(ExitCode::SUCCESS)
}
