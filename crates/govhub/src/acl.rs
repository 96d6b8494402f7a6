//! `govhub acl`: the Kafka ACLs a config needs, as commands of Kafka's own ACL tool
//! (`kafka-acls.sh`, class `org.apache.kafka.tools.AclCommand`), for a broker that runs
//! an authorizer with `allow.everyone.if.no.acl.found=false`.
//!
//! - govhub's principal may create, write, describe and read every topic under the
//!   topic prefix (a prefixed pattern), write idempotently (the producer's
//!   `enable.idempotence`), use its transactional id (`<prefix>hub`, with
//!   `exactly_once`) and the group its instances elect the active one in (the same
//!   name), and read with its reader group (`govhub-reader`, used by `dlq`, `tail`,
//!   the state topic's restore and the intake's read). The state topic is under the
//!   prefix: nobody else may read it. With `[cluster] spread_connectors` also the
//!   connectors' transactional ids (`<prefix>hub-intake-<connector>`), the group that
//!   shares them out (`<prefix>hub-connectors`), and Alter on its topics, to give the
//!   intake and the connectors' coordination topic a partition per connector added.
//! - Each view subscriber, as `User:<subscriber>`, may read and describe its own view
//!   topics (`<prefix>view.<subscriber>.`) and use consumer groups whose names start
//!   with its name; where another subscriber's name starts with its name too, that
//!   one's groups are denied to it.

use std::fmt::Write as _;

use crate::config::HubConfig;

/// The consumer group of govhub's own topic reader (`govhub-stream`'s `read_topic`).
pub const READER_GROUP: &str = "govhub-reader";

/// The principal `govhub acl` grants govhub's rights to by default.
pub const DEFAULT_PRINCIPAL: &str = "User:govhub";

/// Characters allowed in a principal, bootstrap servers and the command config path:
/// the lines are read back by `deploy/kafka/local.sh acl` without a shell.
fn plain(text: &str, extra: &[char]) -> bool {
    !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || extra.contains(&c)
        })
}

