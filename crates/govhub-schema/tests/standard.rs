//! The conventions every file of the shipped standard follows, so that departments read
//! the same kind of document everywhere and `$ref`s stay resolvable.

use govhub_schema::{ID_BASE, Standard};
use serde_json::Value;

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

#[test]
fn the_standard_has_every_department_kind() {
    let standard = Standard::embedded().unwrap();
    let kinds: Vec<_> = standard.iter().map(|s| s.topic_suffix()).collect();
    assert_eq!(
        kinds,
        [
            "civil-affairs.assistance-case.v1",
            "civil-affairs.household-member.v1",
            "civil-affairs.marriage-registration.v1",
            "civil-affairs.resident.v1",
            "education.enrollment.v1",
            "education.enrollment.v2",
            "health.encounter.v1",
            "health.vaccination.v1",
            "urban-management.grid-case.v1",
        ]
    );
    let shared: Vec<_> = standard.definitions().map(|(id, _)| id).collect();
    for name in [
        "address",
        "contact",
        "identifiers",
        "organization",
        "person",
    ] {
        let id = format!("{ID_BASE}common/{name}.v1.json");
        assert!(shared.contains(&id.as_str()), "{id}");
    }
}

#[test]
fn every_file_is_identified_by_its_path() {
    let standard = Standard::embedded().unwrap();
    for schema in standard.iter() {
        assert_eq!(schema.id, format!("{ID_BASE}{}", schema.path));
        assert_eq!(schema.schema["$id"], Value::from(schema.id.clone()));
    }
    for (id, schema) in standard.definitions() {
        assert!(id.starts_with(&format!("{ID_BASE}common/")), "{id}");
        assert_eq!(schema["$id"].as_str(), Some(id));
    }
}

#[test]
fn every_file_follows_the_conventions() {
    let standard = Standard::embedded().unwrap();
    let files = standard
        .iter()
        .map(|s| (s.id.as_str(), &s.schema))
        .chain(standard.definitions());
    let mut problems = Vec::new();
    for (id, schema) in files {
        let mut check = Check {
            standard: &standard,
            id,
            root: schema,
            problems: &mut problems,
        };
        if schema["$schema"] != DRAFT {
            check.problem("", "$schema is not 2020-12");
        }
        for keyword in ["title", "description"] {
            if !schema[keyword].is_string() {
                check.problem("", &format!("no {keyword}"));
            }
        }
        check.walk(schema, "");
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

struct Check<'a> {
    standard: &'a Standard,
    id: &'a str,
    root: &'a Value,
    problems: &'a mut Vec<String>,
}

impl<'a> Check<'a> {
    fn problem(&mut self, at: &str, what: &str) {
        self.problems.push(format!("{}#{at}: {what}", self.id));
    }

    fn walk(&mut self, schema: &'a Value, at: &str) {
        let Some(map) = schema.as_object() else {
            return;
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            if !reference.starts_with('#') && !reference.starts_with(ID_BASE) {
                self.problem(at, "$ref to another file is not by its absolute $id");
            }
            if self.target(reference).is_none() {
                self.problem(at, "$ref does not resolve");
            }
        }
        if let Some(properties) = map.get("properties").and_then(Value::as_object) {
            if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                self.problem(at, "object without additionalProperties: false");
            }
            for (name, property) in properties {
                let here = format!("{at}/properties/{name}");
                match self.title(property) {
                    Some(title) if is_bilingual(title) => {}
                    Some(title) => {
                        self.problem(&here, &format!("title {title:?} is not 中文 (English)"))
                    }
                    None => self.problem(&here, "no title"),
                }
                self.walk(property, &here);
            }
        }
        if let Some(definitions) = map.get("$defs").and_then(Value::as_object) {
            for (name, definition) in definitions {
                let here = format!("{at}/$defs/{name}");
                if !definition["title"].as_str().is_some_and(is_bilingual) {
                    self.problem(&here, "definition without a 中文 (English) title");
                }
                self.walk(definition, &here);
            }
        }
        if let Some(items) = map.get("items") {
            self.walk(items, &format!("{at}/items"));
        }
    }

    /// A property's title: its own, or that of what it refers to.
    fn title(&self, property: &'a Value) -> Option<&'a str> {
        property["title"].as_str().or_else(|| {
            let reference = property["$ref"].as_str()?;
            self.target(reference)?["title"].as_str()
        })
    }

    fn target(&self, reference: &str) -> Option<&'a Value> {
        let (uri, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let document = if uri.is_empty() {
            self.root
        } else {
            self.standard.resource(uri)?
        };
        if fragment.is_empty() {
            Some(document)
        } else {
            document.pointer(fragment)
        }
    }
}

/// `中文名 (English name)`: Chinese first, the English in parentheses at the end.
fn is_bilingual(title: &str) -> bool {
    let starts_chinese = title.chars().next().is_some_and(|c| !c.is_ascii());
    let english = title
        .strip_suffix(')')
        .and_then(|t| t.rsplit_once(" ("))
        .is_some_and(|(_, english)| !english.is_empty() && english.is_ascii());
    starts_chinese && english
}
