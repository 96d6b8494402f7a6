//! A synthetic population: residents with realistic Chinese names, resident IDs that are
//! consistent with their birth date, sex and division code, and mobile numbers.
//!
//! Everything is derived from a seed; nobody in it exists.

use chrono::{Datelike, NaiveDate};
use govhub_schema::formats::resident_id;

use crate::SplitMix64;

/// Sex as recorded on the resident ID (odd sequence: male, even: female).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
}

impl Sex {
    /// The canonical value used by the schemas.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

/// One synthetic resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    /// Index in the population (the ground-truth identity).
    pub index: u64,
    /// Full name in Han characters, or a minority name with `·`.
    pub name: String,
    /// 18-digit resident ID.
    pub resident_id: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// County-level administrative division code of household registration.
    pub division: &'static str,
    /// Mainland mobile number.
    pub phone: String,
}

/// Real county-level division codes (GB/T 2260) used as places of registration.
const DIVISIONS: &[&str] = &[
    "110105", "110108", "310115", "310104", "440106", "440305", "510107", "330106", "420111",
    "320102", "370102", "610113", "500103", "650102", "530102", "130102",
];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const COMPOUND_SURNAMES: &[&str] = &["欧阳", "司马", "诸葛", "上官", "东方", "皇甫"];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "英", "华", "玉", "兰", "萍", "红", "鹏", "辉", "宇", "浩", "然",
    "子", "涵", "欣", "怡", "梓", "轩", "雨", "泽", "博", "文", "思", "佳", "嘉",
];
const MINORITY_GIVEN: &[&str] = &["阿依古丽", "艾力", "古丽娜", "热依拉", "迪丽", "帕提古丽"];
const MINORITY_FAMILY: &[&str] = &["买买提", "吐尔逊", "阿不都", "司马义", "艾买提"];

impl Resident {
    /// The resident at `index` of the population generated from `seed`; the same
    /// arguments always give the same resident.
    pub fn generate(seed: u64, index: u64, born_from: i32, born_to: i32) -> Resident {
        let mut rng = SplitMix64::new(seed ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let sex = if rng.chance(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let name = synthetic_name(&mut rng);
        let year = born_from + rng.below((born_to - born_from + 1) as u64) as i32;
        let birth_date = NaiveDate::from_yo_opt(year, 1)
            .and_then(|d| d.checked_add_days(chrono::Days::new(rng.below(365))))
            .unwrap_or_default();
        let division = *rng.pick(DIVISIONS);
        // Sequence: two free digits, then a third whose parity encodes the sex.
        let parity = rng.below(5) * 2 + u64::from(sex == Sex::Male);
        let sequence = rng.below(100) * 10 + parity;
        let first17 = format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            birth_date.year(),
            birth_date.month(),
            birth_date.day()
        );
        let check = resident_id::check_char(&first17).unwrap_or('0');
        let phone = format!(
            "1{}{:09}",
            rng.pick(&[3, 5, 7, 8, 9]),
            rng.below(1_000_000_000)
        );
        Resident {
            index,
            name,
            resident_id: format!("{first17}{check}"),
            sex,
            birth_date,
            division,
            phone,
        }
    }
}

fn synthetic_name(rng: &mut SplitMix64) -> String {
    if rng.chance(0.03) {
        return format!("{}·{}", rng.pick(MINORITY_GIVEN), rng.pick(MINORITY_FAMILY));
    }
    let surname = if rng.chance(0.02) {
        rng.pick(COMPOUND_SURNAMES)
    } else {
        rng.pick(SURNAMES)
    };
    let mut name = (*surname).to_owned();
    for _ in 0..(1 + rng.below(2)) {
        let given: &&str = rng.pick(GIVEN);
        name.push_str(given);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_deterministic_and_their_ids_are_consistent() {
        for index in 0..2000 {
            let r = Resident::generate(42, index, 1940, 2020);
            assert_eq!(r, Resident::generate(42, index, 1940, 2020));
            assert!(resident_id::is_valid(&r.resident_id), "{index}");
            assert_eq!(resident_id::birth_date(&r.resident_id), Some(r.birth_date));
            assert_eq!(&r.resident_id[..6], r.division);
            let sex_digit = r.resident_id.as_bytes()[16] - b'0';
            assert_eq!(sex_digit % 2 == 1, r.sex == Sex::Male);
            assert_eq!(r.phone.len(), 11);
        }
        assert_ne!(
            Resident::generate(42, 0, 1940, 2020),
            Resident::generate(43, 0, 1940, 2020)
        );
    }
}
