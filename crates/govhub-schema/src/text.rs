//! Character folding shared by formats, mapping and normalization.

/// Full-width forms U+FF01–U+FF5E as their ASCII counterparts, U+3000 as a space.
/// Department systems fed by Chinese input methods often carry `１２３`, `Ｘ` or `＋`.
pub fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// [`fold_char`] over a whole string.
pub fn fold_width(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_forms_only() {
        assert_eq!(
            fold_width("１１０１０５Ｘ－ａ＋\u{3000}张"),
            "110105X-a+ 张"
        );
    }
}
