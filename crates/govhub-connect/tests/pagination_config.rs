//! Every pagination style as it is written in the hub's TOML, and the problems a connector
//! config reports for each, by field path.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use govhub_connect::pagination::{
    CursorTokenConfig, LinkHeaderConfig, OffsetLimitConfig, PageNumberConfig, UpdatedSinceConfig,
};
use govhub_connect::{HttpSourceConfig, PaginationConfig};

fn connector(pagination: &str) -> Result<HttpSourceConfig, toml::de::Error> {
    toml::from_str(&format!(
        r#"
department = "civil_affairs"
kind = "civil_affairs.case"
url = "https://mca.example/api/cases"
records = "/data/list"
record_id = "/case_id"

[pagination]
{pagination}
"#
    ))
}

fn problems(pagination: &str) -> Vec<String> {
    connector(pagination)
        .unwrap()
        .problems()
        .into_iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect()
}

#[test]
fn the_page_number_shape_of_the_example_config_is_unchanged() {
    let c = connector(
        r#"style = "page_number"
page_param = "page"
size_param = "size"
page_size = 100
first_page = 1"#,
    )
    .unwrap();
    assert_eq!(
        c.pagination,
        PaginationConfig::PageNumber(PageNumberConfig::default())
    );
    assert!(c.problems().is_empty());
}

#[test]
fn each_style_parses_with_its_defaults() {
    let c = connector(r#"style = "offset_limit""#).unwrap();
    assert_eq!(
        c.pagination,
        PaginationConfig::OffsetLimit(OffsetLimitConfig::default())
    );

    let c = connector(
        r#"style = "link_header"
first_query = { limit = 50, status = "closed", archived = false }"#,
    )
    .unwrap();
    let PaginationConfig::LinkHeader(LinkHeaderConfig { first_query }) = c.pagination else {
        panic!("{:?}", c.pagination)
    };
    assert_eq!(first_query["limit"], "50");
    assert_eq!(first_query["status"], "closed");
    assert_eq!(first_query["archived"], "false");

    let c = connector(
        r#"style = "cursor_token"
token_param = "cursor"
next_token = "/data/next_cursor""#,
    )
    .unwrap();
    let PaginationConfig::CursorToken(CursorTokenConfig {
        size_param,
        page_size,
        ..
    }) = c.pagination
    else {
        panic!("{:?}", c.pagination)
    };
    assert_eq!((size_param, page_size.get()), (None, 100));

    let c = connector(
        r#"style = "updated_since"
param = "updated_since"
timestamp_field = "/updated_at"
id_field = "/case_id"
id_param = "after_id"
size_param = "page_size"
page_size = 200"#,
    )
    .unwrap();
    let PaginationConfig::UpdatedSince(UpdatedSinceConfig {
        id_param,
        page_size,
        ..
    }) = c.pagination
    else {
        panic!("{:?}", c.pagination)
    };
    assert_eq!(
        (id_param.as_deref(), page_size.get()),
        (Some("after_id"), 200)
    );
}

#[test]
fn unknown_fields_missing_fields_and_zero_page_sizes_are_refused_when_parsed() {
    for bad in [
        r#"style = "offset_limit"
limit = 10"#,
        r#"style = "offset_limit"
page_size = 0"#,
        r#"style = "cursor_token"
token_param = "cursor""#,
        r#"style = "updated_since"
param = "since"
timestamp_field = "/updated_at""#,
        r#"style = "link_header"
first_query = { limit = [1] }"#,
        r#"style = "scroll""#,
    ] {
        assert!(connector(bad).is_err(), "{bad}");
    }
}

#[test]
fn problems_name_the_field() {
    assert_eq!(
        problems(
            r#"style = "offset_limit"
offset_param = "from"
limit_param = "from""#
        ),
        ["pagination.limit_param: must differ from offset_param"]
    );
    assert_eq!(
        problems(
            r#"style = "link_header"
first_query = { "" = 1 }"#
        ),
        ["pagination.first_query: parameter names must not be empty"]
    );
    assert_eq!(
        problems(
            r#"style = "cursor_token"
token_param = " "
next_token = "data.next""#
        ),
        [
            "pagination.token_param: must not be empty",
            "pagination.next_token: must be a JSON pointer starting with \"/\"",
        ]
    );
    assert_eq!(
        problems(
            r#"style = "updated_since"
param = "since"
timestamp_field = "updated_at"
id_field = ""
id_param = "since"
size_param = "since""#
        ),
        [
            "pagination.id_param: must differ from param",
            "pagination.size_param: must differ from param",
            "pagination.timestamp_field: must be a JSON pointer starting with \"/\"",
            "pagination.id_field: must be a JSON pointer starting with \"/\"",
        ]
    );
}
