//! Validation of the views against the standard: every problem, with its config path.

use std::collections::BTreeMap;

use govhub_connect::secret::LITERAL_SECRET_WARNING;
use govhub_schema::Standard;
use govhub_stream::{MAX_TOPIC_LEN, Topics};

use super::config::{Action, ViewConfig};
use super::fields::{inlined, locate};

/// Whether `name` can be a subscriber's name: a-z 0-9 _ -, which keeps its topic name
/// valid for Kafka.
pub fn is_subscriber_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The config path of a kind of a view: `views.urban_app.kinds["health.encounter"]`.
pub fn kind_path(subscriber: &str, kind: &str) -> String {
    format!("views.{subscriber}.kinds[{kind:?}]")
}

/// Every problem of `views` against `standard`, their topics named under `topics`, as
/// `(config path, message)`.
pub fn problems(
    views: &BTreeMap<String, ViewConfig>,
    standard: &Standard,
    topics: &Topics,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (name, view) in views {
        let at = format!("views.{name}");
        if !is_subscriber_name(name) {
            problems.push((at.clone(), "subscriber names use only a-z 0-9 _ -".into()));
        }
        if view.kinds.is_empty() {
            problems.push((
                format!("{at}.kinds"),
                "name at least one record kind".into(),
            ));
        }
        if let Some(message) = view.hash_key.as_ref().and_then(|k| k.problem()) {
            problems.push((format!("{at}.hash_key"), message));
        }
        let hashes = view
            .kinds
            .values()
            .any(|k| k.fields.values().any(|a| *a == Action::Hash));
        if hashes && view.hash_key.is_none() {
            problems.push((
                format!("{at}.hash_key"),
                "required: this view hashes fields (set it to ${ENV_VAR})".into(),
            ));
        }
        for (kind, kind_view) in &view.kinds {
            let kind_at = kind_path(name, kind);
            let Some(schema) = standard.latest(kind) else {
                let mut known: Vec<String> = standard.iter().map(|k| k.kind.clone()).collect();
                known.dedup();
                problems.push((
                    kind_at,
                    format!(
                        "no schema for kind {kind:?} in the standard (known: {})",
                        known.join(", ")
                    ),
                ));
                continue;
            };
            let topic = topics.view(name, &schema.topic_suffix());
            if topic.len() > MAX_TOPIC_LEN {
                problems.push((
                    kind_at.clone(),
                    format!(
                        "its topic would be {} characters, over Kafka's {MAX_TOPIC_LEN}: \
                         shorten the subscriber name or the topic prefix",
                        topic.len()
                    ),
                ));
            }
            let schema = match inlined(standard, schema) {
                Ok(schema) => schema,
                Err(e) => {
                    problems.push((kind_at, e));
                    continue;
                }
            };
            for pointer in kind_view.fields.keys() {
                if let Err(message) = locate(&schema, pointer) {
                    problems.push((format!("{kind_at}.fields[{pointer:?}]"), message));
                }
            }
        }
    }
    problems
}

/// Things that work but should change: a hash key written into the config file.
pub fn warnings(views: &BTreeMap<String, ViewConfig>) -> Vec<(String, String)> {
    views
        .iter()
        .filter(|(_, v)| v.hash_key.as_ref().is_some_and(|k| k.is_literal()))
        .map(|(name, _)| {
            (
                format!("views.{name}.hash_key"),
                LITERAL_SECRET_WARNING.to_owned(),
            )
        })
        .collect()
}

