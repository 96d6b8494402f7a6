//! `[admin]` in the config file, and the admin server's settings checked before
//! anything is bound or connected: `govhub check` and the start of `run` and `demo
//! --serve` report the same problems. The address itself is `--admin`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::ServeError;
use super::auth::Token;
use super::hosts;
use crate::config::Problem;

/// `[admin]`: the admin server's settings other than its address (`--admin`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `Host` headers the admin server answers besides those naming its own address:
    /// `name:port` as a browser sends it (`hub.internal:9464`), or `name` alone for a
    /// proxy on port 80 or 443 that passes the name on. Compared whole, case aside; a
    /// browser origin on one of these names may change state too.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl AdminConfig {
    /// Every problem with these settings as `(field, message)`, the field relative to
    /// `admin`.
    pub fn problems(&self) -> Vec<(String, String)> {
        self.allowed_hosts
            .iter()
            .enumerate()
            .filter_map(|(i, host)| {
                hosts::problem(host).map(|message| (format!("allowed_hosts[{i}]"), message))
            })
            .collect()
    }
}

/// The problem with serving the admin API on `addr` with `token`, if there is one:
/// beyond loopback it needs a token. `--admin ADDR` is its path: the address is not in
/// the config file.
pub fn bind_problem(addr: SocketAddr, token: Option<&Token>) -> Option<Problem> {
    (!addr.ip().is_loopback() && token.is_none()).then(|| Problem {
        path: "--admin".into(),
        message: ServeError::TokenRequired(addr).to_string(),
    })
}

/// Every problem with serving the admin API on `addr` with `token` under `config`,
/// found without binding or connecting anything: `config`'s own (as
/// `admin.allowed_hosts[0]`), then [`bind_problem`].
pub fn problems(addr: SocketAddr, token: Option<&Token>, config: &AdminConfig) -> Vec<Problem> {
    let mut problems: Vec<Problem> = config
        .problems()
        .into_iter()
        .map(|(field, message)| Problem {
            path: format!("admin.{field}"),
            message,
        })
        .collect();
    problems.extend(bind_problem(addr, token));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_without_a_token_is_a_problem() {
        let token = Token::new("t");
        let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        let lan: SocketAddr = "10.1.2.3:9464".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let local6: SocketAddr = "[::1]:9464".parse().unwrap();
        for addr in [any, lan] {
            let problem = bind_problem(addr, None).unwrap();
            assert_eq!(problem.path, "--admin");
            assert!(problem.message.contains("GOVHUB_ADMIN_TOKEN"), "{problem}");
            assert!(problem.message.contains(&addr.to_string()), "{problem}");
            assert_eq!(bind_problem(addr, Some(&token)), None);
        }
        assert_eq!(bind_problem(local, None), None);
        assert_eq!(bind_problem(local6, None), None);
    }

    #[test]
    fn every_malformed_allowed_host_is_reported_with_its_index() {
        let config = AdminConfig {
            allowed_hosts: vec![
                "hub.internal:9464".into(),
                "https://hub.internal".into(),
                "hub.internal:9464".into(),
                "".into(),
                "*.internal".into(),
            ],
        };
        let problems = problems("0.0.0.0:9464".parse().unwrap(), None, &config);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "admin.allowed_hosts[1]",
                "admin.allowed_hosts[3]",
                "admin.allowed_hosts[4]",
                "--admin"
            ]
        );
    }
}
