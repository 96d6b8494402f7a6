//! The `govhub` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use govhub::config::HubConfig;
use govhub::demo::{self, DemoOptions};
use govhub::hub::{BuildError, Hub};
use govhub::pipeline::Counts;
use govhub_schema::Standard;
use tokio_util::sync::CancellationToken;

/// govhub: pull every department's records, validate them against one standard, publish
/// one Kafka event stream.
///
/// Exit codes: 0 success, 1 runtime failure (a source or the sink failed), 2 invalid
/// configuration or usage.
#[derive(Debug, Parser)]
#[command(name = "govhub", version)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the simulated education registry and the hub into the embedded log; no setup.
    Demo {
        /// Students in the simulated registry.
        #[arg(long, default_value_t = 1000)]
        students: u64,
        /// Seed of the synthetic population.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// One record in this many is invalid (0: none).
        #[arg(long, default_value_t = 50)]
        invalid_every: u64,
        /// Data directory (default: a new directory under the system temp dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the hub from a config file until SIGTERM or Ctrl-C.
    Run {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Sync every connector until it has caught up, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Check a config file and the schemas without connecting to anything.
    Check {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; its log lines would only interleave with it.
    let default_level = match cli.command {
        Command::Demo { .. } => "error",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `GOVHUB_LOG` (e.g. `debug`, `govhub=debug`) overrides the level.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GOVHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Exit code for invalid configuration or usage.
const CONFIG_ERROR: u8 = 2;

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo {
            students,
            seed,
            invalid_every,
            data_dir,
        } => run_demo(students, seed, invalid_every, data_dir).await,
        Command::Check { config } => check(&config),
        Command::Run { config, once } => run(&config, once).await,
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = match HubConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
    };
    let standard = match Standard::embedded() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("schemas: {e}");
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
    };
    let problems = config.problems(&standard);
    if problems.is_empty() {
        println!(
            "{}: ok ({} connector(s), {} schema(s))",
            path.display(),
            config.connectors.len(),
            standard.iter().count()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}: {} problem(s)", path.display(), problems.len());
    for problem in problems {
        eprintln!("  {problem}");
    }
    Ok(ExitCode::from(CONFIG_ERROR))
}

async fn run(path: &std::path::Path, once: bool) -> anyhow::Result<ExitCode> {
    let config = match HubConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
    };
    let standard = Arc::new(Standard::embedded().context("loading the schemas")?);
    let mut hub = match Hub::build(&config, standard).await {
        Ok(hub) => hub,
        Err(e @ BuildError::Config(_)) => {
            eprintln!("{}: {e}", path.display());
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
        Err(e) => return Err(e).context("starting the hub"),
    };
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let result = if once {
        let mut counts = Default::default();
        hub.sync_all(&mut counts, &stop).await.map(|()| counts)
    } else {
        hub.run(&stop).await
    };
    match result {
        Ok(counts) => {
            print_counts(&counts);
            Ok(ExitCode::SUCCESS)
        }
        Err((connector, e)) => {
            anyhow::bail!("connector {connector} stopped: {e}")
        }
    }
}

/// Cancels `stop` on Ctrl-C or SIGTERM; the hub finishes its current batch and returns.
async fn stop_on_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested; finishing the current batch");
    stop.cancel();
}

async fn run_demo(
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

fn print_counts(counts: &std::collections::BTreeMap<String, Counts>) {
    println!(
        "{:<16} {:>10} {:>10} {:>10}",
        "connector", "pulled", "published", "rejected"
    );
    for (name, c) in counts {
        println!(
            "{name:<16} {:>10} {:>10} {:>10}",
            c.pulled, c.published, c.rejected
        );
    }
    let mut reasons: std::collections::BTreeMap<&str, u64> = Default::default();
    for c in counts.values() {
        for (reason, n) in &c.reasons {
            *reasons.entry(reason).or_default() += n;
        }
    }
    if !reasons.is_empty() {
        println!("\nrejections by reason (see the dead-letter topic for every record):");
        for (reason, n) in reasons {
            println!("  {reason:<40} {n:>8}");
        }
    }
}
