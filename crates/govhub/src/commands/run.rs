//! `govhub run`: the hub from a config file, with its admin server, until stopped.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use govhub::admin::AdminListener;
use govhub::cluster::Members;
use govhub::config::HubConfig;
use govhub::hub::{BuildError, Hub};
use govhub_stream::kafka::{Election, Role};
use tokio_util::sync::CancellationToken;

use super::serve::{ServeArgs, Signals, bind_admin, check_admin, start_admin, until_signal};
use super::{CONFIG_ERROR, load_config, load_standard, print_counts, print_identity};

/// Runs the hub from the config at `path`. On SIGTERM or Ctrl-C it finishes the batch
/// in hand (written, acked, cursor committed) and exits 0, or 1 past the deadline.
pub async fn run(path: &Path, once: bool, serve: ServeArgs) -> anyhow::Result<ExitCode> {
    // Listening from the start: a stop signal during start-up is a graceful stop too.
    let signals = Signals::listen().context("listening for stop signals")?;
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // The admin server's settings first, then its socket: a missing token, a malformed
    // allowed host or a taken port fails before any connection is made, the data
    // directory is locked or anything is logged as ready.
    let admin_addr = serve.admin_addr(once);
    if let Err(code) = check_admin(admin_addr, &config.admin) {
        return Ok(code);
    }
    let listener = match bind_admin(admin_addr).await {
        Ok(listener) => listener,
        Err(code) => return Ok(code),
    };
    let standard = match load_standard(Some(&config)) {
        Ok(s) => Arc::new(s),
        Err(code) => return Ok(code),
    };
    // The config and its secrets before anything connects: an instance that cannot run
    // must not join the election and take the role from one that can.
    if let Err(e) = Hub::check(&config, &standard) {
        eprintln!("{}: {e}", path.display());
        return Ok(ExitCode::from(CONFIG_ERROR));
    }
    // With exactly-once on Kafka, the instances of this hub elect the active one; this
    // one starts its hub only once it holds the role.
    let elects = config.kafka.as_ref().is_some_and(|k| k.exactly_once) && !once;
    let election = match Members::of(&config).filter(|_| elects) {
        Some(members) => {
            let joined = members
                .join()
                .await
                .context("joining the other instances of this hub")?;
            tracing::info!(group = %members.group(), "joined the instances of this hub; waiting for the group's assignment");
            Some((joined, members))
        }
        None => None,
    };
    // Spread, this instance runs its share of the connectors whatever its role.
    let workers = match election.as_ref() {
        Some((_, members)) => members
            .join_connectors()
            .await
            .context("joining the instances that share the connectors")?
            .map(|sharing| Workers::start(&config, &standard, sharing)),
        None => None,
    };
    let led = lead(
        path, once, &serve, &config, standard, listener, signals, election,
    )
    .await;
    if let Some(workers) = workers {
        workers.finish().await;
    }
    led
}

/// The connectors the group `sharing` assigns this instance, when they are spread: run
/// until [`Workers::finish`], which also leaves the group.
struct Workers {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    sharing: Election,
}

impl Workers {
    fn start(
        config: &HubConfig,
        standard: &Arc<govhub_schema::Standard>,
        sharing: Election,
    ) -> Workers {
        let stop = CancellationToken::new();
        let task = tokio::spawn(govhub::runtime::workers::run(
            Arc::new(config.clone()),
            standard.clone(),
            sharing.assigned(),
            stop.clone(),
        ));
        Workers {
            stop,
            task,
            sharing,
        }
    }

    /// Stops every connector between pages, waits for them, and leaves the group: the
    /// others take the connectors over at once.
    async fn finish(self) {
        self.stop.cancel();
        self.task.await.ok();
        let sharing = self.sharing;
        tokio::task::spawn_blocking(move || drop(sharing))
            .await
            .ok();
    }
}

