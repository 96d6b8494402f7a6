//! `govhub check`: the config and the schemas, without connecting to anything.

use std::path::Path;
use std::process::ExitCode;

use super::{CONFIG_ERROR, load_config, load_standard};

/// Prints every problem with its config path; exit code 2 if there is any.
pub fn run(path: &Path) -> ExitCode {
    let (config, standard) = match (load_config(path), load_standard()) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let problems = config.problems(&standard);
    if problems.is_empty() {
        println!(
            "{}: ok ({} connector(s), {} schema(s))",
            path.display(),
            config.connectors.len(),
            standard.iter().count()
        );
        return ExitCode::SUCCESS;
    }
    eprintln!("{}: {} problem(s)", path.display(), problems.len());
    for problem in problems {
        eprintln!("  {problem}");
    }
    ExitCode::from(CONFIG_ERROR)
}
