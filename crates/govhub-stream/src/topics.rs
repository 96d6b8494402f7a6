/// Topic names under one configurable prefix (default `govhub.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

/// The prefix used when the config sets none.
pub const DEFAULT_PREFIX: &str = "govhub.";

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_LEN: usize = 249;

impl Default for Topics {
    fn default() -> Self {
        Topics {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Topics {
    /// Topics under `prefix`, which must use only Kafka's topic characters
    /// (`a-z A-Z 0-9 . _ -`).
    pub fn new(prefix: &str) -> Result<Self, String> {
        if let Some(bad) = prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "topic prefix contains {bad:?}; Kafka topic names allow only a-z A-Z 0-9 . _ -"
            ));
        }
        if prefix.len() > MAX_TOPIC_LEN - 40 {
            return Err(format!(
                "topic prefix is {} characters; keep it under {}",
                prefix.len(),
                MAX_TOPIC_LEN - 40
            ));
        }
        Ok(Topics {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic of a record kind and version, e.g. `govhub.education.enrollment.v2`.
    pub fn kind(&self, kind_and_version: &str) -> String {
        format!("{}{kind_and_version}", self.prefix)
    }

    /// The dead-letter topic, `govhub.dlq.v1`.
    pub fn dlq(&self) -> String {
        format!("{}dlq.v1", self.prefix)
    }

    /// Golden records, one per resident, keyed by person id: `govhub.person.v1`
    /// (compacted).
    pub fn person(&self) -> String {
        format!("{}person.v1", self.prefix)
    }

    /// Identity decisions (link, merge, split): `govhub.identity.v1`.
    pub fn identity(&self) -> String {
        format!("{}identity.v1", self.prefix)
    }

    /// The hub's state (cursors, fingerprints, identity decisions) with exactly-once:
    /// `govhub.state.v1` (compacted, one partition; govhub's own, not for subscribers).
    pub fn state(&self) -> String {
        format!("{}state.v1", self.prefix)
    }

    /// Where the instances of one hub elect the active one (no records; one
    /// partition): `govhub.cluster.v1`.
    pub fn cluster(&self) -> String {
        format!("{}cluster.v1", self.prefix)
    }

    /// Where the instances of one hub share out its connectors when they are spread
    /// (no records; one partition per connector, in the order of their names):
    /// `govhub.connectors.v1`.
    pub fn connectors(&self) -> String {
        format!("{}connectors.v1", self.prefix)
    }

    /// The pages connectors pulled on any instance, for the active one to resolve and
    /// publish, when connectors are spread (one partition per connector, keyed by the
    /// connector, compacted once a week old; govhub's own, not for subscribers):
    /// `govhub.intake.v1`.
    pub fn intake(&self) -> String {
        format!("{}intake.v1", self.prefix)
    }

    /// A subscriber's view of a record kind and version, e.g.
    /// `govhub.view.urban_app.health.encounter.v1`.
    pub fn view(&self, subscriber: &str, kind_and_version: &str) -> String {
        format!("{}view.{subscriber}.{kind_and_version}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let t = Topics::default();
        assert_eq!(
            t.kind("education.enrollment.v1"),
            "govhub.education.enrollment.v1"
        );
        assert_eq!(t.dlq(), "govhub.dlq.v1");
        assert_eq!(
            t.view("urban_app", "health.encounter.v1"),
            "govhub.view.urban_app.health.encounter.v1"
        );
        assert_eq!(Topics::new("t-1_x.").unwrap().dlq(), "t-1_x.dlq.v1");
        assert!(Topics::new("bad/prefix").is_err());
        assert!(Topics::new(&"x".repeat(230)).is_err());
    }
}
