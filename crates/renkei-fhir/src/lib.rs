//! FHIR R4 (JP Core) without HTTP or SQL.
//!
//! * [`resource`]: the resource types Renkei stores, their JP Core profiles, structural
//!   validation and the information category (for the access decision) of each resource.
//! * [`search`]: the search parameters of each type, the index values extracted from a
//!   resource at write time ([`IndexEntry`]) and the parsed form of a search request
//!   ([`SearchQuery`]) that storage executes.
//! * [`outcome`]: OperationOutcome construction.

pub mod category;
pub mod outcome;
pub mod resource;
pub mod search;

mod datetime;
mod extract;
mod fhirpath;
mod params;
mod query;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

pub use search::{
    Chain, Comparator, Criterion, Include, IndexEntry, IndexValue, ParamKind, ParsedSearch,
    SearchQuery, SortKey, StringMode, ValueMatch,
};
