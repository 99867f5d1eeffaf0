//! Search parameters, index extraction and parsed queries.
//!
//! Index values are computed once at write time from the resource JSON and stored beside it;
//! a search never parses stored JSON. Strings are folded with [`fold`] (NFKC, katakana,
//! lower case, no spaces) so hiragana/katakana and half/full-width queries meet.
//!
//! # Conventions for executing a [`SearchQuery`]
//!
//! [`ValueMatch::matches`] and [`Criterion::matches`] are the reference semantics; in short:
//!
//! * **Criteria** are ANDed (a repeated parameter gives one [`Criterion`] each); the values of
//!   one criterion (`any_of`, from a comma list) are ORed. A resource matches a value when
//!   *any* of its index entries for `param` matches.
//! * **`:missing`**: `Criterion::missing = Some(true)` (the resource has no index entry for
//!   `param`) or `Some(false)` (it has at least one); `any_of` is then empty and `negate`
//!   false.
//! * **`:not`** (tokens): `negate = true`: the resource matches when *none* of its entries
//!   matches any value — resources without the element match too.
//! * **Tokens**: `system: None` = any system (`code`); `Some("")` = entries without a system
//!   (`|code`); `Some(sys)` with `code` empty = any code of that system (`sys|`). Codes and
//!   systems compare exactly (case-sensitive). Index entries always have a system string,
//!   empty when the element has none.
//! * **Strings**: the search value is already folded; `Prefix` = stored value starts with it,
//!   `Exact` = equal (folded, so `:exact` ignores kana type, width and case), `Contains`.
//! * **References**: exact `Type/id`. A bare id was expanded to one value per target type of
//!   the parameter (`patient` → Patient only), an absolute URL cut to its `Type/id` tail.
//!   Only relative references are indexed.
//! * **Dates**: index entries and search values are ranges `[low, high)` in epoch
//!   milliseconds (UTC; a value without a zone — a date, or a zone-less search value — is
//!   taken as Japan time, UTC+09:00, so `2024-05-01` covers `[2024-05-01T00:00+09:00,
//!   2024-05-02T00:00+09:00)`; a Period without an end has `high = i64::MAX`, without a start
//!   `low = i64::MIN`). With the search range `[low, high)`
//!   and a stored range `[vl, vh)` (see [`date_matches`]):
//!   `eq`: `low <= vl && vh <= high`; `ne`: not eq; `gt`: `vh > high`; `lt`: `vl < low`;
//!   `ge`: `vh > low`; `le`: `vl < high`; `sa`: `vl >= high`; `eb`: `vh <= low`;
//!   `ap`: the ranges overlap (the search range was already widened by 10 % of its distance
//!   from now on each side). `_lastUpdated` tuples `(comparator, low, high)` compare the
//!   same way against the instant `[t, t + 1 ms)`.
//! * **Numbers / quantities**: `system`/`code` `None` = any; quantity index entries carry the
//!   unit `code` (or `unit` text when there is no code). `eq`/`ne` compare exactly,
//!   `gt`/`sa`, `lt`/`eb`, `ge`, `le` as usual, `ap` within ±10 % of the value.
//! * **Chains** are not criteria: for each [`Chain`] the caller searches `target_type` with
//!   `(target_param, value)` (already validated; `target_param` may carry a modifier) and
//!   adds a reference criterion on `param` listing the hits.

use serde::{Deserialize, Serialize};

/// What kind of value a search parameter holds (FHIR search parameter types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamKind {
    Token,
    String,
    Date,
    Reference,
    Number,
    Quantity,
    Uri,
}

