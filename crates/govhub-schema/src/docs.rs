//! The standard as Markdown, for the departments and people who agree on it.
//!
//! Every record kind gets a table of its fields with `$ref`s into the shared definitions
//! resolved, so a reader sees `patient.identifiers.resident_id` where the schema only says
//! `"$ref": ".../person.v1.json"`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::formats;
use crate::standard::{KindSchema, Standard};
use crate::uri::join;

/// Deepest field nesting rendered; guards against a schema that refers to itself.
const MAX_DEPTH: usize = 12;
/// Longest `$ref` chain followed from one field.
const MAX_REFS: usize = 16;

/// The whole standard as one Markdown document: every record kind with its field table,
/// the shared definitions, and the custom formats.
pub fn markdown(standard: &Standard) -> String {
    let resolver = Resolver { standard };
    let mut out = String::new();
    out.push_str("# 统一标准 (govhub unified standard)\n\n");
    out.push_str(
        "Generated from the JSON Schemas under `schemas/`; edit those, not this file. \
         A field's path joins object fields with `.` and marks array items with `[]`. \
         *Required* means the field must be present whenever its parent is.\n\n",
    );
    out.push_str("## 记录类型 (record kinds)\n\n");
    for schema in standard.iter() {
        let _ = writeln!(
            out,
            "- `{}` v{}: {}",
            schema.kind,
            schema.version,
            cell(&title_of(&schema.schema))
        );
    }
    out.push('\n');
    for schema in standard.iter() {
        kind_section(&resolver, schema, &mut out);
    }
    out.push_str("## 共享定义 (shared definitions)\n\n");
    out.push_str(
        "Fields that the record kinds share through `$ref`; they are already listed inline \
         above.\n\n",
    );
    for (id, schema) in standard.definitions() {
        let _ = writeln!(out, "### {}\n", title_of(schema));
        let _ = writeln!(out, "- `$id`: `{id}`\n");
        push_description(schema, &mut out);
        table(&resolver, schema, id, &mut out);
    }
    formats_section(&mut out);
    out
}

fn kind_section(resolver: &Resolver<'_>, schema: &KindSchema, out: &mut String) {
    let _ = writeln!(
        out,
        "## {} v{} — {}\n",
        schema.kind,
        schema.version,
        title_of(&schema.schema)
    );
    let _ = writeln!(out, "- `$id`: `{}`", schema.id);
    let _ = writeln!(out, "- file: `schemas/{}`", schema.path);
    let _ = writeln!(out, "- topic: `<prefix>{}`", schema.topic_suffix());
    match &schema.person {
        Some(location) => {
            let _ = writeln!(
                out,
                "- about a person: `{}` (`x-govhub-person`), resolved to a unified person id\n",
                location.person
            );
        }
        None => out.push_str("- not about one person: keyed by its source record id\n\n"),
    }
    push_description(&schema.schema, out);
    table(resolver, &schema.schema, &schema.id, out);
}

fn formats_section(out: &mut String) {
    out.push_str("## 自定义格式 (custom formats)\n\n");
    out.push_str(
        "Checked with their real algorithms wherever a field says `format`; a value that \
         fails is rejected with keyword `format`.\n\n",
    );
    out.push_str("| format | checks |\n|---|---|\n");
    for (name, about) in formats::ABOUT {
        let _ = writeln!(out, "| `{name}` | {} |", cell(about));
    }
    out.push_str(
        "\nStandard formats used: `date` (RFC 3339 full-date, a real calendar date: \
         `2012-02-30` is rejected), `date-time` (RFC 3339 with a UTC offset, e.g. \
         `2026-05-01T09:15:00+08:00`), `email`.\n",
    );
}

fn push_description(schema: &Value, out: &mut String) {
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{description}\n");
    }
}

fn title_of(schema: &Value) -> String {
    schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("(untitled)")
        .to_owned()
}

fn table(resolver: &Resolver<'_>, schema: &Value, id: &str, out: &mut String) {
    out.push_str(
        "| 字段 (field) | 名称 (name) | 类型 (type) | 约束 (constraints) | 必填 (required) | 说明 (description) |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    let node = resolver.resolve(schema, id);
    resolver.children(&node, "", 0, &mut rows);
    for row in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            row.path,
            cell(&row.title),
            cell(&row.kind),
            cell(&row.constraints),
            if row.required { "yes" } else { "no" },
            cell(&row.description),
        );
    }
    out.push('\n');
}

/// Text made safe for one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// One row of a field table.
struct Row {
    path: String,
    title: String,
    kind: String,
    constraints: String,
    required: bool,
    description: String,
}

/// A schema node with its `$ref` chain followed: the node itself first, then what it
/// refers to, each with the base URI its own `$ref`s resolve against. A keyword is read
/// from the first layer that has it, so a field's own `title` wins over its target's.
struct Node<'a> {
    layers: Vec<(&'a Map<String, Value>, String)>,
    /// Layers that are whole files: their description is about the file, not the field.
    documents: Vec<bool>,
}

