//! Places of registration: real county-level divisions (GB/T 2260) with their names and
//! approximate WGS-84 centres, and invented street names. Addresses built from them
//! are synthetic: the streets and house numbers are not real addresses.

/// A county-level division residents can be registered in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// 6-digit administrative division code.
    pub code: &'static str,
    /// Full name from the province down, as addresses begin.
    pub name: &'static str,
    /// The district's own name, as local offices and facilities are named after it.
    pub district: &'static str,
    /// Approximate longitude of the district centre, WGS-84 degrees east.
    pub lng: f64,
    /// Approximate latitude of the district centre, WGS-84 degrees north.
    pub lat: f64,
}

/// Every place used; the population draws household divisions from these.
pub const PLACES: &[Place] = &[
    place("110105", "北京市朝阳区", "朝阳区", 116.443, 39.921),
    place("110108", "北京市海淀区", "海淀区", 116.298, 39.959),
    place("310115", "上海市浦东新区", "浦东新区", 121.544, 31.221),
    place("310104", "上海市徐汇区", "徐汇区", 121.437, 31.179),
    place("440106", "广东省广州市天河区", "天河区", 113.361, 23.125),
    place("440305", "广东省深圳市南山区", "南山区", 113.930, 22.533),
    place("510107", "四川省成都市武侯区", "武侯区", 104.043, 30.642),
    place("330106", "浙江省杭州市西湖区", "西湖区", 120.130, 30.259),
    place("420111", "湖北省武汉市洪山区", "洪山区", 114.343, 30.500),
    place("320102", "江苏省南京市玄武区", "玄武区", 118.797, 32.049),
    place("370102", "山东省济南市历下区", "历下区", 117.077, 36.666),
    place("610113", "陕西省西安市雁塔区", "雁塔区", 108.948, 34.222),
    place("500103", "重庆市渝中区", "渝中区", 106.569, 29.553),
    place(
        "650102",
        "新疆维吾尔自治区乌鲁木齐市天山区",
        "天山区",
        87.631,
        43.794,
    ),
    place("530102", "云南省昆明市五华区", "五华区", 102.705, 25.044),
    place("130102", "河北省石家庄市长安区", "长安区", 114.539, 38.037),
];

/// Index in [`PLACES`] of the Ürümqi district minority households are registered in.
pub(crate) const MINORITY_PLACE: usize = 13;

const fn place(
    code: &'static str,
    name: &'static str,
    district: &'static str,
    lng: f64,
    lat: f64,
) -> Place {
    Place {
        code,
        name,
        district,
        lng,
        lat,
    }
}

/// The place with division `code`, if it is one of [`PLACES`].
pub fn place_of(code: &str) -> Option<&'static Place> {
    PLACES.iter().find(|p| p.code == code)
}

/// Street names common enough in Chinese cities that none of these addresses points
/// at anyone in particular.
pub(crate) const STREETS: &[&str] = &[
    "幸福路",
    "建设路",
    "人民路",
    "解放路",
    "和平街",
    "光明路",
    "文化路",
    "长江路",
    "新华路",
    "中山路",
    "友谊路",
    "青年路",
    "朝阳街",
    "团结路",
    "胜利街",
    "工农路",
];

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_schema::formats::division_code;

    #[test]
    fn places_are_valid_county_divisions_within_china() {
        for p in PLACES {
            assert_eq!(
                division_code::level(p.code),
                Some(division_code::Level::County),
                "{}",
                p.code
            );
            assert!(p.name.ends_with(p.district));
            assert!((73.0..136.0).contains(&p.lng) && (18.0..54.0).contains(&p.lat));
        }
        assert_eq!(PLACES[MINORITY_PLACE].code, "650102");
        assert_eq!(place_of("440106").map(|p| p.district), Some("天河区"));
    }
}