/// One value of one search parameter of a stored resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The search parameter code, e.g. `code`, `patient`, `date`.
    pub param: String,
    pub value: IndexValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IndexValue {
    /// Coding, Identifier, code, boolean (`true`/`false`), ContactPoint value.
    /// `system` is empty when the element has none.
    Token { system: String, code: String },
    /// Folded text (see [`fold`]).
    String(String),
    /// The instant range the element covers, in milliseconds since the epoch, inclusive
    /// low and exclusive high (a date `2024-05-01` covers the whole Japan day,
    /// `[2024-05-01T00:00+09:00, 2024-05-02T00:00+09:00)`).
    Date { low: i64, high: i64 },
    /// A relative reference `Type/id`.
    Reference(String),
    /// A number or the value of a Quantity (with its unit code in `code` and `system`).
    Number {
        value: f64,
        system: String,
        code: String,
    },
    /// A canonical or uri.
    Uri(String),
}

/// A comparison prefix of a date, number or quantity search (`ge2024-01-01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// What one criterion matches against the stored index values of `param`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ValueMatch {
    /// `system|code`, `|code` (no system: `system` = Some("")), `code` (any system: None).
    Token {
        system: Option<String>,
        code: String,
    },
    /// `:missing` is handled by [`Criterion::missing`]; this is a folded prefix
    /// (`exact` = the `:exact` modifier, compared folded but whole, or `:contains`).
    String {
        value: String,
        mode: StringMode,
    },
    /// Ranges per FHIR date search semantics over [low, high).
    Date {
        comparator: Comparator,
        low: i64,
        high: i64,
    },
    /// `Type/id`.
    Reference(String),
    Number {
        comparator: Comparator,
        value: f64,
        system: Option<String>,
        code: Option<String>,
    },
    Uri(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StringMode {
    Prefix,
    Exact,
    Contains,
}

/// One search parameter as given: the values are ORed (comma), the criteria ANDed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub param: String,
    /// `:not` on a token: none of the values may match.
    pub negate: bool,
    /// `:missing=true|false`: the resource has (false) or lacks (true) any value for `param`.
    pub missing: Option<bool>,
    pub any_of: Vec<ValueMatch>,
}

/// A sort key: a search parameter (date, string, token or number) or `_lastUpdated`/`_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    pub param: String,
    pub descending: bool,
}

/// A parsed type-level search, ready for storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub resource_type: String,
    /// `_id`
    pub ids: Vec<String>,
    pub criteria: Vec<Criterion>,
    /// `_lastUpdated` comparisons (ANDed).
    pub last_updated: Vec<(Comparator, i64, i64)>,
    pub sort: Vec<SortKey>,
    /// `_count`
    pub count: usize,
    /// Offset of the page (from the `_offset` of a `next` link).
    pub offset: usize,
    /// `_total=accurate` (default) or none.
    pub want_total: bool,
}

/// Folds text for string search: NFKC, hiragana → katakana, lower case, spaces removed.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfkc()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            // Hiragana ぁ..ゖ and ゝゞ → katakana
            '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_meets_hiragana_katakana_and_widths() {
        assert_eq!(fold("やまだ タロウ"), fold("ﾔﾏﾀﾞﾀﾛｳ"));
        assert_eq!(fold("ＹＡＭＡＤＡ"), "yamada");
        assert_ne!(fold("やまだ"), fold("やまざき"));
    }
}

/// `_include` / `_revinclude` as given: `Source:param[:Target]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Include {
    pub source_type: String,
    pub param: String,
    pub target_type: Option<String>,
}

/// A chained parameter (`patient.identifier=sys|val`, `subject:Patient.name=…`): the caller
/// searches `target_type` with `target_param=value` and turns the hits into a reference
/// criterion on `param`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub param: String,
    pub target_type: String,
    pub target_param: String,
    pub value: String,
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedSearch {
    pub query: SearchQuery,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    pub chains: Vec<Chain>,
    /// `_summary=count`
    pub summary_count: bool,
}

/// Default and maximum `_count`.
pub const DEFAULT_COUNT: usize = 50;
pub const MAX_COUNT: usize = 1000;

