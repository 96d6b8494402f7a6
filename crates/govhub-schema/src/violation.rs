use govhub_core::Violation;

/// A jsonschema error as a [`Violation`], with the instance value masked.
pub(crate) fn violation(error: &jsonschema::ValidationError<'_>) -> Violation {
    Violation {
        instance_path: error.instance_path().to_string(),
        schema_path: error.schema_path().to_string(),
        keyword: error.kind().keyword().to_owned(),
        message: error.masked().to_string(),
    }
}