impl<'a> Node<'a> {
    fn get(&self, keyword: &str) -> Option<&'a Value> {
        self.layers.iter().find_map(|(map, _)| map.get(keyword))
    }

    fn str(&self, keyword: &str) -> Option<&'a str> {
        self.get(keyword).and_then(Value::as_str)
    }

    fn description(&self) -> Option<&'a str> {
        self.layers
            .iter()
            .zip(&self.documents)
            .filter(|(_, document)| !**document)
            .find_map(|((map, _), _)| map.get("description")?.as_str())
    }

    /// Every `required` of every layer: they all apply.
    fn required(&self) -> BTreeSet<&'a str> {
        self.layers
            .iter()
            .filter_map(|(map, _)| map.get("required")?.as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// Properties of all layers, each with the base URI of the layer that declares it;
    /// required ones first in the order the schemas list them, then the rest by name
    /// (the parsed schema does not keep its authors' order).
    fn properties(&self) -> Vec<(&'a str, &'a Value, &str)> {
        let mut all: Vec<(&'a str, &'a Value, &str)> = Vec::new();
        for (map, base) in &self.layers {
            let Some(properties) = map.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (name, schema) in properties {
                if !all.iter().any(|(n, _, _)| n == name) {
                    all.push((name.as_str(), schema, base.as_str()));
                }
            }
        }
        // The definition's order first: its fields come before those a use adds.
        let order: Vec<&str> = self
            .layers
            .iter()
            .rev()
            .filter_map(|(map, _)| map.get("required")?.as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        all.sort_by_key(|(name, _, _)| {
            (
                order.iter().position(|r| r == name).unwrap_or(usize::MAX),
                *name,
            )
        });
        all
    }

    fn items(&self) -> Option<(&'a Value, &str)> {
        self.layers
            .iter()
            .find_map(|(map, base)| Some((map.get("items")?, base.as_str())))
    }

    fn type_name(&self) -> String {
        match self.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            _ => match self.get("enum").or_else(|| self.get("const")) {
                Some(Value::Array(values)) if values.iter().all(Value::is_string) => {
                    "string".into()
                }
                Some(Value::String(_)) => "string".into(),
                _ => "any".into(),
            },
        }
    }

    fn constraints(&self) -> String {
        let mut parts = Vec::new();
        if let Some(format) = self.str("format") {
            parts.push(format!("format `{format}`"));
        }
        if let Some(Value::Array(values)) = self.get("enum") {
            let values: Vec<String> = values.iter().map(|v| format!("`{}`", plain(v))).collect();
            parts.push(format!("one of {}", values.join(", ")));
        }
        if let Some(value) = self.get("const") {
            parts.push(format!("exactly `{}`", plain(value)));
        }
        if let Some(pattern) = self.str("pattern") {
            parts.push(format!("pattern `{pattern}`"));
        }
        if let Some(range) = range(self.get("minLength"), self.get("maxLength")) {
            parts.push(format!("length {range}"));
        }
        if let Some(range) = range(self.get("minimum"), self.get("maximum")) {
            parts.push(range);
        }
        if let Some(min) = self.get("exclusiveMinimum") {
            parts.push(format!("> {min}"));
        }
        if let Some(max) = self.get("exclusiveMaximum") {
            parts.push(format!("< {max}"));
        }
        if let Some(range) = range(self.get("minItems"), self.get("maxItems")) {
            parts.push(format!("items {range}"));
        }
        if self.get("uniqueItems") == Some(&Value::Bool(true)) {
            parts.push("no duplicates".into());
        }
        if let Some(min) = self.get("minProperties") {
            parts.push(format!("at least {min} field(s)"));
        }
        parts.join("; ")
    }
}

/// `1–12`, `≥ 0`, `≤ 64`, or `None` without either bound.
fn range(min: Option<&Value>, max: Option<&Value>) -> Option<String> {
    match (min, max) {
        (Some(min), Some(max)) => Some(format!("{min}–{max}")),
        (Some(min), None) => Some(format!("≥ {min}")),
        (None, Some(max)) => Some(format!("≤ {max}")),
        (None, None) => None,
    }
}

/// A JSON value as a reader would write it: strings without quotes.
fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Follows `$ref`s through the files of the standard.
struct Resolver<'a> {
    standard: &'a Standard,
}

impl<'a> Resolver<'a> {
    /// `schema` with its `$ref` chain followed; `base` is the URI its `$ref`s are relative
    /// to (its file's `$id`).
    fn resolve(&self, schema: &'a Value, base: &str) -> Node<'a> {
        let mut layers = Vec::new();
        let mut documents = Vec::new();
        let mut next = Some((schema, base.to_owned(), false));
        while let Some((value, base, document)) = next.take() {
            let Some(map) = value.as_object() else { break };
            let base = match map.get("$id").and_then(Value::as_str) {
                Some(id) => join(&base, id),
                None => base,
            };
            next = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|reference| self.lookup(&base, reference));
            layers.push((map, base));
            documents.push(document);
            if layers.len() >= MAX_REFS {
                break;
            }
        }
        Node { layers, documents }
    }

