//! Character folding shared by formats, mapping and normalization.

use std::sync::LazyLock;

/// Full-width forms U+FF01–U+FF5E as their ASCII counterparts, U+3000 as a space.
/// Department systems fed by Chinese input methods often carry `１２３`, `Ｘ` or `＋`.
pub fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// A traditional Chinese character as its simplified form (陳 → 陈, 號 → 号); any other
/// character as it is. One character at a time, by `fast2s`'s character map without
/// its handful of word-level exceptions (乾 stays 乾 in 乾隆 there): for matching, the
/// same character folds alike wherever it stands.
pub fn simplified(c: char) -> char {
    let code = c as u32;
    if (FIRST_HAN_BLOCK..=LAST_THREE_BYTE).contains(&code) {
        SIMPLIFIED[(code - FIRST_HAN_BLOCK) as usize]
    } else {
        c
    }
}

/// The first code point of the CJK radicals, where the characters `fast2s` folds begin.
const FIRST_HAN_BLOCK: u32 = 0x2E80;
/// The last code point of three UTF-8 bytes, where they end.
const LAST_THREE_BYTE: u32 = 0xFFFF;

/// [`simplified`] for every code point from [`FIRST_HAN_BLOCK`] to [`LAST_THREE_BYTE`],
/// built at first use (about 50k characters, 210 KB): one lookup a character, where
/// `fast2s` makes three hash lookups and a new string.
static SIMPLIFIED: LazyLock<Box<[char]>> = LazyLock::new(|| {
    (FIRST_HAN_BLOCK..=LAST_THREE_BYTE)
        .map(|code| {
            // The surrogates are no characters: their entries are never read.
            let Some(c) = char::from_u32(code) else {
                return char::REPLACEMENT_CHARACTER;
            };
            fast2s::convert(c.encode_utf8(&mut [0; 4]))
                .chars()
                .next()
                .unwrap_or(c)
        })
        .collect()
});

/// [`fold_char`] over a whole string.
pub fn fold_width(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_characters_fold_to_simplified_one_at_a_time() {
        let traditional = "陳張號棟單歐陽體育館區東廣場";
        let folded: String = traditional.chars().map(simplified).collect();
        assert_eq!(folded, "陈张号栋单欧阳体育馆区东广场");
        // Text without those word-level exceptions folds as fast2s folds it.
        assert_eq!(folded, fast2s::convert(traditional));
        for same in [
            '张', '号', 'A', '1', '·', '\u{3000}', '😀', '\u{2E7F}', '\u{FFFF}',
        ] {
            assert_eq!(simplified(same), same, "{same:?}");
        }
    }

    #[test]
    fn folds_full_width_forms_only() {
        assert_eq!(
            fold_width("１１０１０５Ｘ－ａ＋\u{3000}张"),
            "110105X-a+ 张"
        );
    }
}
