//! Name material: frequent surnames and given-name characters, and the two kinds of
//! character confusion department systems really contain — a homophone or look-alike
//! typed by an input method, and a traditional form (from Hong Kong, Taiwan or old
//! records) for a simplified one.

/// Frequent single-character surnames.
pub(crate) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
/// Compound surnames, rare but present.
pub(crate) const COMPOUND_SURNAMES: &[&str] = &["欧阳", "司马", "诸葛", "上官", "东方", "皇甫"];
/// Frequent given-name characters.
pub(crate) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "英", "华", "玉", "兰", "萍", "红", "鹏", "辉", "宇", "浩", "然",
    "子", "涵", "欣", "怡", "梓", "轩", "雨", "泽", "博", "文", "思", "佳", "嘉",
];
/// Given names of Uyghur transliterated names (written given·family).
pub(crate) const MINORITY_GIVEN: &[&str] =
    &["阿依古丽", "艾力", "古丽娜", "热依拉", "迪丽", "帕提古丽"];
/// Family parts of Uyghur transliterated names.
pub(crate) const MINORITY_FAMILY: &[&str] = &["买买提", "吐尔逊", "阿不都", "司马义", "艾买提"];

/// Homophones and look-alikes an input method offers next to the intended character:
/// one for every character of [`SURNAMES`], [`COMPOUND_SURNAMES`] and [`GIVEN`], so a
/// homophone can fall on any character of a Han name. Each pair is used in both directions.
const SIMILAR: &[(char, char)] = &[
    ('张', '章'),
    ('王', '汪'),
    ('李', '黎'),
    ('陈', '程'),
    ('林', '琳'),
    ('伟', '玮'),
    ('娜', '那'),
    ('杨', '扬'),
    ('刘', '柳'),
    ('吴', '武'),
    ('周', '邹'),
    ('静', '晶'),
    ('丽', '莉'),
    ('芳', '方'),
    ('军', '君'),
    ('明', '铭'),
    ('涛', '韬'),
    ('杰', '洁'),
    ('红', '虹'),
    ('平', '萍'),
    ('英', '瑛'),
    ('玉', '钰'),
    ('宇', '羽'),
    ('浩', '皓'),
    ('文', '雯'),
    ('欣', '馨'),
    ('怡', '仪'),
    ('涵', '含'),
    ('黄', '皇'),
    ('赵', '照'),
    ('徐', '许'),
    ('孙', '荪'),
    ('马', '玛'),
    ('朱', '珠'),
    ('胡', '湖'),
    ('郭', '国'),
    ('何', '河'),
    ('高', '皋'),
    ('罗', '萝'),
    ('郑', '正'),
    ('梁', '良'),
    ('谢', '榭'),
    ('宋', '送'),
    ('唐', '堂'),
    ('韩', '寒'),
    ('冯', '逢'),
    ('邓', '登'),
    ('曹', '槽'),
    ('敏', '民'),
    ('强', '蔷'),
    ('磊', '蕾'),
    ('洋', '羊'),
    ('勇', '永'),
    ('艳', '燕'),
    ('娟', '鹃'),
    ('超', '潮'),
    ('秀', '绣'),
    ('霞', '夏'),
    ('刚', '钢'),
    ('华', '桦'),
    ('兰', '岚'),
    ('鹏', '朋'),
    ('辉', '晖'),
    ('然', '燃'),
    ('子', '梓'),
    ('轩', '萱'),
    ('雨', '语'),
    ('泽', '择'),
    ('博', '波'),
    ('思', '丝'),
    ('佳', '嘉'),
    ('欧', '鸥'),
    ('阳', '旸'),
    ('司', '斯'),
    ('诸', '株'),
    ('葛', '戈'),
    ('上', '尚'),
    ('官', '关'),
    ('东', '冬'),
    ('甫', '府'),
];

/// Simplified characters of the lists above with their traditional forms.
const TRADITIONAL: &[(char, char)] = &[
    ('陈', '陳'),
    ('张', '張'),
    ('刘', '劉'),
    ('黄', '黃'),
    ('赵', '趙'),
    ('吴', '吳'),
    ('杨', '楊'),
    ('孙', '孫'),
    ('马', '馬'),
    ('郑', '鄭'),
    ('谢', '謝'),
    ('许', '許'),
    ('韩', '韓'),
    ('冯', '馮'),
    ('邓', '鄧'),
    ('罗', '羅'),
    ('伟', '偉'),
    ('丽', '麗'),
    ('军', '軍'),
    ('杰', '傑'),
    ('涛', '濤'),
    ('华', '華'),
    ('兰', '蘭'),
    ('红', '紅'),
    ('鹏', '鵬'),
    ('辉', '輝'),
    ('轩', '軒'),
    ('泽', '澤'),
    ('静', '靜'),
    ('强', '強'),
    ('刚', '剛'),
    ('欧', '歐'),
    ('阳', '陽'),
    ('东', '東'),
    ('诸', '諸'),
    ('买', '買'),
    ('热', '熱'),
    ('尔', '爾'),
    ('逊', '遜'),
    ('义', '義'),
];

/// A character an input method could have produced instead of `c`, if the table has one.
pub(crate) fn similar(c: char) -> Option<char> {
    SIMILAR.iter().find_map(|&(a, b)| match c {
        _ if c == a => Some(b),
        _ if c == b => Some(a),
        _ => None,
    })
}

/// The traditional form of `c`, if it has one in the table.
pub(crate) fn traditional(c: char) -> Option<char> {
    TRADITIONAL
        .iter()
        .find_map(|&(simplified, trad)| (c == simplified).then_some(trad))
}

/// The length in characters of `name`'s surname: 2 for a compound surname (欧阳), else 1.
pub(crate) fn surname_len(name: &str) -> usize {
    if COMPOUND_SURNAMES
        .iter()
        .any(|surname| name.starts_with(surname))
    {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_schema::normalize::name_match_key;

    #[test]
    fn traditional_forms_fold_back_for_matching() {
        for &(simplified, trad) in TRADITIONAL {
            assert_eq!(
                name_match_key(&trad.to_string()),
                simplified.to_string(),
                "{trad}"
            );
        }
    }

    #[test]
    fn look_alikes_are_different_people_to_exact_matching() {
        for &(a, b) in SIMILAR {
            assert_eq!(similar(a), Some(b));
            assert_eq!(similar(b), Some(a));
            assert_ne!(
                name_match_key(&a.to_string()),
                name_match_key(&b.to_string())
            );
        }
        assert_eq!(similar('的'), None);
        assert_eq!(traditional('曹'), None);
    }

    #[test]
    fn every_character_of_a_han_name_has_a_look_alike() {
        for part in SURNAMES.iter().chain(COMPOUND_SURNAMES).chain(GIVEN) {
            for c in part.chars() {
                assert!(similar(c).is_some(), "{c}");
            }
        }
    }
}
