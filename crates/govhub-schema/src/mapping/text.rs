//! Text operations a mapping rule can apply: `text` operations and `slice`.

use serde::{Deserialize, Serialize};

use crate::text::fold_width;

/// A text operation a mapping rule applies to a string, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOp {
    /// Removes leading and trailing whitespace, ideographic space (U+3000) included.
    Trim,
    /// Folds full-width ASCII forms (Ａ１－) and the ideographic space to half-width.
    FoldWidth,
    /// Upper-cases ASCII letters.
    Upper,
    /// Lower-cases ASCII letters.
    Lower,
}

impl TextOp {
    /// Applies the operation.
    pub fn apply(self, text: &str) -> String {
        match self {
            TextOp::Trim => text.trim().to_owned(),
            TextOp::FoldWidth => fold_width(text),
            TextOp::Upper => text.to_ascii_uppercase(),
            TextOp::Lower => text.to_ascii_lowercase(),
        }
    }
}

/// A `slice = [start, end]` ready to apply: characters `start..end` (`end` exclusive,
/// `None` meaning to the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CharRange {
    start: usize,
    end: Option<usize>,
}

impl CharRange {
    /// The range of `bounds` (`[start]` or `[start, end]`); `None` for an empty list. An
    /// `end` before `start` gives an empty range and extra numbers are ignored:
    /// [`super::Mapping::problems`] reports both.
    pub(super) fn compile(bounds: &[usize]) -> Option<CharRange> {
        let (&start, rest) = bounds.split_first()?;
        Some(CharRange {
            start,
            end: rest.first().map(|&end| end.max(start)),
        })
    }

    /// The characters of `text` in the range (fewer at the end of a short text); `None`
    /// if `text` has fewer than `start` characters.
    pub(super) fn apply(self, text: &str) -> Option<&str> {
        let tail = text.get(char_offset(text, self.start)?..)?;
        let len = match self.end {
            Some(end) => char_offset(tail, end - self.start).unwrap_or(tail.len()),
            None => tail.len(),
        };
        tail.get(..len)
    }
}

/// The byte offset of character `n` of `text` (its length for `n` = the character
/// count); `None` beyond.
fn char_offset(text: &str, n: usize) -> Option<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .nth(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_and_trims_ideographic_space() {
        assert_eq!(TextOp::FoldWidth.apply("１１０１０５Ｘ－ａ"), "110105X-a");
        assert_eq!(TextOp::Trim.apply("\u{3000} 张三 \u{3000}"), "张三");
        assert_eq!(TextOp::Upper.apply("11x"), "11X");
        assert_eq!(TextOp::Lower.apply("AbC"), "abc");
    }

    #[test]
    fn slices_count_characters_not_bytes() {
        let range = |b: &[usize]| CharRange::compile(b).unwrap();
        assert_eq!(range(&[0, 2]).apply("北京市海淀区"), Some("北京"));
        assert_eq!(range(&[3]).apply("北京市海淀区"), Some("海淀区"));
        assert_eq!(range(&[4, 10]).apply("北京市海淀区"), Some("淀区"));
        assert_eq!(range(&[6]).apply("北京市海淀区"), Some(""));
        assert_eq!(range(&[7]).apply("北京市海淀区"), None);
        assert_eq!(range(&[2, 1]).apply("abc"), Some(""));
        assert_eq!(CharRange::compile(&[]), None);
    }
}
