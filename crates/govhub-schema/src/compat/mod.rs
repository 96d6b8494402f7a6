//! Backward-compatibility check between two versions of a record kind's schema.
//!
//! A new version must accept every record the old one accepted, or producers and stored
//! data break. [`check`] compares the two schemas structurally and reports every change
//! it cannot prove safe, each with a JSON pointer into the new schema and a reason;
//! [`check_standard`] runs it over every pair of consecutive versions of the standard.
//!
//! The check is conservative: where containment cannot be decided without evaluating
//! arbitrary schemas (two different regular expressions, `not`, `if`/`then`/`else`), the
//! change is reported. A report is therefore "could break someone", never a false
//! "safe".
//!
//! Paths follow the new schema the way a validator walks it: a `$ref` that is followed
//! appears as a `/$ref` segment (like JSON Schema's `keywordLocation`), so an issue inside
//! a shared definition is still located relative to the record kind's schema.

// The walk lives here: each subschema of the new schema is expanded into the fragments
// it stands for (`$ref`, `allOf`, see `refs`), the old side is summarised (`summary`),
// and every new fragment is checked keyword by keyword (`types`, `limits`, `objects`,
// `arrays`, `combinators`, `opaque`), recursing through `Checker::compare`.
mod arrays;
mod combinators;
mod limits;
mod objects;
mod opaque;
mod refs;
mod summary;
mod types;

#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

use refs::{Doc, escape};
use summary::Summary;
use types::{ARRAY, NUMBER, OBJECT, STRING};

/// One backward-incompatible change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incompatibility {
    /// JSON pointer into the new schema, `$ref`s shown as `/$ref` segments.
    pub path: String,
    /// Why records valid under the old schema could be rejected by the new one.
    pub why: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.why)
    }
}

