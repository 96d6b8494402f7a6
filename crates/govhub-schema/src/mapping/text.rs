//! Text operations a mapping rule can apply.

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
}
