//! What `run` and `demo --serve` share: the admin server's address, the signals that
//! stop the hub, and the deadline for a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use govhub::admin::{self, AdminConfig, AdminListener, AdminServer, AdminState, ServeError, Token};
use govhub::config::HubConfig;
use govhub::persons::PersonLookup;
use govhub::status::Status;
use tokio_util::sync::CancellationToken;

use super::CONFIG_ERROR;

/// How long the admin server gets to answer open requests once the hub has stopped.
const ADMIN_GRACE: Duration = Duration::from_secs(5);

/// `--admin`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminAddr(pub Option<SocketAddr>);

impl FromStr for AdminAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(AdminAddr(None));
        }
        s.parse().map(|a| AdminAddr(Some(a))).map_err(|_| {
            format!("{s:?} is not an address like 127.0.0.1:9464 (or `off` for no admin server)")
        })
    }
}

/// `govhub run`'s options for serving.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the admin server (health probes, /metrics, the JSON API, the
    /// dashboard), default 127.0.0.1:9464; `off` for none. Beyond loopback it requires
    /// GOVHUB_ADMIN_TOKEN (checked before anything else starts). With --once there is
    /// none unless this is given.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<AdminAddr>,
    /// Seconds to finish the batch in hand after SIGTERM or Ctrl-C; past them govhub
    /// exits with code 1, leaving that batch to be re-read.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub shutdown_timeout: u64,
}

impl ServeArgs {
    /// The admin address: as given, else the default for a hub that keeps running and
    /// none for a one-off catch-up (which would collide with the running hub's port).
    pub fn admin_addr(&self, once: bool) -> AdminAddr {
        match self.admin {
            Some(addr) => addr,
            None if once => AdminAddr(None),
            None => AdminAddr(admin::DEFAULT_ADDR.parse().ok()),
        }
    }
}

/// SIGTERM and Ctrl-C (SIGINT), listened to from creation on: a signal that arrives
/// before anyone waits is not lost, and does not kill the process.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    pub fn listen() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The hub did not stop within the shutdown deadline.
#[derive(Debug, thiserror::Error)]
pub enum Shutdown {
    /// The deadline passed.
    #[error(
        "the batch in hand did not finish within {0} s of the stop signal; exiting without \
         committing it (it is re-read on the next start)"
    )]
    Deadline(u64),
    /// A second signal asked not to wait.
    #[error("second stop signal: exiting without waiting for the batch in hand")]
    Forced,
}

/// Runs `work` to its end, or until a signal: then cancels `stop`, marks `status` as
/// shutting down, and gives `work` `deadline` to finish its batch.
pub async fn until_signal<T>(
    work: impl Future<Output = T>,
    signals: &mut Signals,
    stop: &CancellationToken,
    status: &Status,
    deadline: Duration,
) -> Result<T, Shutdown> {
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => return Ok(done),
        () = signals.recv() => {}
    }
    tracing::info!(
        deadline_secs = deadline.as_secs(),
        "shutdown requested; finishing the batch in hand"
    );
    stop.cancel();
    status.set_shutting_down();
    tokio::select! {
        done = tokio::time::timeout(deadline, &mut work) => {
            done.map_err(|_| Shutdown::Deadline(deadline.as_secs()))
        }
        () = signals.recv() => Err(Shutdown::Forced),
    }
}

/// The admin server started by [`start_admin`], and how to stop it.
#[derive(Debug)]
pub struct Admin {
    server: AdminServer,
    stop: CancellationToken,
}

impl Admin {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops it, giving open requests a moment to be answered.
    pub async fn stop(self) {
        self.stop.cancel();
        match tokio::time::timeout(ADMIN_GRACE, self.server.stopped()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "admin server failed"),
            Err(_) => tracing::warn!("admin server did not stop in time"),
        }
    }
}

/// Checks the admin server's settings on `addr` (`[admin]` in `config`, and a token
/// beyond loopback) before anything else happens: nothing is bound or connected and
/// the data directory is not touched yet. Every problem is printed; `Err` holds exit
/// code 2.
pub fn check_admin(addr: AdminAddr, config: &AdminConfig) -> Result<(), ExitCode> {
    let Some(addr) = addr.0 else {
        return Ok(());
    };
    let problems = admin::config::problems(addr, Token::from_env().as_ref(), config);
    if problems.is_empty() {
        return Ok(());
    }
    for problem in problems {
        eprintln!("error: {problem}");
    }
    Err(ExitCode::from(CONFIG_ERROR))
}

/// Binds the admin server's socket on `addr`, with the token from
/// `GOVHUB_ADMIN_TOKEN`; `None` when `addr` is off. Called before the hub starts, so a
/// taken port or a missing token stops start-up before anything else happens: the
/// error is printed, and `Err` holds the exit code (2 for a missing token, a config
/// error; 1 for a taken port, which may free up on a restart).
pub async fn bind_admin(addr: AdminAddr) -> Result<Option<AdminListener>, ExitCode> {
    let Some(addr) = addr.0 else {
        return Ok(None);
    };
    admin::bind(addr, Token::from_env())
        .await
        .map(Some)
        .map_err(|e| {
            eprintln!("error: {e}");
            match e {
                ServeError::TokenRequired(_) => ExitCode::from(CONFIG_ERROR),
                ServeError::Bind { .. } => ExitCode::FAILURE,
            }
        })
}

/// Serves the admin API on `listener` over `status`, reading dead letters through
/// `config`, answering its `[admin] allowed_hosts`, asking the hub about persons
/// through `persons`, reporting its views' `sharing` log and listing the instances of
/// `cluster` (`None`: this one alone).
pub fn start_admin(
    listener: AdminListener,
    status: Arc<Status>,
    persons: PersonLookup,
    sharing: Arc<govhub::views::SharingLog>,
    config: &HubConfig,
    cluster: Option<govhub::cluster::Members>,
) -> Admin {
    let state = AdminState::new(status)
        .with_dlq(config.clone())
        .with_allowed_hosts(config.admin.allowed_hosts.clone())
        .with_persons(persons)
        .with_views(sharing)
        .with_cluster(cluster);
    let stop = CancellationToken::new();
    let shutdown = stop.clone().cancelled_owned();
    let server = listener.serve(state, shutdown);
    Admin { server, stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses_parse_or_say_what_is_expected() {
        assert_eq!("off".parse(), Ok(AdminAddr(None)));
        assert_eq!(
            "0.0.0.0:9464".parse(),
            Ok(AdminAddr(Some(SocketAddr::from(([0, 0, 0, 0], 9464)))))
        );
        let err = "localhost".parse::<AdminAddr>().unwrap_err();
        assert!(err.contains("127.0.0.1:9464"), "{err}");
    }
}
