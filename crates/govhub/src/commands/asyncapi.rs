//! `govhub asyncapi`: the AsyncAPI 3.0.0 document of every topic, for downstream
//! developers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use govhub_stream::{KafkaSinkConfig, Topics};

use super::{CONFIG_ERROR, load_config, load_standard};

/// Arguments of `govhub asyncapi`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use this config's topic prefix, Kafka bootstrap servers and data-sharing views
    /// (default: prefix `govhub.`, broker 127.0.0.1:9092, no views).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Write the document (JSON) to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Writes the AsyncAPI document.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match args.config.as_deref().map(load_config).transpose() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let standard = match load_standard(config.as_ref()) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let views = config.as_ref().map(|c| c.views.clone()).unwrap_or_default();
    let (topics, kafka) = match (&args.config, config) {
        (Some(path), Some(config)) => {
            let topics = match config.topics() {
                Ok(t) => t,
                Err(problem) => {
                    eprintln!("{}: {problem}", path.display());
                    return Ok(ExitCode::from(CONFIG_ERROR));
                }
            };
            (topics, config.kafka)
        }
        _ => (
            Topics::default(),
            Some(KafkaSinkConfig::new(
                govhub::asyncapi::DEFAULT_BOOTSTRAP_SERVERS,
            )),
        ),
    };
    let document =
        govhub::asyncapi::document_with_views(&standard, &topics, kafka.as_ref(), &views)
            .context("generating the AsyncAPI document")?;
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