    /// The schema `reference` points at from `base`, the URI of the file holding it, and
    /// whether it is that whole file.
    fn lookup(&self, base: &str, reference: &str) -> Option<(&'a Value, String, bool)> {
        let absolute = join(base, reference);
        let (uri, fragment) = absolute.split_once('#').unwrap_or((&absolute, ""));
        let document = self.standard.resource(uri)?;
        let target = if fragment.is_empty() {
            document
        } else {
            document.pointer(fragment)?
        };
        Some((target, uri.to_owned(), fragment.is_empty()))
    }

    /// Rows for the fields under `node` (its properties and array items), recursively.
    fn children(&self, node: &Node<'a>, prefix: &str, depth: usize, rows: &mut Vec<Row>) {
        if depth >= MAX_DEPTH {
            return;
        }
        let required = node.required();
        for (name, schema, base) in node.properties() {
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            };
            let child = self.resolve(schema, base);
            self.row(&child, path, required.contains(name), depth, rows);
        }
        if let Some((items, base)) = node.items() {
            let item = self.resolve(items, base);
            // Arrays of scalars are described by the array's own row.
            if item.get("properties").is_some() || item.items().is_some() {
                self.children(&item, &format!("{prefix}[]"), depth + 1, rows);
            }
        }
    }

    fn row(
        &self,
        node: &Node<'a>,
        path: String,
        required: bool,
        depth: usize,
        rows: &mut Vec<Row>,
    ) {
        let mut kind = node.type_name();
        let mut constraints = node.constraints();
        if let Some((items, base)) = node.items() {
            let item = self.resolve(items, base);
            kind = format!("array of {}", item.type_name());
            let of_items = item.constraints();
            if !of_items.is_empty() {
                constraints = [constraints, format!("each: {of_items}")]
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
            }
        }
        rows.push(Row {
            path: path.clone(),
            title: node.str("title").unwrap_or_default().to_owned(),
            kind,
            constraints,
            required,
            description: node.description().unwrap_or_default().to_owned(),
        });
        self.children(node, &path, depth + 1, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_references_like_a_browser() {
        let base = "https://govhub.invalid/schemas/health/encounter.v1.json";
        assert_eq!(
            join(base, "#/$defs/x"),
            "https://govhub.invalid/schemas/health/encounter.v1.json#/$defs/x"
        );
        assert_eq!(
            join(base, "../common/person.v1.json#/$defs/name"),
            "https://govhub.invalid/schemas/common/person.v1.json#/$defs/name"
        );
        assert_eq!(
            join(base, "vaccination.v1.json"),
            "https://govhub.invalid/schemas/health/vaccination.v1.json"
        );
        assert_eq!(
            join(base, "./a/../b.json"),
            "https://govhub.invalid/schemas/health/b.json"
        );
        assert_eq!(join(base, "/x.json"), "https://govhub.invalid/x.json");
        assert_eq!(
            join(base, "https://example.invalid/y.json"),
            "https://example.invalid/y.json"
        );
    }

    #[test]
    fn every_kind_has_a_table_with_refs_resolved() {
        let standard = Standard::embedded().unwrap();
        let doc = markdown(&standard);
        let tables = doc.matches("| 字段 (field) |").count();
        let kinds = standard.iter().count();
        let shared = standard.definitions().count();
        assert!(kinds >= 7, "{kinds}");
        assert_eq!(tables, kinds + shared);
        for schema in standard.iter() {
            let heading = format!("## {} v{} — ", schema.kind, schema.version);
            assert!(doc.contains(&heading), "{heading}");
            assert!(doc.contains(&schema.id), "{}", schema.id);
        }
        assert!(doc.contains("公民身份号码"));
        assert!(doc.contains(
            "| `student.resident_id` | 公民身份号码 (resident ID number) | string | format `cn-resident-id` | no |"
        ));
        // Reached through person.v1.json and identifiers.v1.json.
        assert!(doc.contains("| `patient.identifiers.resident_id` | 公民身份号码"));
        assert!(doc.contains("| `facility.uscc` | 统一社会信用代码"));
        assert!(doc.contains("| `location.address.coordinates.latitude` | 纬度"));
        assert!(doc.contains("| `applicant.identifiers.others[].type` | 证件类型"));
        // A field's own title wins over its definition's.
        assert!(doc.contains(
            "| `guardian.name` | 监护人姓名 (guardian name) | string | length 1–64 | yes |"
        ));
        assert!(doc.contains("| `grade` | 年级 (grade) | integer | 1–12 | yes |"));
        assert!(
            doc.contains("| `diagnosis_codes` | 诊断编码 (diagnosis codes) | array of string |")
        );
        // Required added next to a $ref applies.
        assert!(doc.contains(
            "| `patient.birth_date` | 出生日期 (date of birth) | string | format `date` | yes |"
        ));
        for (name, _) in formats::ABOUT {
            assert!(doc.contains(&format!("| `{name}` |")), "{name}");
        }
        assert!(!doc.contains("(untitled)"));
        // Every row has the six cells of its header, so no stray `|` broke a table.
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells == 7 || cells == 3, "{line}");
        }
    }
}
