//! `govhub run`: the hub from a config file, until stopped.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use govhub::hub::{BuildError, Hub};
use govhub_schema::Standard;
use tokio_util::sync::CancellationToken;

use super::{CONFIG_ERROR, load_config, print_counts};

/// Runs the hub from the config at `path`.
pub async fn run(path: &Path, once: bool) -> anyhow::Result<ExitCode> {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
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
