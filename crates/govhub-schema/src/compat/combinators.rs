//! `anyOf`, `oneOf` and `not`. (`allOf` needs no rule: its branches are flattened into
//! the fragments of the schema holding it, see [`Checker::expand`].)
//!
//! The old schema may hold several `anyOf` (or `oneOf`) lists, one per fragment; it only
//! accepts what each of them accepts, so the new list is safe as soon as it covers one.

use serde_json::Value;

use super::{Checker, Found, Node, issue};

impl Checker<'_> {
    /// A new `anyOf` is safe when each old branch is covered by some new branch: by the
    /// same index first, so that a changed branch is reported where it sits.
    pub(super) fn check_any_of(&mut self, old: &[Node], fragment: &Node, out: &mut Vec<Found>) {
        let new_branches = branches(fragment, "anyOf");
        let path = fragment.child(&["anyOf"]);
        let old_groups = old_groups(old, "anyOf");
        if old_groups.is_empty() {
            if let [only] = new_branches.as_slice() {
                self.compare(old, only, out);
            } else if !new_branches
                .iter()
                .any(|branch| self.compatible(old, branch))
            {
                out.push(issue(
                    &path,
                    "anyOf added where none was, and no single branch accepts everything \
                     the old schema accepted"
                        .into(),
                ));
            }
            return;
        }
        let report = self.first_uncovered(&old_groups, |checker, group| {
            let mut issues = Vec::new();
            for (index, old_branch) in group.iter().enumerate() {
                let context = with(old, old_branch);
                let mut same_index = Vec::new();
                if let Some(new_branch) = new_branches.get(index) {
                    checker.compare(&context, new_branch, &mut same_index);
                    if same_index.is_empty() {
                        continue;
                    }
                }
                let moved = new_branches
                    .iter()
                    .enumerate()
                    .any(|(j, branch)| j != index && checker.compatible(&context, branch));
                if moved {
                    continue;
                }
                if same_index.is_empty() {
                    issues.push(issue(
                        &path,
                        format!(
                            "anyOf branch {index} removed: values only it accepted would be \
                             rejected"
                        ),
                    ));
                } else {
                    issues.extend(same_index);
                }
            }
            issues
        });
        out.extend(report);
    }

    /// A new `oneOf` is safe only with the same branches up to order: widening any branch
    /// or adding one can make a value match two branches, which `oneOf` rejects.
    pub(super) fn check_one_of(&mut self, old: &[Node], fragment: &Node, out: &mut Vec<Found>) {
        let new_branches = branches(fragment, "oneOf");
        let path = fragment.child(&["oneOf"]);
        let old_groups = old_groups(old, "oneOf");
        if old_groups.is_empty() {
            if let [only] = new_branches.as_slice() {
                self.compare(old, only, out);
            } else {
                out.push(issue(
                    &path,
                    "oneOf added where none was: values matching none or several branches \
                     would be rejected"
                        .into(),
                ));
            }
            return;
        }
        let report = self.first_uncovered(&old_groups, |checker, group| {
            if group.len() != new_branches.len() {
                return vec![issue(
                    &path,
                    format!(
                        "oneOf branch count changed from {} to {}: values may now match none \
                         or several branches and be rejected",
                        group.len(),
                        new_branches.len()
                    ),
                )];
            }
            let mut issues = Vec::new();
            let mut used = vec![false; new_branches.len()];
            for (index, old_branch) in group.iter().enumerate() {
                let context = with(old, old_branch);
                let mut same_index = Vec::new();
                checker.compare(&context, &new_branches[index], &mut same_index);
                // The branch at the same index first, then any other unused one; a match
                // must accept the same values both ways.
                let matched = std::iter::once(index)
                    .chain((0..new_branches.len()).filter(|j| *j != index))
                    .filter(|j| !used[*j])
                    .find(|&j| {
                        let forward = if j == index {
                            same_index.is_empty()
                        } else {
                            checker.compatible(&context, &new_branches[j])
                        };
                        forward
                            && checker
                                .compatible(std::slice::from_ref(&new_branches[j]), old_branch)
                    });
                match matched {
                    Some(j) => used[j] = true,
                    None if same_index.is_empty() => issues.push(issue(
                        &new_branches[index],
                        format!(
                            "oneOf branch {index} widened: values may now match more than one \
                             branch and be rejected"
                        ),
                    )),
                    None => issues.extend(same_index),
                }
            }
            issues
        });
        out.extend(report);
    }

    /// `not: N` is implied by an old `not: O` when N ⊆ O, i.e. the check run backwards.
    pub(super) fn check_not(&mut self, old: &[Node], fragment: &Node, out: &mut Vec<Found>) {
        let new_not = fragment.child(&["not"]);
        let implied = old
            .iter()
            .filter(|o| o.value().get("not").is_some())
            .any(|o| self.compatible(std::slice::from_ref(&new_not), &o.child(&["not"])));
        if !implied {
            out.push(issue(
                &new_not,
                "not added or changed: compatibility cannot be proven".into(),
            ));
        }
    }

    /// Nothing when some old group passes `against`; otherwise what the first group
    /// reported, so the report is stable and names the old schema's first list.
    fn first_uncovered(
        &mut self,
        groups: &[Vec<Node>],
        mut against: impl FnMut(&mut Self, &[Node]) -> Vec<Found>,
    ) -> Vec<Found> {
        let mut first = None;
        for group in groups {
            let issues = against(self, group);
            if issues.is_empty() {
                return Vec::new();
            }
            first.get_or_insert(issues);
        }
        first.unwrap_or_default()
    }
}

/// The branches of `keyword` (a list of subschemas) in `node`, as nodes.
pub(super) fn branches(node: &Node, keyword: &str) -> Vec<Node> {
    let count = node
        .value()
        .get(keyword)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (0..count)
        .map(|index| node.child(&[keyword, &index.to_string()]))
        .collect()
}

/// The branch lists of `keyword` in the old fragments that have one.
fn old_groups(old: &[Node], keyword: &str) -> Vec<Vec<Node>> {
    old.iter()
        .filter(|o| o.value().get(keyword).is_some_and(Value::is_array))
        .map(|o| branches(o, keyword))
        .collect()
}

fn with(nodes: &[Node], extra: &Node) -> Vec<Node> {
    let mut all = nodes.to_vec();
    all.push(extra.clone());
    all
}