/// The hash keys `env` cannot give (unset or empty), with their paths.
pub fn unresolved_secrets(
    views: &BTreeMap<String, ViewConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    views
        .iter()
        .filter_map(|(name, v)| {
            let key = v.hash_key.as_ref()?;
            let e = key.resolve(env).err()?;
            Some((format!("views.{name}.hash_key"), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn views(text: &str) -> BTreeMap<String, ViewConfig> {
        #[derive(serde::Deserialize)]
        struct Doc {
            views: BTreeMap<String, ViewConfig>,
        }
        toml::from_str::<Doc>(text).unwrap().views
    }

    const GOOD: &str = r#"
[views.urban_app]
hash_key = "${GOVHUB_VIEW_URBAN_APP_KEY}"
[views.urban_app.kinds."health.encounter"]
default = "drop"
fields = { "/patient/name" = "mask", "/patient/identifiers/resident_id" = "hash", "/encounter_id" = "share", "/diagnosis_codes" = "drop" }
"#;

    #[test]
    fn a_view_of_existing_fields_is_valid() {
        let standard = Standard::embedded().unwrap();
        let views = views(GOOD);
        assert_eq!(problems(&views, &standard, &Topics::default()), vec![]);
        assert_eq!(warnings(&views), vec![]);
        let env = |var: &str| (var == "GOVHUB_VIEW_URBAN_APP_KEY").then(|| "k".to_owned());
        assert_eq!(unresolved_secrets(&views, &env), vec![]);
        assert_eq!(
            unresolved_secrets(&views, &|_| None),
            vec![(
                "views.urban_app.hash_key".to_owned(),
                "environment variable GOVHUB_VIEW_URBAN_APP_KEY is not set".to_owned()
            )]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_config_path() {
        let standard = Standard::embedded().unwrap();
        let text = r#"
[views."Urban App"]
[views."Urban App".kinds."health.encounter"]
fields = { "/patient/nmae" = "mask", "/patient/identifiers/resident_id" = "hash", "/diagnosis_codes/-" = "mask" }
[views."Urban App".kinds."health.nothing"]
[views.empty]
hash_key = "literal-key"
"#;
        let views = views(text);
        let found: Vec<String> = problems(&views, &standard, &Topics::default())
            .into_iter()
            .map(|(path, message)| format!("{path}: {message}"))
            .collect();
        assert_eq!(found.len(), 6, "{found:#?}");
        assert_eq!(
            found[0],
            "views.Urban App: subscriber names use only a-z 0-9 _ -"
        );
        assert_eq!(
            found[1],
            "views.Urban App.hash_key: required: this view hashes fields (set it to ${ENV_VAR})"
        );
        assert_eq!(
            found[2],
            r#"views.Urban App.kinds["health.encounter"].fields["/diagnosis_codes/-"]: /diagnosis_codes is an array: a view acts on an array as a whole (fields of its items cannot be chosen)"#
        );
        assert_eq!(
            found[3],
            r#"views.Urban App.kinds["health.encounter"].fields["/patient/nmae"]: the kind's schema has no such field"#
        );
        assert!(
            found[4].starts_with(r#"views.Urban App.kinds["health.nothing"]: no schema for kind"#),
            "{}",
            found[4]
        );
        assert_eq!(found[5], "views.empty.kinds: name at least one record kind");
        assert_eq!(
            warnings(&views),
            vec![(
                "views.empty.hash_key".to_owned(),
                LITERAL_SECRET_WARNING.to_owned()
            )]
        );
    }

    #[test]
    fn a_view_topic_too_long_for_kafka_is_a_problem() {
        let standard = Standard::embedded().unwrap();
        let name = "a".repeat(100);
        let views = views(&GOOD.replace("urban_app", &name));
        let prefix = Topics::new(&"p".repeat(150)).unwrap();
        let found = problems(&views, &standard, &prefix);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, kind_path(&name, "health.encounter"));
        assert!(found[0].1.contains("over Kafka's 249"), "{}", found[0].1);
        assert_eq!(problems(&views, &standard, &Topics::default()), vec![]);
    }

    #[test]
    fn unknown_actions_and_keys_do_not_parse() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            views: BTreeMap<String, ViewConfig>,
        }
        let bad_action = GOOD.replace("\"mask\"", "\"blur\"");
        assert!(toml::from_str::<Doc>(&bad_action).is_err());
        let bad_key = GOOD.replace("default = ", "defualt = ");
        assert!(toml::from_str::<Doc>(&bad_key).is_err());
    }
}