/// The `kafka-acls.sh` commands for `config`: govhub as `principal`, the admin's
/// client properties in `command_config`. One command per line, after `#` comments.
pub fn commands(
    config: &HubConfig,
    principal: &str,
    command_config: &str,
) -> Result<String, String> {
    let Some(kafka) = &config.kafka else {
        return Err("the config has no [kafka] table: ACLs are for a Kafka broker".into());
    };
    let servers = kafka.bootstrap_servers.trim();
    if !plain(servers, &[':', ',', '[', ']']) {
        return Err(
            "kafka.bootstrap_servers: only host:port[,host:port...] is allowed here".into(),
        );
    }
    if !(plain(principal, &[':', '@', '=']) && principal.contains(':')) {
        return Err(format!(
            "--principal {principal:?}: expected Type:name (e.g. User:govhub) of A-Z a-z 0-9 . _ - @ ="
        ));
    }
    if !plain(command_config, &['/']) {
        return Err("--command-config: a path of A-Z a-z 0-9 . _ - / only".into());
    }
    let topics = config.topics().map_err(|p| p.to_string())?;
    let prefix = topics.prefix();
    if prefix.is_empty() {
        return Err(
            "topic_prefix is empty: a prefixed ACL on it would grant every topic of the cluster"
                .into(),
        );
    }
    let tool = format!(
        "kafka-acls.sh --bootstrap-server {servers} --command-config {command_config} --add"
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Kafka ACLs for this config (topic prefix {prefix}), as commands of Kafka's ACL tool.\n\
         # Run them as a super user (--command-config: that user's client properties), e.g.\n\
         # with `deploy/kafka/local.sh acl FILE` on the local secured broker."
    );
    let _ = writeln!(
        out,
        "# govhub ({principal}): its topics, idempotent and transactional producing, its reader group."
    );
    let _ = writeln!(
        out,
        "{tool} --allow-principal {principal} --operation Create --operation Write \
         --operation Describe --operation Read --topic {prefix} --resource-pattern-type prefixed"
    );
    let _ = writeln!(
        out,
        "{tool} --allow-principal {principal} --operation IdempotentWrite --cluster"
    );
    if kafka.exactly_once {
        let _ = writeln!(
            out,
            "{tool} --allow-principal {principal} --operation Write --operation Describe \
             --transactional-id {}",
            crate::state_topic::transactional_id(&topics)
        );
        let _ = writeln!(
            out,
            "{tool} --allow-principal {principal} --operation Read --group {}",
            crate::cluster::group(&topics)
        );
        if config.cluster.spread_connectors {
            let hub = crate::state_topic::transactional_id(&topics);
            let _ = writeln!(
                out,
                "{tool} --allow-principal {principal} --operation Write --operation Describe \
                 --transactional-id {hub}-intake- --resource-pattern-type prefixed"
            );
            let _ = writeln!(
                out,
                "{tool} --allow-principal {principal} --operation Read --group {}-connectors",
                crate::cluster::group(&topics)
            );
            let _ = writeln!(
                out,
                "{tool} --allow-principal {principal} --operation Alter --topic {prefix} \
                 --resource-pattern-type prefixed"
            );
        }
    }
    let _ = writeln!(
        out,
        "{tool} --allow-principal {principal} --operation Read --group {READER_GROUP}"
    );
    for subscriber in config.views.keys() {
        let user = format!("User:{subscriber}");
        let view_prefix = topics.view(subscriber, "");
        let _ = writeln!(
            out,
            "# {subscriber}: its own views only, and its consumer groups ({subscriber}*)."
        );
        let _ = writeln!(
            out,
            "{tool} --allow-principal {user} --operation Read --operation Describe \
             --topic {view_prefix} --resource-pattern-type prefixed"
        );
        let _ = writeln!(
            out,
            "{tool} --allow-principal {user} --operation Read --group {subscriber} \
             --resource-pattern-type prefixed"
        );
        for other in config.views.keys() {
            if other != subscriber && other.starts_with(subscriber.as_str()) {
                let _ = writeln!(
                    out,
                    "{tool} --deny-principal {user} --operation Read --group {other} \
                     --resource-pattern-type prefixed"
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::EXAMPLE_CONFIG;

    fn config(views: &[&str]) -> HubConfig {
        let mut text = EXAMPLE_CONFIG.to_owned();
        for view in views {
            let _ = write!(
                text,
                "\n[views.{view}.kinds.\"health.encounter\"]\nfields = {{ \"/encounter_id\" = \"share\" }}\n"
            );
        }
        let mut config = HubConfig::parse(&text, "example").unwrap_or_else(|e| panic!("{e}"));
        config.topic_prefix = "city.".into();
        config
    }

    #[test]
    fn two_views_get_their_own_topics_and_groups_only() {
        let text = commands(
            &config(&["urban", "urban_app"]),
            DEFAULT_PRINCIPAL,
            "admin.properties",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let tool = "kafka-acls.sh --bootstrap-server 127.0.0.1:9092 --command-config admin.properties --add";
        let expected = [
            "--allow-principal User:govhub --operation Create --operation Write --operation Describe --operation Read --topic city. --resource-pattern-type prefixed",
            "--allow-principal User:govhub --operation IdempotentWrite --cluster",
            "--allow-principal User:govhub --operation Write --operation Describe --transactional-id city.hub",
            "--allow-principal User:govhub --operation Read --group city.hub",
            "--allow-principal User:govhub --operation Read --group govhub-reader",
            "--allow-principal User:urban --operation Read --operation Describe --topic city.view.urban. --resource-pattern-type prefixed",
            "--allow-principal User:urban --operation Read --group urban --resource-pattern-type prefixed",
            "--deny-principal User:urban --operation Read --group urban_app --resource-pattern-type prefixed",
            "--allow-principal User:urban_app --operation Read --operation Describe --topic city.view.urban_app. --resource-pattern-type prefixed",
            "--allow-principal User:urban_app --operation Read --group urban_app --resource-pattern-type prefixed",
        ];
        let expected: Vec<String> = expected.iter().map(|e| format!("{tool} {e}")).collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn spread_connectors_get_their_transactional_ids_group_and_partitions() {
        let mut c = config(&[]);
        c.cluster.spread_connectors = true;
        let text =
            commands(&c, DEFAULT_PRINCIPAL, "admin.properties").unwrap_or_else(|e| panic!("{e}"));
        for line in [
            "--allow-principal User:govhub --operation Write --operation Describe --transactional-id city.hub-intake- --resource-pattern-type prefixed",
            "--allow-principal User:govhub --operation Read --group city.hub-connectors",
            "--allow-principal User:govhub --operation Alter --topic city. --resource-pattern-type prefixed",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(
            !commands(&config(&[]), DEFAULT_PRINCIPAL, "admin.properties")
                .unwrap_or_default()
                .contains("intake")
        );
    }

    #[test]
    fn refuses_what_it_cannot_express_safely() {
        let mut c = config(&[]);
        assert!(commands(&c, "User:govhub; rm -rf /", "admin.properties").is_err());
        assert!(commands(&c, "govhub", "admin.properties").is_err());
        assert!(commands(&c, DEFAULT_PRINCIPAL, "$(x)").is_err());
        c.topic_prefix = String::new();
        assert!(commands(&c, DEFAULT_PRINCIPAL, "admin.properties").is_err());
        c.kafka = None;
        assert!(commands(&c, DEFAULT_PRINCIPAL, "admin.properties").is_err());
    }
}
