//! Target pointers: where a rule's value goes in the canonical record.
//!
//! A target segment that is a non-negative integer indexes an array and `-` appends one
//! element; both create the array when absent. Canonical schemas have no numeric
//! property names, so a numeric target segment always means an array index.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::source::segments;
use super::{RuleError, fail};

/// The highest array index a target may name: a mapping fills a handful of elements,
/// and an index is padded up to, so a typo must not allocate millions of them.
pub const MAX_ARRAY_INDEX: usize = 255;

/// One segment of a target pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// A property of an object.
    Key(String),
    /// An element of an array (`usize::MAX` for a number too large to read).
    Index(usize),
    /// `-`: a new element at the end of an array.
    Append,
}

impl Segment {
    fn parse(raw: String) -> Segment {
        if raw == "-" {
            Segment::Append
        } else if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            Segment::Index(raw.parse().unwrap_or(usize::MAX))
        } else {
            Segment::Key(raw)
        }
    }
}

/// The segments of target pointer `pointer`, unescaped and classified.
pub(super) fn target_segments(pointer: &str) -> Vec<Segment> {
    segments(pointer).into_iter().map(Segment::parse).collect()
}

/// Whether `path` appends to an array somewhere (such rules run after the others, so
/// the elements they append follow those placed by index).
pub(super) fn appends(path: &[Segment]) -> bool {
    path.contains(&Segment::Append)
}

/// The first index in `path` above [`MAX_ARRAY_INDEX`].
pub(super) fn index_too_large(path: &[Segment]) -> Option<usize> {
    path.iter().find_map(|seg| match seg {
        Segment::Index(i) if *i > MAX_ARRAY_INDEX => Some(*i),
        _ => None,
    })
}

/// Sets `value` at `path` in `root`, creating objects and arrays on the way (a node of
/// the wrong kind is replaced). Returns whether an index beyond an array's end left
/// holes (nulls) before it, for [`ArrayShape::remove_holes`].
pub(super) fn insert(root: &mut Value, path: &[Segment], value: Value) -> Result<bool, RuleError> {
    if index_too_large(path).is_some() {
        return Err(fail(
            "index",
            format!("array index above {MAX_ARRAY_INDEX}"),
        ));
    }
    let Some((last, parents)) = path.split_last() else {
        return Ok(false);
    };
    let mut holes = false;
    let mut node = root;
    for seg in parents {
        let Some(next) = child(node, seg, &mut holes) else {
            return Ok(holes);
        };
        node = next;
    }
    // The leaf of an object is set in one search: this runs for every field of every
    // record.
    if let Segment::Key(key) = last {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        if let Value::Object(map) = node {
            map.insert(key.clone(), value);
        }
        return Ok(holes);
    }
    if let Some(slot) = child(node, last, &mut holes) {
        *slot = value;
    }
    Ok(holes)
}

/// The slot `seg` names in `node` (made an object or array as `seg` needs), created
/// as null when absent.
fn child<'a>(node: &'a mut Value, seg: &Segment, holes: &mut bool) -> Option<&'a mut Value> {
    match seg {
        Segment::Key(key) => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else {
                return None;
            };
            // Look up before inserting: the key is cloned only when the slot is new.
            if map.contains_key(key) {
                map.get_mut(key)
            } else {
                Some(map.entry(key.clone()).or_insert(Value::Null))
            }
        }
        Segment::Index(i) => {
            let items = array(node)?;
            if *i > items.len() {
                *holes = true;
            }
            if *i >= items.len() {
                items.resize(i + 1, Value::Null);
            }
            items.get_mut(*i)
        }
        Segment::Append => {
            let items = array(node)?;
            items.push(Value::Null);
            items.last_mut()
        }
    }
}

/// `node` as an array, replacing any other value.
fn array(node: &mut Value) -> Option<&mut Vec<Value>> {
    if !node.is_array() {
        *node = Value::Array(Vec::new());
    }
    node.as_array_mut()
}

/// The arrays a mapping's targets create, as a tree of the properties leading to them:
/// the only arrays whose holes are removed (an array a rule copies from the native
/// record keeps its nulls).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct ArrayShape {
    /// Properties on the way to an array.
    keys: BTreeMap<String, ArrayShape>,
    /// This node is an array the mapping creates; what is inside its elements.
    items: Option<Box<ArrayShape>>,
}

impl ArrayShape {
    /// Records the arrays of target `path`.
    pub(super) fn add(&mut self, path: &[Segment]) {
        if !path
            .iter()
            .any(|s| matches!(s, Segment::Index(_) | Segment::Append))
        {
            return;
        }
        let mut node = self;
        for seg in path {
            node = match seg {
                Segment::Key(key) => node.keys.entry(key.clone()).or_default(),
                Segment::Index(_) | Segment::Append => node.items.get_or_insert_default(),
            };
        }
    }

    /// Removes the nulls from the arrays of this shape in `value`, innermost first.
    pub(super) fn remove_holes(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, shape) in &self.keys {
                    if let Some(child) = map.get_mut(key) {
                        shape.remove_holes(child);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(shape) = &self.items {
                    for item in items.iter_mut() {
                        shape.remove_holes(item);
                    }
                    items.retain(|item| !item.is_null());
                }
            }
            _ => {}
        }
    }
}

/// Whether `pointer` names a field of `schema` (a whole schema document), following
/// `$ref`s (`resolve` finds other documents by `$id`), combinators and array `items`.
pub fn schema_has_field(
    schema: &Value,
    pointer: &str,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> bool {
    field_exists(schema, schema, &target_segments(pointer), resolve, 0)
}

/// Whether `segs` names a property reachable in `node` (inside document `root`),
/// following `$ref`s and `allOf`/`anyOf`/`oneOf`, and an array's `items` for an index
/// or `-`.
pub(super) fn field_exists(
    root: &Value,
    node: &Value,
    segs: &[Segment],
    resolve: &dyn Fn(&str) -> Option<Value>,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    let Some((first, rest)) = segs.split_first() else {
        return true;
    };
    if let Some(reference) = node.get("$ref").and_then(Value::as_str)
        && ref_has_field(root, reference, segs, resolve, depth)
    {
        return true;
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = node.get(combinator).and_then(Value::as_array)
            && branches
                .iter()
                .any(|b| field_exists(root, b, segs, resolve, depth + 1))
        {
            return true;
        }
    }
    let child = match first {
        Segment::Key(key) => node.get("properties").and_then(|p| p.get(key)),
        Segment::Index(_) | Segment::Append => node.get("items"),
    };
    child.is_some_and(|child| field_exists(root, child, rest, resolve, depth + 1))
}

/// [`field_exists`] in the schema `reference` points to.
fn ref_has_field(
    root: &Value,
    reference: &str,
    segs: &[Segment],
    resolve: &dyn Fn(&str) -> Option<Value>,
    depth: usize,
) -> bool {
    let (document, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let target_root = if document.is_empty() {
        Some(root.clone())
    } else {
        resolve(document)
    };
    let Some(target_root) = target_root else {
        return false;
    };
    let target = if fragment.is_empty() {
        Some(&target_root)
    } else {
        target_root.pointer(fragment)
    };
    target.is_some_and(|t| field_exists(&target_root, t, segs, resolve, depth + 1))
}
