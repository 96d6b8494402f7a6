//! `govhub check`: the config and the schemas, without connecting to anything.

use std::path::Path;
use std::process::ExitCode;

use super::{CONFIG_ERROR, load_config, load_standard};

/// Prints every problem with its config path; exit code 2 if there is any. Warnings (a
/// secret written into the file, a `${VAR}` secret unset here) count as problems when
/// `strict`.
pub fn run(path: &Path, strict: bool) -> ExitCode {
    let (config, standard) = match (load_config(path), load_standard()) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(code), _) | (_, Err(code)) => return code,
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
        return ExitCode::SUCCESS;
    }
    eprintln!("{}: {} problem(s)", path.display(), problems.len());
    for problem in problems {
        eprintln!("  {problem}");
    }
    ExitCode::from(CONFIG_ERROR)
}