/// Parses the query parameters (already percent-decoded) of a type-level search.
/// Unknown parameters are errors (`handling=strict`, the default) or skipped
/// (`lenient = true`, `Prefer: handling=lenient`), each skipped one reported as a warning;
/// malformed values of known parameters are errors either way. `Ok` carries the warnings
/// (skipped parameters, `_count` capped).
///
/// See the module documentation for the representation conventions of the result.
pub fn parse_search(
    resource_type: &str,
    params: &[(String, String)],
    lenient: bool,
) -> Result<(ParsedSearch, Vec<crate::resource::Issue>), Vec<crate::resource::Issue>> {
    crate::query::parse(
        resource_type,
        params,
        lenient,
        chrono::Utc::now().timestamp_millis(),
    )
}

/// Index values of `resource` for every search parameter of its type
/// ([`crate::resource::search_params`], `identifier` included), deduplicated per parameter.
pub fn extract(resource: &serde_json::Value) -> Vec<IndexEntry> {
    crate::extract::extract(resource)
}

/// Whether a stored date range `[value_low, value_high)` satisfies `comparator` against the
/// search range `[low, high)` (see the module documentation).
pub fn date_matches(
    comparator: Comparator,
    low: i64,
    high: i64,
    value_low: i64,
    value_high: i64,
) -> bool {
    let eq = low <= value_low && value_high <= high;
    match comparator {
        Comparator::Eq => eq,
        Comparator::Ne => !eq,
        Comparator::Gt => value_high > high,
        Comparator::Lt => value_low < low,
        Comparator::Ge => value_high > low,
        Comparator::Le => value_low < high,
        Comparator::Sa => value_low >= high,
        Comparator::Eb => value_high <= low,
        Comparator::Ap => value_low < high && value_high > low,
    }
}

/// Whether a stored number satisfies `comparator` against `value`.
pub fn number_matches(comparator: Comparator, value: f64, stored: f64) -> bool {
    match comparator {
        Comparator::Eq => stored == value,
        Comparator::Ne => stored != value,
        Comparator::Gt | Comparator::Sa => stored > value,
        Comparator::Lt | Comparator::Eb => stored < value,
        Comparator::Ge => stored >= value,
        Comparator::Le => stored <= value,
        Comparator::Ap => (stored - value).abs() <= (value * 0.1).abs(),
    }
}

impl ValueMatch {
    /// Whether one stored index value matches this search value: the reference semantics
    /// storage implements in SQL.
    pub fn matches(&self, stored: &IndexValue) -> bool {
        match (self, stored) {
            (ValueMatch::Token { system, code }, IndexValue::Token { system: s, code: c }) => {
                system.as_ref().is_none_or(|sys| sys == s)
                    && (code.is_empty() && system.is_some() || code == c)
            }
            (ValueMatch::String { value, mode }, IndexValue::String(s)) => match mode {
                StringMode::Prefix => s.starts_with(value.as_str()),
                StringMode::Exact => s == value,
                StringMode::Contains => s.contains(value.as_str()),
            },
            (
                ValueMatch::Date {
                    comparator,
                    low,
                    high,
                },
                IndexValue::Date { low: vl, high: vh },
            ) => date_matches(*comparator, *low, *high, *vl, *vh),
            (ValueMatch::Reference(r), IndexValue::Reference(s)) => r == s,
            (
                ValueMatch::Number {
                    comparator,
                    value,
                    system,
                    code,
                },
                IndexValue::Number {
                    value: v,
                    system: s,
                    code: c,
                },
            ) => {
                system.as_ref().is_none_or(|x| x == s)
                    && code.as_ref().is_none_or(|x| x == c)
                    && number_matches(*comparator, *value, *v)
            }
            (ValueMatch::Uri(u), IndexValue::Uri(s)) => u == s,
            _ => false,
        }
    }
}

impl Criterion {
    /// Whether a resource whose index values for `self.param` are `stored` satisfies the
    /// criterion (`:missing`, `:not` and the OR of `any_of`).
    pub fn matches(&self, stored: &[IndexValue]) -> bool {
        if let Some(missing) = self.missing {
            return stored.is_empty() == missing;
        }
        let hit = stored
            .iter()
            .any(|v| self.any_of.iter().any(|m| m.matches(v)));
        hit != self.negate
    }
}
