//! The views of a config ready to run: hash keys resolved, mask rules chosen from the
//! standard, and the view events of a record rendered from its source event.

use std::collections::BTreeMap;
use std::sync::Arc;

use govhub_connect::Secret;
use govhub_core::OutEvent;
use govhub_schema::Standard;
use govhub_stream::Topics;
use serde_json::Value;

use super::check::{is_subscriber_name, problems, unresolved_secrets};
use super::config::{DefaultAction, ViewConfig};
use super::fields::{inlined, locate, segments};
use super::log::{Sent, SharingLog};
use super::transform::{Rule, apply};

/// One subscriber's view of one kind.
#[derive(Debug, Clone)]
struct Plan {
    subscriber: String,
    kind: String,
    topic: String,
    default: DefaultAction,
    rules: Vec<Rule>,
    key: Option<Secret>,
}

/// Every view of a config, by the `<kind>.v<N>` it applies to.
#[derive(Debug, Default)]
pub struct Views {
    by_kind_version: BTreeMap<String, Vec<Plan>>,
    log: Arc<SharingLog>,
}

/// A record as one view sees it, not yet an event.
#[derive(Debug)]
pub struct Rendered {
    topic: String,
    data: Value,
    sent: Sent,
}

impl Views {
    /// Builds the views of `config` against `standard` (the latest version of each
    /// kind, as connectors publish), reading hash keys through `env`; every problem with
    /// its config path when they cannot be built.
    pub fn build(
        config: &BTreeMap<String, ViewConfig>,
        standard: &Standard,
        topics: &Topics,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Views, Vec<(String, String)>> {
        let mut found = problems(config, standard, topics);
        found.extend(unresolved_secrets(config, env));
        if !found.is_empty() {
            return Err(found);
        }
        let mut views = Views::default();
        for (subscriber, view) in config {
            debug_assert!(is_subscriber_name(subscriber));
            let key = view.hash_key.as_ref().and_then(|k| k.resolve(env).ok());
            for (kind, kind_view) in &view.kinds {
                let Some(schema) = standard.latest(kind) else {
                    continue;
                };
                let inlined = inlined(standard, schema).map_err(|e| vec![(kind.clone(), e)])?;
                let mut rules = Vec::new();
                for (pointer, action) in &kind_view.fields {
                    let field =
                        locate(&inlined, pointer).map_err(|e| vec![(pointer.clone(), e)])?;
                    rules.push(Rule {
                        pointer: pointer.clone(),
                        segments: segments(pointer).unwrap_or_default(),
                        action: *action,
                        mask: field.mask_rule(),
                    });
                }
                // A field before the fields under it: the longer pointer wins.
                rules.sort_by(|a, b| a.segments.cmp(&b.segments));
                let kind_version = schema.topic_suffix();
                views
                    .by_kind_version
                    .entry(kind_version.clone())
                    .or_default()
                    .push(Plan {
                        subscriber: subscriber.clone(),
                        kind: kind.clone(),
                        topic: topics.view(subscriber, &kind_version),
                        default: kind_view.default,
                        rules,
                        key: key.clone(),
                    });
            }
        }
        Ok(views)
    }

    /// Every view topic, to create with the others.
    pub fn topics(&self) -> Vec<String> {
        self.by_kind_version
            .values()
            .flatten()
            .map(|p| p.topic.clone())
            .collect()
    }

    /// What was sent through the views, as committed.
    pub fn log(&self) -> Arc<SharingLog> {
        self.log.clone()
    }

    /// `data`, an accepted record of `kind_version`, as each view of that kind sees it.
    pub fn render(&self, kind_version: &str, data: &Value) -> Vec<Rendered> {
        let Some(plans) = self.by_kind_version.get(kind_version) else {
            return Vec::new();
        };
        plans
            .iter()
            .map(|plan| {
                let key = plan.key.as_ref().map_or(&[][..], |k| k.expose().as_bytes());
                let (data, fields) = apply(data, plan.default, &plan.rules, key);
                Rendered {
                    topic: plan.topic.clone(),
                    data,
                    sent: Sent {
                        subscriber: plan.subscriber.clone(),
                        kind: plan.kind.clone(),
                        default: plan.default,
                        fields,
                    },
                }
            })
            .collect()
    }
}

impl Rendered {
    /// The view's event: `source`'s id, key, type, time, source, subject and extensions,
    /// on the view's topic, with the view's data and without `dataschema` (the view's
    /// data does not follow the kind's schema); and what the view did, for the sharing
    /// log.
    pub fn into_event(self, source: &OutEvent) -> (OutEvent, Sent) {
        (view_event(source, self.topic, &self.data), self.sent)
    }
}

/// The event of a view on `topic` with `data`, from its `source` event: the same id,
/// key, type, time, source, subject and extensions, no `dataschema`.
pub fn view_event(source: &OutEvent, topic: String, data: &Value) -> OutEvent {
    let mut headers = source.headers.clone();
    headers.retain(|h| h.name != "ce_dataschema");
    OutEvent {
        topic,
        key: source.key.clone(),
        headers,
        value: serde_json::to_vec(data).unwrap_or_default(),
    }
}
