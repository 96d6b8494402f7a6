//! `govhub backfill`: re-read a connector's history into the stream.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use govhub::hub::Hub;
use govhub::lock::DataDirLock;
use govhub::sink::HubSink;
use govhub_core::Sink;
use govhub_resolve::{Commit, StateStore};
use tokio_util::sync::CancellationToken;

use super::{CONFIG_ERROR, load_config, load_standard, print_counts};

/// Resets `connector`'s cursor — to the beginning, or with `since` to that timestamp
/// (incremental connectors only) — and syncs it until caught up. Records unchanged since
/// they were published are dropped as duplicates unless `republish` forgets what was
/// published, in which case they go out again under the same event ids.
pub async fn run(
    path: &Path,
    connector: &str,
    since: Option<&str>,
    republish: bool,
) -> anyhow::Result<ExitCode> {
    let mut config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let Some(settings) = config.connectors.get(connector) else {
        let known: Vec<&str> = config.connectors.keys().map(String::as_str).collect();
        eprintln!(
            "no connector {connector:?} in {} (known: {})",
            path.display(),
            known.join(", ")
        );
        return Ok(ExitCode::from(CONFIG_ERROR));
    };
    let start = settings.pagination.start();
    let cursor = match since.map(|t| settings.pagination.since(t)) {
        Some(Err(message)) => {
            eprintln!("connectors.{connector}.pagination: {message}");
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
        Some(Ok(cursor)) => Some(cursor),
        None => None,
    };
    let standard = match load_standard(Some(&config)) {
        Ok(s) => Arc::new(s),
        Err(code) => return Ok(code),
    };
    config.connectors.retain(|name, _| name == connector);
    // Not under a running hub: it would keep its own cursor and overwrite this one. The
    // hub built below takes the lock again for the sync.
    let lock = DataDirLock::acquire(&config.data_dir).context("backfill")?;
    let mut store = StateStore::open(&config.data_dir).context("backfill")?;
    let mut reset = Commit::default();
    reset
        .cursors
        .insert(connector.to_owned(), cursor.unwrap_or(start));
    if republish {
        reset.forget.push(connector.to_owned());
    }
    // With exactly-once, the reset goes to the state topic first, in a transaction of
    // its own: a store rebuilt from the topic must not undo it.
    let topics = config.topics().map_err(|p| anyhow::anyhow!("{p}"))?;
    let mut sink = HubSink::from_config(&config, &topics).context("backfill")?;
    if sink.is_transactional() {
        sink.prepare(&[], &[]).await.context("backfill")?;
        sink.open_state(&topics, &mut store)
            .await
            .context("backfill")?;
        let mut events = Vec::new();
        sink.attach_state(&store, &mut reset, &mut events)
            .context("resetting the cursor")?;
        sink.write(events).await.context("resetting the cursor")?;
    }
    drop(sink);
    // Cursor and forgotten fingerprints in one commit: never one without the other.
    store.commit(&reset).context("resetting the cursor")?;
    drop(store);
    drop(lock);
    tracing::info!(
        connector,
        since = since.unwrap_or("the beginning"),
        "backfill starts"
    );
    let mut hub = Hub::build(&config, standard)
        .await
        .context("starting the hub")?;
    let mut counts = Default::default();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .map_err(|(name, e)| anyhow::anyhow!("connector {name} stopped: {e}"))?;
    print_counts(&counts);
    Ok(ExitCode::SUCCESS)
}
