//! `govhub demo`: the four simulated departments, the hub and the embedded log in one
//! process.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use govhub::admin;
use govhub::demo::{self, Demo, DemoOptions, DemoReport};
use govhub::hub::{Progress, ProgressFn};
use tokio_util::sync::CancellationToken;

use super::serve::{AdminAddr, Signals, bind_admin, check_admin, start_admin, until_signal};
use super::{print_counts, print_identity};

/// `govhub demo`'s options for serving.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// After the initial sync keep running: poll the simulated departments at the poll
    /// interval and serve the admin API and dashboard until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub serve: bool,
    /// Address of the admin server (default with --serve: 127.0.0.1:9464; without it,
    /// none unless given); `off` for none.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<AdminAddr>,
    /// Seconds to finish the batch in hand after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub shutdown_timeout: u64,
}

/// Runs the demo and prints its summary; with `--serve`, keeps running until stopped.
pub async fn run(
    residents: u64,
    seed: u64,
    invalid_every: u64,
    generation: u64,
    data_dir: Option<PathBuf>,
    serving: ServeArgs,
) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::listen().context("listening for stop signals")?;
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("govhub-demo-")
            .tempdir()
            .context("creating a data directory")?
            .keep(),
    };
    println!(
        "govhub demo: four simulated departments → unified standard → embedded log\n\
         population: {residents} residents, seed {seed}, generation {generation}\n\
         data directory: {}\n",
        data_dir.display()
    );
    let options = DemoOptions {
        seed,
        residents,
        invalid_every,
        generation,
        data_dir,
    };
    let tty = std::io::stderr().is_terminal();
    let progress: ProgressFn = Arc::new(move |p: Progress<'_>| show_progress(p, tty));
    let admin_addr = match serving.admin {
        Some(addr) => addr,
        None if serving.serve => AdminAddr(admin::DEFAULT_ADDR.parse().ok()),
        None => AdminAddr(None),
    };
    if admin_addr.0.is_none() && !serving.serve {
        let report = demo::run(&options, progress).await?;
        print_report(&report);
        return Ok(ExitCode::SUCCESS);
    }

    if let Err(code) = check_admin(admin_addr, &admin::AdminConfig::default()) {
        return Ok(code);
    }
    let listener = match bind_admin(admin_addr).await {
        Ok(listener) => listener,
        Err(code) => return Ok(code),
    };
    let mut demo = Demo::start(&options).await?;
    let status = demo.hub.status();
    let admin = listener.map(|l| {
        start_admin(
            l,
            status.clone(),
            demo.hub.persons(),
            demo.hub.sharing_log(),
            &demo.config,
            None,
        )
    });
    if let Some(admin) = &admin {
        println!(
            "admin: http://{}/ (dashboard; JSON API under /api, Prometheus metrics at /metrics)",
            admin.addr()
        );
    }
    let stop = CancellationToken::new();
    let deadline = Duration::from_secs(serving.shutdown_timeout);
    let mut counts = BTreeMap::new();
    let initial = until_signal(
        demo.hub
            .sync_all_with_progress(&mut counts, &stop, progress),
        &mut signals,
        &stop,
        &status,
        deadline,
    )
    .await;
    let outcome = match initial {
        Ok(Ok(())) => {
            println!();
            print_report(&demo.report(counts)?);
            if serving.serve && !stop.is_cancelled() {
                let interval = demo.config.poll_interval().as_secs();
                match &admin {
                    Some(admin) => println!(
                        "\nserving the dashboard at http://{}/ and polling the departments every {interval} s until Ctrl-C or SIGTERM",
                        admin.addr()
                    ),
                    None => println!(
                        "\npolling the departments every {interval} s until Ctrl-C or SIGTERM"
                    ),
                }
                let served =
                    until_signal(demo.hub.run(&stop), &mut signals, &stop, &status, deadline).await;
                served.map(|r| r.map(drop))
            } else {
                Ok(Ok(()))
            }
        }
        other => other,
    };
    if let Some(admin) = admin {
        admin.stop().await;
    }
    let _ = demo.departments.shutdown().await;
    match outcome {
        Ok(Ok(())) => {
            if serving.serve {
                eprintln!("stopped: every batch in hand written and committed");
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err((connector, e))) => anyhow::bail!("connector {connector}: {e}"),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_report(report: &DemoReport) {
    print_counts(&report.counts);
    print_identity(&report.identity, report.unified);
    println!("\nembedded log ({}):", report.log_dir.display());
    for (topic, n) in &report.stored {
        println!("  {topic:<48} {n:>8} events");
    }
}

/// One progress line per connector on stderr: on a terminal, rewritten in place as
/// batches are written; otherwise one line when the connector has caught up.
fn show_progress(progress: Progress<'_>, tty: bool) {
    let mut err = std::io::stderr().lock();
    let Progress {
        connector,
        records,
        caught_up,
    } = progress;
    let _ = if !tty {
        if caught_up {
            writeln!(err, "synced {connector}: {records} records")
        } else {
            Ok(())
        }
    } else if caught_up {
        writeln!(err, "\r\x1b[2Ksynced {connector}: {records} records")
    } else {
        write!(err, "\r\x1b[2Ksyncing {connector}: {records} records…")
    };
    let _ = err.flush();
}
