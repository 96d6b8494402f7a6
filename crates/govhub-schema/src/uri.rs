//! Resolving schema references (`$ref`, `$id`) against a base URI, shared by the
//! compatibility check, the docs and the AsyncAPI document.

/// `uri` without its `#fragment`.
pub(crate) fn strip_fragment(uri: &str) -> &str {
    uri.split_once('#').map_or(uri, |(uri, _)| uri)
}

fn has_scheme(uri: &str) -> bool {
    uri.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// `reference` (a `$ref` or `$id`) resolved against `base` (RFC 3986, without query
/// handling, which schema URIs do not use); a reference's own fragment is kept.
pub fn join(base: &str, reference: &str) -> String {
    let (path_part, fragment) = match reference.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (reference, None),
    };
    let resolved = join_path(base, path_part);
    match fragment {
        Some(fragment) => format!("{resolved}#{fragment}"),
        None => resolved,
    }
}

/// [`join`] for a reference without a fragment.
fn join_path(base: &str, reference: &str) -> String {
    let base = strip_fragment(base);
    if reference.is_empty() {
        return base.to_owned();
    }
    if has_scheme(reference) || base.is_empty() {
        return reference.to_owned();
    }
    let (origin, base_path) = match base.find("://") {
        Some(at) => {
            let after = at + 3;
            match base[after..].find('/') {
                Some(slash) => base.split_at(after + slash),
                None => (base, ""),
            }
        }
        None => ("", base),
    };
    let path = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let directory = base_path
            .rfind('/')
            .map_or("", |slash| &base_path[..=slash]);
        format!("{directory}{reference}")
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "." => {}
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            _ => segments.push(segment),
        }
    }
    format!("{origin}{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_kept_and_fragment_only_references_stay_in_the_document() {
        let base = "https://govhub.invalid/schemas/health/encounter.v1.json#/x";
        assert_eq!(
            join(base, "#/$defs/x"),
            "https://govhub.invalid/schemas/health/encounter.v1.json#/$defs/x"
        );
        assert_eq!(join("", "urn:x#y"), "urn:x#y");
    }

    #[test]
    fn relative_absolute_and_root_references_resolve_like_rfc_3986() {
        let base = "https://govhub.invalid/schemas/education/enrollment.v1.json";
        assert_eq!(
            join(base, "../common/person.v1.json#/$defs/name"),
            "https://govhub.invalid/schemas/common/person.v1.json#/$defs/name"
        );
        assert_eq!(
            join(base, "https://other.invalid/a.json"),
            "https://other.invalid/a.json"
        );
        assert_eq!(join(base, "/root.json"), "https://govhub.invalid/root.json");
    }
}
