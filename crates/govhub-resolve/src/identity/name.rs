//! Names as identity resolution compares them: the match key (traditional folded to
//! simplified) and the toneless pinyin, with the surname read as a surname.

use pinyin::ToPinyin;

/// Surnames whose everyday reading differs from their reading as a surname; common
/// pinyin tables give the everyday one (单 dan, 曾 ceng, 解 jie, 仇 chou, 朴 pu, 区 qu …),
/// which would make `单` and `山` look unrelated while `单` and `丹` look alike.
/// Compound surnames come first so they win over their first character.
const SURNAME_READINGS: &[(&str, &str)] = &[
    ("单于", "chanyu"),
    ("尉迟", "yuchi"),
    ("万俟", "moqi"),
    ("长孙", "zhangsun"),
    ("单", "shan"),
    ("曾", "zeng"),
    ("解", "xie"),
    ("仇", "qiu"),
    ("朴", "piao"),
    ("区", "ou"),
    ("查", "zha"),
    ("盖", "ge"),
    ("缪", "miao"),
    ("乐", "yue"),
    ("覃", "qin"),
    ("尉", "yu"),
    ("繁", "po"),
    ("员", "yun"),
    ("种", "chong"),
    ("秘", "bi"),
];

/// Toneless pinyin of a match key (`name_match_key` output: simplified, no dots or
/// spaces), syllables run together (`zhangwei`). Characters without a reading (Latin
/// letters, digits) are kept as they are.
pub fn pinyin(match_key: &str) -> String {
    let mut out = String::with_capacity(match_key.len() * 2);
    let mut rest = match_key;
    if let Some((surname, reading)) = SURNAME_READINGS
        .iter()
        .find(|(surname, _)| match_key.starts_with(surname))
    {
        out.push_str(reading);
        rest = &match_key[surname.len()..];
    }
    for c in rest.chars() {
        match c.to_pinyin() {
            Some(p) => out.push_str(p.plain()),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homophones_share_pinyin() {
        assert_eq!(pinyin("张伟"), "zhangwei");
        assert_eq!(pinyin("章伟"), pinyin("张伟"));
        assert_eq!(pinyin("王丽"), pinyin("王莉"));
        assert_ne!(pinyin("王丽"), pinyin("王磊"));
    }

    #[test]
    fn surnames_read_as_surnames() {
        assert_eq!(pinyin("单雄"), "shanxiong");
        assert_eq!(pinyin("曾明"), "zengming");
        assert_eq!(pinyin("解放"), "xiefang");
        assert_eq!(pinyin("仇英"), "qiuying");
        assert_eq!(pinyin("朴树"), "piaoshu");
        assert_eq!(pinyin("区华"), "ouhua");
        assert_eq!(pinyin("单于明"), "chanyuming");
        // Only the surname position: 单 inside a given name keeps its everyday reading.
        assert_eq!(pinyin("王单"), "wangdan");
    }

    #[test]
    fn minority_and_latin_names() {
        assert_eq!(pinyin("阿依古丽买买提"), "ayigulimaimaiti");
        assert_eq!(pinyin("john"), "john");
    }
}
