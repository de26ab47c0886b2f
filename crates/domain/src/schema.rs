//! The OpenAPI schemas of the types that serialise themselves (codes, ID numbers, money), so that
//! the API document describes what the server really sends: `RegionCode` is a string of 12
//! digits, `Money` an integer number of fen.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

/// A string matching `pattern`.
pub fn text(pattern: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description)).into()
}

/// An amount in fen (分), never negative.
pub fn fen() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .description(Some("An amount in fen (1 yuan = 100 fen)"))
        .into()
}
