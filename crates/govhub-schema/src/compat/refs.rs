//! `$ref` resolution: documents, base URIs, fragments (JSON pointers and `$anchor`s).
//!
//! Cycles are not handled here but by [`Checker::compare`](super::Checker::compare),
//! which remembers the comparisons in progress.

use std::rc::Rc;

use serde_json::Value;

use super::{Checker, Node};
use crate::uri::{join, strip_fragment};

/// One schema document, old, new, or fetched through the resolver.
pub(super) struct Doc {
    base: String,
    root: Rc<Value>,
}

impl Checker<'_> {
    /// Registers a document, by its `$id` resolved against `uri`, and returns its root.
    pub(super) fn add_doc(&mut self, root: Value, uri: &str) -> Node {
        let base = match root.get("$id").and_then(Value::as_str) {
            Some(id) => join(uri, strip_fragment(id)),
            None => uri.to_owned(),
        };
        let root = Rc::new(root);
        let doc = self.docs.len();
        if !base.is_empty() {
            self.by_uri.entry(base.clone()).or_insert(Some(doc));
        }
        self.docs.push(Doc {
            base,
            root: root.clone(),
        });
        Node {
            doc,
            root,
            ptr: String::new(),
            path: String::new(),
        }
    }

    fn load(&mut self, uri: &str) -> Option<usize> {
        if let Some(known) = self.by_uri.get(uri) {
            return *known;
        }
        let doc = (self.resolve)(uri).map(|root| self.add_doc(root, uri).doc);
        self.by_uri.insert(uri.to_owned(), doc);
        doc
    }

    /// The subschema `reference` (a `$ref` found in `from`) points at; `None` when the
    /// document is unknown or the fragment does not exist.
    pub(super) fn resolve_ref(&mut self, from: &Node, reference: &str) -> Option<Node> {
        let (uri, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let doc = if uri.is_empty() {
            from.doc
        } else {
            let absolute = join(&self.docs[from.doc].base, uri);
            // Old and new versions often share a base path; a document's reference to
            // itself must not be answered with the other version.
            if absolute == self.docs[from.doc].base {
                from.doc
            } else {
                self.load(&absolute)?
            }
        };
        let root = self.docs[doc].root.clone();
        let ptr = if fragment.is_empty() {
            String::new()
        } else if fragment.starts_with('/') {
            percent_decode(fragment)?
        } else {
            find_anchor(&root, "", fragment)?
        };
        root.pointer(&ptr)?;
        Some(Node {
            doc,
            root,
            ptr,
            path: format!("{}/$ref", from.path),
        })
    }
}

/// A JSON pointer segment: `~` and `/` escaped.
pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// Pointer to the subschema declaring `$anchor: name`, searching the whole document.
pub(super) fn find_anchor(value: &Value, ptr: &str, name: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.get("$anchor").and_then(Value::as_str) == Some(name) {
                return Some(ptr.to_owned());
            }
            map.iter().find_map(|(key, child)| {
                find_anchor(child, &format!("{ptr}/{}", escape(key)), name)
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, child)| find_anchor(child, &format!("{ptr}/{index}"), name)),
        _ => None,
    }
}