/// Every change in `new` that could reject a value `old` accepted; empty when compatible.
///
/// `resolve` returns the schema document for an absolute URI without fragment; the
/// fragment of a `$ref` (a JSON pointer or a `$anchor` name) is applied here. A `$ref`
/// in the new schema that cannot be resolved is reported, since nothing can be proven
/// about it.
pub fn check(
    old: &Value,
    new: &Value,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> Vec<Incompatibility> {
    let mut checker = Checker {
        resolve,
        docs: Vec::new(),
        by_uri: HashMap::new(),
        in_progress: HashSet::new(),
        depth: 0,
    };
    let old = checker.add_doc(old.clone(), "");
    let new = checker.add_doc(new.clone(), "");
    let mut found = Vec::new();
    checker.compare(&[old], &new, &mut found);
    // One defect in a shared or recursive definition is met along every route to it
    // (each use of a `$ref`, every turn of a cycle); it is reported once, at the shortest
    // route, since it is fixed in one place.
    let mut first: HashMap<(Location, String), usize> = HashMap::new();
    let mut out: Vec<Incompatibility> = Vec::new();
    for Found { location, issue } in found {
        match first.entry((location, issue.why.clone())) {
            Entry::Occupied(at) => {
                let kept = &mut out[*at.get()];
                if issue.path.len() < kept.path.len() {
                    kept.path = issue.path;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(issue);
            }
        }
    }
    out
}

/// Every kind whose consecutive versions are not backward compatible: (older path, newer
/// path, problems), e.g. ("education/enrollment.v1.json", "education/enrollment.v2.json",
/// [...]).
pub fn check_standard(standard: &crate::Standard) -> Vec<(String, String, Vec<Incompatibility>)> {
    let resolve = |uri: &str| standard.resource(uri).cloned();
    // The standard gives a file without `$id` its path's URI as base; the check must
    // resolve that file's relative `$ref`s the same way the validator does.
    let with_id = |kind: &crate::KindSchema| {
        let mut schema = kind.schema.clone();
        if let Value::Object(map) = &mut schema {
            map.entry("$id").or_insert_with(|| kind.id.clone().into());
        }
        schema
    };
    // `iter` yields kinds in order and each kind's versions oldest first, so consecutive
    // versions of a kind are neighbours.
    let schemas: Vec<_> = standard.iter().collect();
    schemas
        .windows(2)
        .filter(|pair| pair[0].kind == pair[1].kind)
        .filter_map(|pair| {
            let (older, newer) = (pair[0], pair[1]);
            let problems = check(&with_id(older), &with_id(newer), &resolve);
            (!problems.is_empty()).then(|| (older.path.clone(), newer.path.clone(), problems))
        })
        .collect()
}

/// Deeper than any real record schema; beyond it the check gives up rather than risk
/// the stack on a pathological input.
const MAX_DEPTH: usize = 128;

/// A subschema's place: document index and JSON pointer within it.
type Location = (usize, String);

/// An incompatibility with the place in the new schema's documents it was found at.
struct Found {
    location: Location,
    issue: Incompatibility,
}

fn issue(at: &Node, why: String) -> Found {
    Found {
        location: at.location(),
        issue: Incompatibility {
            path: at.path.clone(),
            why,
        },
    }
}

static JSON_NULL: Value = Value::Null;

/// A subschema: where it lives (document and pointer) and how the new schema reaches it.
#[derive(Clone)]
struct Node {
    doc: usize,
    root: Rc<Value>,
    ptr: String,
    path: String,
}

impl Node {
    fn value(&self) -> &Value {
        self.root.pointer(&self.ptr).unwrap_or(&JSON_NULL)
    }

    fn object(&self) -> Option<&Map<String, Value>> {
        self.value().as_object()
    }

    fn child(&self, segments: &[&str]) -> Node {
        let mut node = self.clone();
        for segment in segments {
            let escaped = escape(segment);
            node.ptr = format!("{}/{escaped}", node.ptr);
            node.path = format!("{}/{escaped}", node.path);
        }
        node
    }

    fn location(&self) -> Location {
        (self.doc, self.ptr.clone())
    }
}

/// What the old schema says about one property name or array index.
enum Old {
    /// The old schema never let a value appear there.
    Forbidden,
    /// The old schema's constraints there (all must hold; empty means anything went).
    Constrained(Vec<Node>),
}

struct Checker<'r> {
    resolve: &'r dyn Fn(&str) -> Option<Value>,
    docs: Vec<Doc>,
    /// Documents fetched through the resolver, by URI; `None` remembers a failed lookup.
    by_uri: HashMap<String, Option<usize>>,
    /// Pairs (old fragments, new subschema) being compared further up the stack: meeting
    /// one again means a `$ref` cycle, which is assumed compatible because any difference
    /// on the cycle is reported where the cycle was entered.
    in_progress: HashSet<(BTreeSet<Location>, Location)>,
    depth: usize,
}

impl Checker<'_> {
    /// Reports every way `new` rejects something all of `old` accept.
    fn compare(&mut self, old: &[Node], new: &Node, out: &mut Vec<Found>) {
        if self.depth >= MAX_DEPTH {
            out.push(issue(
                new,
                "schema nested too deeply to check: compatibility cannot be proven".into(),
            ));
            return;
        }
        let mut old_fragments = Vec::new();
        let mut old_seen = BTreeSet::new();
        // An unresolvable old `$ref` only makes the old side look looser, which can
        // only add reports, so it needs no report of its own.
        let mut ignored = Vec::new();
        for node in old {
            self.expand(
                node.clone(),
                &mut old_fragments,
                &mut old_seen,
                &mut ignored,
            );
        }
        let mut new_fragments = Vec::new();
        let mut unresolved = Vec::new();
        self.expand(
            new.clone(),
            &mut new_fragments,
            &mut BTreeSet::new(),
            &mut unresolved,
        );
        let key = (old_seen, new.location());
        if !self.in_progress.insert(key.clone()) {
            return;
        }
        let old_seen = &key.0;
        let summary = Summary::of(&old_fragments);
        if !summary.empty {
            out.extend(unresolved);
            self.depth += 1;
            for fragment in &new_fragments {
                // A fragment the old schema also applies (the same shared definition) adds
                // no constraint the old one did not already have.
                if old_seen.contains(&fragment.location()) {
                    continue;
                }
                self.check_fragment(&old_fragments, &summary, &new_fragments, fragment, out);
            }
            self.depth -= 1;
        }
        self.in_progress.remove(&key);
    }

    fn compatible(&mut self, old: &[Node], new: &Node) -> bool {
        let mut issues = Vec::new();
        self.compare(old, new, &mut issues);
        issues.is_empty()
    }

    fn equivalent(&mut self, a: &Node, b: &Node) -> bool {
        self.compatible(std::slice::from_ref(a), b) && self.compatible(std::slice::from_ref(b), a)
    }

    /// The conjunction a subschema stands for: itself plus everything it pulls in through
    /// `$ref` and `allOf`, flattened so keywords can be compared wherever they were moved.
    fn expand(
        &mut self,
        node: Node,
        fragments: &mut Vec<Node>,
        seen: &mut BTreeSet<Location>,
        unresolved: &mut Vec<Found>,
    ) {
        if !seen.insert(node.location()) {
            return;
        }
        fragments.push(node.clone());
        if let Some(reference) = node.value().get("$ref").and_then(Value::as_str) {
            match self.resolve_ref(&node, reference) {
                Some(target) => self.expand(target, fragments, seen, unresolved),
                None => unresolved.push(issue(
                    &node.child(&["$ref"]),
                    format!(
                        "$ref {} cannot be resolved, so compatibility cannot be checked",
                        quote(reference)
                    ),
                )),
            }
        }
        for branch in combinators::branches(&node, "allOf") {
            self.expand(branch, fragments, seen, unresolved);
        }
    }

    /// Checks one fragment of the new subschema against the old one's summary; keywords
    /// that only apply to types the old schema never accepted are skipped.
    fn check_fragment(
        &mut self,
        old: &[Node],
        summary: &Summary,
        siblings: &[Node],
        fragment: &Node,
        out: &mut Vec<Found>,
    ) {
        let schema = match fragment.value() {
            Value::Bool(false) => {
                out.push(issue(
                    fragment,
                    "schema is false: every value accepted before would be rejected".into(),
                ));
                return;
            }
            Value::Object(schema) => schema,
            _ => return,
        };
        types::check_type(summary, schema, fragment, out);
        types::check_values(summary, schema, fragment, out);
        if summary.atoms & NUMBER != 0 {
            limits::check_bounds(summary, schema, fragment, out);
            limits::check_multiple_of(summary, schema, fragment, out);
        }
        limits::check_counts(summary, schema, fragment, out);
        if summary.atoms & STRING != 0 {
            limits::check_pattern_and_format(summary, schema, fragment, out);
        }
        if summary.atoms & ARRAY != 0 {
            limits::check_unique_items(summary, schema, fragment, out);
            self.check_items(old, summary, fragment, schema, out);
        }
        if summary.atoms & OBJECT != 0 {
            objects::check_required(old, summary, schema, fragment, out);
            self.check_properties(old, fragment, schema, out);
            self.check_additional_properties(old, fragment, schema, out);
        }
        if schema.get("anyOf").is_some_and(Value::is_array) {
            self.check_any_of(old, fragment, out);
        }
        if schema.get("oneOf").is_some_and(Value::is_array) {
            self.check_one_of(old, fragment, out);
        }
        if schema.contains_key("not") {
            self.check_not(old, fragment, out);
        }
        self.check_opaque(old, summary, siblings, fragment, schema, out);
    }
}

fn quote(text: &str) -> String {
    Value::from(text).to_string()
}

fn quote_all(texts: &[String]) -> String {
    texts
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(" and ")
}
