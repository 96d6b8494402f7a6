//! Which `Host` headers and browser origins the admin server answers as its own.
//!
//! A web page can make a browser send requests to the admin server under the page's
//! own host name: its name first resolves to the page's server, then to 127.0.0.1 (DNS
//! rebinding), and the browser treats the admin API as the page's own origin. Such a
//! request names the page's host in `Host`, so answering only the names of the server
//! itself defeats it. An IP literal or `localhost` cannot be rebound: no DNS answer
//! stands behind either.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The `Host` values the admin server bound to `addr` answers, with the port of `addr`:
///
/// - bound to loopback: `127.0.0.1`, `[::1]`, `localhost` and the bound address;
/// - bound to one other address: that address;
/// - bound to every address (`0.0.0.0`, `[::]`): any IP literal and `localhost`;
///
/// and every entry of `[admin] allowed_hosts`, compared whole.
#[derive(Debug, Clone)]
pub struct Hosts {
    addr: SocketAddr,
    allowed: Arc<[String]>,
}

impl Hosts {
    /// The hosts of a server bound to `addr`, and `allowed` besides.
    pub fn new(addr: SocketAddr, allowed: &[String]) -> Self {
        let allowed = allowed
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        Hosts { addr, allowed }
    }

    /// Whether a request whose `Host` is `authority` is meant for this server.
    pub fn allows(&self, authority: &str) -> bool {
        let authority = authority.trim().to_ascii_lowercase();
        if self.allowed.contains(&authority) {
            return true;
        }
        let Some((host, port)) = split(&authority) else {
            return false;
        };
        if port != self.addr.port() {
            return false;
        }
        let bound = self.addr.ip();
        match host {
            Host::Localhost => bound.is_loopback() || bound.is_unspecified(),
            Host::Ip(_) if bound.is_unspecified() => true,
            Host::Ip(ip) if bound.is_loopback() => {
                ip == bound
                    || ip == IpAddr::from(Ipv4Addr::LOCALHOST)
                    || ip == IpAddr::from(Ipv6Addr::LOCALHOST)
            }
            Host::Ip(ip) => ip == bound,
            Host::Name => false,
        }
    }

    /// Whether `origin` (an `Origin` header) is a page this server served: `http` or
    /// `https` with the authority the request was sent to (`host`, already
    /// [allowed](Self::allows)) or an allowed host. `null` (a sandboxed frame, a local
    /// file, a redirect across origins) is no page of this server's.
    pub fn is_own_origin(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        authority == host.trim().to_ascii_lowercase()
            || self.allowed.iter().any(|a| *a == authority)
    }
}

enum Host {
    Localhost,
    Ip(IpAddr),
    Name,
}

/// `authority` (lowercase) as host and port; no port is port 80. `None` when it is
/// not an authority at all.
fn split(authority: &str) -> Option<(Host, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        (Host::Ip(IpAddr::V6(ip.parse().ok()?)), port)
    } else {
        let (name, port) = match authority.find(':') {
            Some(colon) => authority.split_at(colon),
            None => (authority, ""),
        };
        let host = if name == "localhost" {
            Host::Localhost
        } else if let Ok(ip) = name.parse::<Ipv4Addr>() {
            Host::Ip(IpAddr::V4(ip))
        } else if is_name(name) {
            Host::Name
        } else {
            return None;
        };
        (host, port)
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => 80,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        _ => return None,
    };
    Some((host, port))
}

/// A DNS name: labels of letters, digits and hyphens.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What is wrong with `entry` as an `allowed_hosts` entry, if anything.
pub fn problem(entry: &str) -> Option<String> {
    let lower = entry.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Some(
            "empty; give a host name as browsers send it, e.g. \"hub.internal:9464\"".into(),
        );
    }
    if lower.contains("://") || lower.contains('/') {
        return Some(format!(
            "{entry:?} is a URL; give the host and port alone, e.g. \"hub.internal:9464\""
        ));
    }
    if split(&lower).is_none() {
        return Some(format!(
            "{entry:?} is not a host name with an optional port (\"name\", \"name:9464\", \
             \"10.0.0.5:9464\", \"[fd00::5]:9464\"); patterns are not supported"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(addr: &str, allowed: &[&str]) -> Hosts {
        let allowed: Vec<String> = allowed.iter().map(|h| (*h).to_owned()).collect();
        Hosts::new(addr.parse().unwrap(), &allowed)
    }

    #[test]
    fn a_loopback_server_answers_its_loopback_names_on_its_port_only() {
        let h = hosts("127.0.0.1:9464", &[]);
        for ok in [
            "127.0.0.1:9464",
            "localhost:9464",
            "LOCALHOST:9464",
            "[::1]:9464",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:9464",
            "localhost.evil.example:9464",
            "127.0.0.1:9465",
            "localhost",
            "10.0.0.5:9464",
            "127.0.0.1:9464@evil.example",
            "",
            ":9464",
            "localhost:",
            "localhost:9464x",
            "[::1",
        ] {
            assert!(!h.allows(refused), "{refused}");
        }
    }

    #[test]
    fn a_server_bound_to_one_address_answers_that_address() {
        let h = hosts("10.0.0.5:9464", &[]);
        assert!(h.allows("10.0.0.5:9464"));
        assert!(!h.allows("10.0.0.6:9464"));
        assert!(!h.allows("localhost:9464"));
        assert!(!h.allows("hub.internal:9464"));
    }

    #[test]
    fn a_server_bound_to_every_address_answers_ip_literals_and_localhost() {
        let h = hosts("0.0.0.0:9464", &[]);
        for ok in [
            "10.0.0.5:9464",
            "127.0.0.1:9464",
            "localhost:9464",
            "[fd00::5]:9464",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        assert!(!h.allows("hub.internal:9464"), "names need allowed_hosts");
        assert!(!h.allows("10.0.0.5:80"));
    }

    #[test]
    fn allowed_hosts_are_compared_whole() {
        let h = hosts("0.0.0.0:9464", &["Hub.Internal:9464", "admin.example"]);
        assert!(h.allows("hub.internal:9464"));
        assert!(h.allows("HUB.internal:9464"));
        assert!(h.allows("admin.example"));
        assert!(!h.allows("hub.internal:9465"));
        assert!(!h.allows("hub.internal"));
        assert!(!h.allows("admin.example:9464"));
        assert!(!h.allows("x.hub.internal:9464"));
    }

    #[test]
    fn an_own_origin_names_the_host_the_request_was_sent_to() {
        let h = hosts("127.0.0.1:9464", &["admin.example"]);
        let host = "127.0.0.1:9464";
        assert!(h.is_own_origin("http://127.0.0.1:9464", host));
        assert!(h.is_own_origin("https://admin.example", host));
        for refused in [
            "null",
            "https://evil.example",
            "http://localhost:9464",
            "http://127.0.0.1:9465",
            "http://127.0.0.1",
            "ftp://127.0.0.1:9464",
            "",
        ] {
            assert!(!h.is_own_origin(refused, host), "{refused}");
        }
    }

    #[test]
    fn allowed_host_entries_are_host_and_port() {
        for ok in [
            "hub.internal",
            "hub.internal:9464",
            "10.0.0.5:9464",
            "[fd00::5]:9464",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            " ",
            "http://hub",
            "hub/x",
            "*.hub",
            "hub:x",
            "hub:99999",
            "a b",
        ] {
            assert!(problem(bad).is_some(), "{bad:?}");
        }
    }
}
