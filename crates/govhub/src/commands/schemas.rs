//! `govhub schemas list|docs|check`: the unified standard.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use govhub_schema::Standard;

use super::CONFIG_ERROR;

/// What to do with the standard.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Every record kind and version, with its `$id`.
    List,
    /// The standard as Markdown, a table per schema, for the people who agree on it.
    Docs {
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Compile every schema and check that each version is backward compatible with
    /// the one before; prints why and where for every incompatible change.
    Check {
        /// A directory laid out like `schemas/` (default: the standard built in).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Runs a schemas command.
pub fn run(action: Action) -> anyhow::Result<ExitCode> {
    let load = |dir: Option<&PathBuf>| match dir {
        Some(dir) => Standard::from_dir(dir),
        None => Standard::embedded(),
    };
    match action {
        Action::List => {
            let standard = load(None)?;
            for schema in standard.iter() {
                println!("{:<40} v{:<3} {}", schema.kind, schema.version, schema.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Docs { out } => {
            let text = govhub_schema::docs::markdown(&load(None)?);
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Check { dir } => {
            let standard = match load(dir.as_ref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(CONFIG_ERROR));
                }
            };
            let report = govhub_schema::compat::check_standard(&standard);
            let kinds = standard.iter().count();
            if report.is_empty() {
                println!("{kinds} schema(s) compile; every version is backward compatible");
                return Ok(ExitCode::SUCCESS);
            }
            for (from, to, problems) in &report {
                eprintln!("{to} is not backward compatible with {from}:");
                for p in problems {
                    eprintln!("  {p}");
                }
            }
            Ok(ExitCode::from(CONFIG_ERROR))
        }
    }
}
