//! `govhub check`: the config and the schemas, without connecting to anything; with
//! `--sample`, then a dry run of each connector against its real API.

use std::path::Path;
use std::process::ExitCode;

use govhub::admin::{self, Token};
use govhub::config::HubConfig;
use govhub::sample::{SampleReport, sample};
use govhub_schema::Standard;

use super::serve::AdminAddr;
use super::{CONFIG_ERROR, load_config, load_standard};

/// Prints every problem with its config path; exit code 2 if there is any. Warnings (a
/// secret written into the file, a `${VAR}` secret unset here) count as problems when
/// `strict`. With `sample` (`Some(None)`: each connector's first page, `Some(Some(n))`:
/// its first `n` records), a config without problems is then tried against the real
/// APIs; exit code 1 if any record would be rejected or an API could not be read.
/// `admin` is the admin address `run` will be given (`None`: its default): beyond
/// loopback without `GOVHUB_ADMIN_TOKEN` is a problem, as `run` would refuse it.
pub async fn run(
    path: &Path,
    strict: bool,
    sample: Option<Option<usize>>,
    admin: Option<AdminAddr>,
) -> ExitCode {
    if sample == Some(Some(0)) {
        eprintln!("--sample: give at least 1 record, or no number for each connector's first page");
        return ExitCode::from(CONFIG_ERROR);
    }
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let standard = match load_standard(Some(&config)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut warnings = config.warnings();
    warnings.extend(
        config
            .unresolved_secrets(&|var| std::env::var(var).ok())
            .into_iter()
            .map(|mut w| {
                w.message.push_str(" (`govhub run` needs it)");
                w
            }),
    );
    let mut problems = config.problems(&standard);
    let admin = admin.unwrap_or(AdminAddr(admin::DEFAULT_ADDR.parse().ok()));
    if let Some(addr) = admin.0 {
        problems.extend(admin::config::bind_problem(
            addr,
            Token::from_env().as_ref(),
        ));
    }
    if strict {
        problems.append(&mut warnings);
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} connector(s), {} schema(s){})",
            path.display(),
            config.connectors.len(),
            standard.iter().count(),
            match warnings.len() {
                0 => String::new(),
                n => format!(", {n} warning(s)"),
            }
        );
        return match sample {
            Some(limit) => sample_all(&config, &standard, limit).await,
            None => ExitCode::SUCCESS,
        };
    }
    eprintln!("{}: {} problem(s)", path.display(), problems.len());
    for problem in problems {
        eprintln!("  {problem}");
    }
    ExitCode::from(CONFIG_ERROR)
}

/// Samples every connector in turn and prints what each would do.
async fn sample_all(config: &HubConfig, standard: &Standard, limit: Option<usize>) -> ExitCode {
    let env = |var: &str| std::env::var(var).ok();
    let mut clean = true;
    for (name, connector) in &config.connectors {
        println!("\nconnector {name} ({})", connector.kind);
        match sample(name, connector, standard, limit, &env).await {
            Ok(report) => {
                print_sample(&report);
                clean &= report.rejected == 0;
            }
            Err(e) => {
                println!("  cannot sample: {e}");
                clean = false;
            }
        }
    }
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_sample(report: &SampleReport) {
    println!(
        "  sampled {}: would publish {}, would reject {}",
        report.sampled, report.accepted, report.rejected
    );
    let mut reasons: Vec<_> = report.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    for (reason, seen) in reasons {
        println!(
            "  {:>6} × {reason} (e.g. {})",
            seen.count,
            seen.examples.join(", ")
        );
    }
    let list = |fields: &std::collections::BTreeSet<String>| {
        fields
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !report.unused_fields.is_empty() {
        println!(
            "  source fields no rule reads: {}",
            list(&report.unused_fields)
        );
    }
    if !report.absent_sources.is_empty() {
        println!(
            "  fields the mapping reads that no sampled record has: {}",
            list(&report.absent_sources)
        );
    }
}