/// Until stopped: waits for the active role when elected, then builds and runs the hub.
#[allow(clippy::too_many_arguments)]
async fn lead(
    path: &Path,
    once: bool,
    serve: &ServeArgs,
    config: &HubConfig,
    standard: Arc<govhub_schema::Standard>,
    mut listener: Option<AdminListener>,
    mut signals: Signals,
    mut election: Option<(Election, Members)>,
) -> anyhow::Result<ExitCode> {
    let mut wait = Duration::from_secs(1);
    let mut hub = loop {
        if let Some((joined, members)) = election.as_mut()
            && !until_active(joined, members, config, &mut listener, &mut signals).await?
        {
            return Ok(ExitCode::SUCCESS);
        }
        match Hub::build(config, standard.clone()).await {
            Ok(hub) => break hub,
            Err(e @ BuildError::Config(_)) => {
                eprintln!("{}: {e}", path.display());
                return Ok(ExitCode::from(CONFIG_ERROR));
            }
            // The elected instance met the broker moments ago: one that goes away while
            // the hub starts (restarted, say) is waited for, as a running hub waits.
            Err(e) if election.is_some() && e.is_transient() => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "the broker failed the hub's start; starting again");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = signals.recv() => return Ok(ExitCode::SUCCESS),
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e).context("starting the hub"),
        }
    };
    let status = hub.status();
    let members = election.as_ref().map(|(_, members)| members.clone());
    let admin = listener.map(|l| {
        let (persons, sharing) = (hub.persons(), hub.sharing_log());
        start_admin(l, status.clone(), persons, sharing, config, members)
    });
    let stop = CancellationToken::new();
    // The group may take the role away while this hub runs: when another instance gets
    // it, that one's start fences this hub, whose next commit fails and stops it. When
    // no other instance takes over (the broker restarted, the group re-formed), this hub
    // goes on. Its membership lasts until the hub has stopped.
    let finished = CancellationToken::new();
    let watcher = election.map(|(mut election, _)| {
        let finished = finished.clone();
        tokio::spawn(async move {
            let mut role = Role::Active;
            loop {
                tokio::select! {
                    now = election.changed_from(role) => role = now,
                    () = finished.cancelled() => break,
                }
                match role {
                    Role::Active => tracing::info!("this instance is active again"),
                    _ => tracing::warn!("the group took the active role from this instance; it goes on until another instance takes over and fences it"),
                }
            }
            // Dropped here: leaving the group hands the role over at once.
            tokio::task::spawn_blocking(move || drop(election)).await.ok();
        })
    });
    let work = async {
        if once {
            let mut counts = Default::default();
            hub.sync_all(&mut counts, &stop).await.map(|()| counts)
        } else {
            hub.run(&stop).await
        }
    };
    let deadline = Duration::from_secs(serve.shutdown_timeout);
    let outcome = until_signal(work, &mut signals, &stop, &status, deadline).await;
    if let Some(admin) = admin {
        admin.stop().await;
    }
    finished.cancel();
    if let Some(watcher) = watcher {
        watcher.await.ok();
    }
    match outcome {
        Ok(Ok(counts)) => {
            print_counts(&counts);
            if once {
                print_identity(&hub.identity_stats(), hub.unified_across_departments());
                let pulled = counts.values().map(|c| c.pulled).sum();
                println!("{}", hub.stage_summary(pulled));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err((connector, e))) => anyhow::bail!("connector {connector} stopped: {e}"),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Waits until the group makes this instance the active one: `Ok(false)` when a stop
/// signal comes first. Until then the admin address answers its probes (not ready)
/// alone, and the state store follows the state topic; both stop once active, and the
/// listener comes back for the hub's own admin server.
async fn until_active(
    joined: &mut Election,
    members: &Members,
    config: &HubConfig,
    listener: &mut Option<AdminListener>,
    signals: &mut Signals,
) -> anyhow::Result<bool> {
    let group = members.group();
    let (mut standby, mut follower) = (None, None);
    let mut role = joined.role();
    while role != Role::Active {
        if role == Role::Standby && follower.is_none() {
            tracing::info!(%group, "standing by: another instance of this hub is active; this one takes over when that one stops or dies");
            if let Some(l) = listener.take() {
                standby = Some(l.serve_standby(&config.admin.allowed_hosts, members.clone()));
            }
            let stop = CancellationToken::new();
            let task = tokio::spawn(govhub::cluster::follow(
                members.clone(),
                config.data_dir.clone(),
                stop.clone(),
            ));
            follower = Some((stop, task));
        }
        tokio::select! {
            now = joined.changed_from(role) => role = now,
            () = signals.recv() => return Ok(false),
        }
    }
    tracing::info!(%group, "this instance is active");
    // The follower hands over the data directory, its store current or nearly.
    if let Some((stop, task)) = follower {
        stop.cancel();
        task.await.ok();
    }
    if let Some(standby) = standby {
        *listener = Some(
            standby
                .stop()
                .await
                .context("taking the admin address back from the standby server")?,
        );
    }
    Ok(true)
}
