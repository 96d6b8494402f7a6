//! `govhub dlq list|show|replay`: the dead-letter topic for operators.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use govhub::dlq;

use super::{CONFIG_ERROR, load_config, load_standard, print_reasons};

/// What to do with the dead letters.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// One line per rejected record: where, which connector, which stage, why.
    List {
        /// Only this connector's dead letters.
        #[arg(long)]
        connector: Option<String>,
        /// Show at most this many, newest last.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every dead letter of one source record, in full, payload included.
    Show {
        /// The record's id in the source system.
        source_record_id: String,
    },
    /// Re-run dead letters through the current mapping and schemas: those that pass
    /// are published, the rest stay. Each dead letter is published at most once.
    Replay {
        /// Only this connector's dead letters.
        #[arg(long)]
        connector: Option<String>,
    },
}

/// Runs a dead-letter command against the sink of the config at `path`.
pub async fn run(path: Option<&Path>, action: Action) -> anyhow::Result<ExitCode> {
    let Some(path) = path else {
        eprintln!("govhub dlq needs --config FILE (it names the sink and the mappings)");
        return Ok(ExitCode::from(CONFIG_ERROR));
    };
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match action {
        Action::List { connector, limit } => {
            let letters = dlq::read(&config)
                .await
                .context("reading the dead-letter topic")?;
            let selected: Vec<&dlq::Stored> = letters
                .iter()
                .filter(|s| connector.as_deref().is_none_or(|c| c == s.letter.connector))
                .collect();
            println!(
                "{:<10} {:<14} {:<24} {:<9} reasons",
                "position", "connector", "source record", "stage"
            );
            for stored in selected.iter().skip(selected.len().saturating_sub(limit)) {
                let reasons: Vec<String> = stored
                    .letter
                    .violations
                    .iter()
                    .map(|v| format!("{} at {}", v.keyword, v.instance_path))
                    .collect();
                println!(
                    "{:<10} {:<14} {:<24} {:<9} {}",
                    format!("{}:{}", stored.partition, stored.offset),
                    stored.letter.connector,
                    stored.letter.source_record_id,
                    stored.letter.stage,
                    reasons.join("; ")
                );
            }
            println!(
                "\n{} dead letter(s), {} shown",
                selected.len(),
                selected.len().min(limit)
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Show { source_record_id } => {
            let letters = dlq::read(&config)
                .await
                .context("reading the dead-letter topic")?;
            let matching: Vec<&dlq::Stored> = letters
                .iter()
                .filter(|s| s.letter.source_record_id == source_record_id)
                .collect();
            if matching.is_empty() {
                eprintln!("no dead letter for source record {source_record_id}");
                return Ok(ExitCode::FAILURE);
            }
            for stored in matching {
                println!(
                    "# {}:{}  ce_id {}",
                    stored.partition, stored.offset, stored.id
                );
                println!("{}", serde_json::to_string_pretty(&stored.letter)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Replay { connector } => {
            let standard = match load_standard(Some(&config)) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            let problems = config.problems(&standard);
            if !problems.is_empty() {
                eprintln!("{}: {} problem(s)", path.display(), problems.len());
                for p in problems {
                    eprintln!("  {p}");
                }
                return Ok(ExitCode::from(CONFIG_ERROR));
            }
            let report = dlq::replay(&config, &standard, connector.as_deref())
                .await
                .context("replaying dead letters")?;
            println!("published        {:>8}", report.published);
            println!("still failing    {:>8}", report.still_failing);
            println!("already replayed {:>8}", report.already_replayed);
            println!("unknown connector{:>8}", report.unknown_connector);
            print_reasons("still failing, by reason:", &report.reasons);
            Ok(ExitCode::SUCCESS)
        }
    }
}
