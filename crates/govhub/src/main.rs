//! The `govhub` command line.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use govhub_resolve::identity::Labels;

/// Records are allocated by a connector's task and freed by the resolve or commit stage
/// on another thread; glibc's malloc spent a sixth of the hub's time on its arena locks
/// doing that (perf), mimalloc's thread-local free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// govhub: pull every department's records, validate them against one standard, publish
/// one Kafka event stream.
///
/// Exit codes: 0 success, 1 runtime failure (a source or the sink failed), 2 invalid
/// configuration, schemas or usage.
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
    /// Run the four simulated departments and the hub on the example config into the
    /// embedded log; no setup.
    Demo {
        /// Residents in the synthetic population the departments' records are about.
        #[arg(long, default_value_t = 2000)]
        residents: u64,
        /// Seed of the synthetic population.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// One record in this many is invalid on purpose (0: none; noise in the
        /// departments' data still makes a few invalid).
        #[arg(long, default_value_t = 50)]
        invalid_every: u64,
        /// Generation the simulators serve (0: the initial load). Run again on the same
        /// --data-dir with a higher one to see only what changed being pulled.
        #[arg(long, default_value_t = 0)]
        generation: u64,
        /// Data directory (default: a new directory under the system temp dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        serving: commands::demo::ServeArgs,
    },
    /// Run the four simulated departments on fixed local ports until Ctrl-C; prints
    /// their URLs, credentials and the environment the example config expects.
    Sim {
        /// Seed of the synthetic population.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Residents in the synthetic population.
        #[arg(long, default_value_t = 2000)]
        residents: u64,
        /// Port of the education registry; health, civil affairs, urban management and
        /// the community resident registry listen on the next four.
        #[arg(long, default_value_t = govhub::demo::DEFAULT_BASE_PORT)]
        base_port: u16,
        #[command(flatten)]
        faults: commands::sim::FaultArgs,
    },
    /// Run the hub from a config file until SIGTERM or Ctrl-C.
    Run {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Sync every connector until it has caught up, then exit.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        serve: commands::serve::ServeArgs,
    },
    /// Ask a running hub (its admin API) how every connector is doing.
    Status(commands::status::Args),
    /// Pause a connector of a running hub: it is skipped from its next batch on.
    Pause(commands::status::ConnectorArgs),
    /// Resume a paused connector of a running hub.
    Resume(commands::status::ConnectorArgs),
    /// Check a config file (connectors, mappings) and the schemas without connecting to
    /// anything; prints every problem with its config path.
    Check {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Fail (exit 2) on warnings too: an unset `${VAR}` secret, a secret written
        /// into the file.
        #[arg(long)]
        strict: bool,
        /// Then read the first page (or N records) of each connector from its real API,
        /// with its real authentication, and report what would be published or
        /// rejected and why, writing nothing anywhere; exit 1 if any record would be
        /// rejected or an API could not be read.
        #[arg(long, value_name = "N")]
        #[allow(clippy::option_option)] // absent, `--sample`, `--sample N`
        sample: Option<Option<usize>>,
        /// The admin address `run` will be given (default 127.0.0.1:9464; `off` for
        /// none): beyond loopback, GOVHUB_ADMIN_TOKEN must be set here too.
        #[arg(long, value_name = "ADDR")]
        admin: Option<commands::serve::AdminAddr>,
    },
    /// Re-read a connector's history: reset its cursor (to the beginning, or to a
    /// timestamp for incremental connectors) and sync it until caught up.
    Backfill {
        /// The connector's name in the config.
        connector: String,
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Re-read records updated at or after this time (RFC 3339 or
        /// `YYYY-MM-DD HH:MM:SS` in UTC+8); updated_since connectors only.
        #[arg(long)]
        since: Option<String>,
        /// Publish re-read records again even when unchanged (e.g. to refill a topic);
        /// by default exact dedup drops them.
        #[arg(long)]
        republish: bool,
    },
    /// Measure identity resolution against the simulator's ground truth: pairwise
    /// precision, recall and F1, records/s and index memory; or, with --train, estimate
    /// a model from a simulated population: u from random pairs, m by EM over each
    /// blocking rule's pairs (pairs with resident IDs labelled), name frequencies.
    Eval {
        /// Residents in the synthetic population.
        #[arg(long, default_value_t = 100_000)]
        residents: u64,
        /// Seed of the synthetic population (the built-in model was trained on seed 1).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Config whose mappings and [identity] settings to use (default: the example).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write a model estimated from this population to FILE instead of evaluating.
        #[arg(long, value_name = "FILE")]
        train: Option<PathBuf>,
        /// With --train: estimate from the records a hub has resolved under this data
        /// directory (its identity journal, read without changing it) instead of the
        /// simulator.
        #[arg(long, requires = "train")]
        data_dir: Option<PathBuf>,
        /// With --train: do not use resident IDs as labels; estimate every pair's match
        /// status and the prior, as for data without IDs.
        #[arg(long, requires = "train")]
        no_labels: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The unified standard: list, document and check the schemas.
    Schemas {
        #[command(subcommand)]
        action: commands::schemas::Action,
    },
    /// The dead-letter topic: list, show and replay rejected records.
    Dlq {
        /// The config file (TOML): where the dead-letter topic is, and the current
        /// mappings for replay.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: commands::dlq::Action,
    },
    /// Print the Kafka ACLs a config needs, as commands of Kafka's own ACL tool
    /// (kafka-acls.sh): govhub's principal on the topics under the topic prefix, each
    /// view subscriber (User:<subscriber>) on its own view topics only.
    Acl {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// The principal govhub authenticates as.
        #[arg(long, default_value = govhub::acl::DEFAULT_PRINCIPAL)]
        principal: String,
        /// Client properties of a super user the commands run as (kafka-acls.sh
        /// --command-config).
        #[arg(long, default_value = "admin.properties")]
        command_config: String,
    },
    /// Write the AsyncAPI 3.0.0 document of every topic (channels, CloudEvents headers,
    /// payload schemas from the standard) for downstream developers.
    Asyncapi(commands::asyncapi::Args),
    /// Print a topic's events from Kafka or the embedded log: only new ones, or
    /// --from-beginning; --follow keeps waiting until Ctrl-C.
    Tail(commands::tail::Args),
    /// Check a run's topics in Kafka against what the simulators say it must have
    /// published (`govhub sim --expected FILE`); exit 0 only if every check holds.
    #[command(long_about = commands::verify::LONG_ABOUT)]
    Verify(commands::verify::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; its log lines would only interleave with it. The
    // state store's engine says at INFO what only its developers need.
    let default_level = match cli.command {
        Command::Demo { .. } => "error",
        _ => "info,fjall=warn,lsm_tree=warn",
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
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes joined by `: `, each said once: a cause whose text its wrapper
/// already printed (`reading X: denied` around `denied`) is not repeated.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// Logs go to stderr; `GOVHUB_LOG` (e.g. `debug`, `govhub=debug`) overrides the level.
/// Colours only on a terminal, and not when `NO_COLOR` is set.
fn init_logging(format: LogFormat, default_level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("GOVHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo {
            residents,
            seed,
            invalid_every,
            generation,
            data_dir,
            serving,
        } => {
            commands::demo::run(
                residents,
                seed,
                invalid_every,
                generation,
                data_dir,
                serving,
            )
            .await
        }
        Command::Sim {
            seed,
            residents,
            base_port,
            faults,
        } => commands::sim::run(seed, residents, base_port, faults).await,
        Command::Check {
            config,
            strict,
            sample,
            admin,
        } => Ok(commands::check::run(&config, strict, sample, admin).await),
        Command::Run {
            config,
            once,
            serve,
        } => commands::run::run(&config, once, serve).await,
        Command::Status(args) => Ok(commands::status::run(args).await),
        Command::Pause(args) => Ok(commands::status::set_paused(args, true).await),
        Command::Resume(args) => Ok(commands::status::set_paused(args, false).await),
        Command::Backfill {
            connector,
            config,
            since,
            republish,
        } => commands::backfill::run(&config, &connector, since.as_deref(), republish).await,
        Command::Schemas { action } => commands::schemas::run(action),
        Command::Eval {
            residents,
            seed,
            config,
            train,
            data_dir,
            no_labels,
            json,
        } => commands::eval::run(&commands::eval::Options {
            residents,
            seed,
            config: config.as_deref(),
            train: train.as_deref(),
            data_dir: data_dir.as_deref(),
            labels: if no_labels {
                Labels::None
            } else {
                Labels::ResidentId
            },
            json,
        }),
        Command::Dlq { config, action } => commands::dlq::run(config.as_deref(), action).await,
        Command::Acl {
            config,
            principal,
            command_config,
        } => Ok(commands::acl(&config, &principal, &command_config)),
        Command::Asyncapi(args) => commands::asyncapi::run(args),
        Command::Tail(args) => commands::tail::run(args).await,
        Command::Verify(args) => commands::verify::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let denied = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        // A wrapper that already printed its cause's text, then one that did not.
        let e = anyhow::Error::new(denied())
            .context(format!("locking /var/lib/govhub/govhub.lock: {}", denied()))
            .context("starting the hub");
        assert_eq!(
            error_chain(&e),
            format!(
                "starting the hub: locking /var/lib/govhub/govhub.lock: {}",
                denied()
            )
        );
    }
}
