//! Parsing of type-level search requests (see [`crate::search::parse_search`]).

use crate::datetime::{self, DateError, Flavor};
use crate::extract::{is_id, is_type_name, relative_reference, url_tail_reference};
use crate::params;
use crate::resource::{type_info, Issue, SearchParamDef, Severity};
use crate::search::{
    fold, Chain, Comparator, Criterion, Include, ParamKind, ParsedSearch, SearchQuery, SortKey,
    StringMode, ValueMatch, DEFAULT_COUNT, MAX_COUNT,
};

fn issue(severity: Severity, code: &'static str, ja: String, en: String) -> Issue {
    Issue {
        severity,
        code,
        expression: String::new(),
        ja,
        en,
    }
}

fn invalid(ja: String, en: String) -> Issue {
    issue(Severity::Error, "value", ja, en)
}

/// Splits on `sep` not escaped with `\`, keeping escapes in the pieces.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

/// Removes the escapes `\,` `\|` `\$` `\\`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Comparator {
    /// The search prefix (`eq`, `ge`…).
    pub fn prefix(self) -> &'static str {
        match self {
            Comparator::Eq => "eq",
            Comparator::Ne => "ne",
            Comparator::Gt => "gt",
            Comparator::Lt => "lt",
            Comparator::Ge => "ge",
            Comparator::Le => "le",
            Comparator::Sa => "sa",
            Comparator::Eb => "eb",
            Comparator::Ap => "ap",
        }
    }

    /// The comparator a prefix names.
    pub fn from_prefix(prefix: &str) -> Option<Comparator> {
        Some(match prefix {
            "eq" => Comparator::Eq,
            "ne" => Comparator::Ne,
            "gt" => Comparator::Gt,
            "lt" => Comparator::Lt,
            "ge" => Comparator::Ge,
            "le" => Comparator::Le,
            "sa" => Comparator::Sa,
            "eb" => Comparator::Eb,
            "ap" => Comparator::Ap,
            _ => return None,
        })
    }
}

/// Splits an optional two-letter prefix off a date or number value.
fn split_prefix(v: &str) -> (Comparator, &str) {
    if v.len() > 2 && v.is_char_boundary(2) {
        if let Some(c) = Comparator::from_prefix(&v[..2]) {
            return (c, &v[2..]);
        }
    }
    (Comparator::Eq, v)
}

/// `[prefix]date` → (comparator, low, high); `ap` widens the range by a tenth of its
/// distance from `now` on each side.
fn parse_date(param: &str, v: &str, now: i64) -> Result<(Comparator, i64, i64), Issue> {
    let (comparator, rest) = split_prefix(v);
    match datetime::range(rest, Flavor::Lenient) {
        Ok((low, high)) => {
            if comparator == Comparator::Ap {
                let gap = if now < low {
                    low - now
                } else if now >= high {
                    now - high
                } else {
                    0
                };
                let widen = gap / 10;
                Ok((
                    comparator,
                    low.saturating_sub(widen),
                    high.saturating_add(widen),
                ))
            } else {
                Ok((comparator, low, high))
            }
        }
        Err(DateError::Calendar) => Err(invalid(
            format!("検索パラメータ {param} の「{v}」は暦に存在しない日付です"),
            format!("'{v}' of search parameter {param} is not a real calendar date"),
        )),
        Err(_) => Err(invalid(
            format!(
                "検索パラメータ {param} の「{v}」は日付として解釈できません（例: ge2024-05-01）"
            ),
            format!("'{v}' of search parameter {param} is not a date (e.g. ge2024-05-01)"),
        )),
    }
}

fn parse_number(param: &str, v: &str, quantity: bool) -> Result<ValueMatch, Issue> {
    let bad = || {
        invalid(
            format!("検索パラメータ {param} の「{v}」は数値として解釈できません"),
            format!("'{v}' of search parameter {param} is not a number"),
        )
    };
    let (comparator, rest) = split_prefix(v);
    let parts = split_escaped(rest, '|');
    let (num, system, code) = match parts.as_slice() {
        [n] => (n.as_str(), None, None),
        [n, s, c] if quantity => {
            let s = unescape(s);
            let c = unescape(c);
            (
                n.as_str(),
                (!s.is_empty()).then_some(s),
                (!c.is_empty()).then_some(c),
            )
        }
        _ => return Err(bad()),
    };
    let ok_chars = !num.is_empty()
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    let value: f64 = match num.parse() {
        Ok(x) if ok_chars && f64::is_finite(x) => x,
        _ => return Err(bad()),
    };
    Ok(ValueMatch::Number {
        comparator,
        value,
        system,
        code,
    })
}

fn parse_token(param: &str, v: &str) -> Result<ValueMatch, Issue> {
    let parts = split_escaped(v, '|');
    match parts.as_slice() {
        [code] => Ok(ValueMatch::Token {
            system: None,
            code: unescape(code),
        }),
        [system, code] if !(system.is_empty() && code.is_empty()) => Ok(ValueMatch::Token {
            system: Some(unescape(system)),
            code: unescape(code),
        }),
        _ => Err(invalid(
            format!(
                "検索パラメータ {param} の「{v}」はトークン（[system]|[code]）として解釈できません"
            ),
            format!("'{v}' of search parameter {param} is not a token ([system]|[code])"),
        )),
    }
}

/// The reference(s) a value names: `Type/id`, an absolute URL ending in `/Type/id`, or a
/// bare id (one value per possible target type).
fn parse_reference(
    def: &SearchParamDef,
    type_modifier: Option<&str>,
    v: &str,
) -> Result<Vec<ValueMatch>, Issue> {
    let param = def.code;
    let allowed = |ty: &str| match type_modifier {
        Some(t) => t == ty,
        None => def.targets.is_empty() || def.targets.contains(&ty),
    };
    let not_allowed = |ty: &str| {
        invalid(
            format!("検索パラメータ {param} は {ty} を参照できません"),
            format!("Search parameter {param} cannot refer to a {ty}"),
        )
    };
    let literal = if v.contains("://") {
        url_tail_reference(v)
    } else if v.contains('/') {
        relative_reference(v)
    } else {
        None
    };
    if let Some(rel) = literal {
        let ty = rel.split('/').next().unwrap_or("");
        return if allowed(ty) {
            Ok(vec![ValueMatch::Reference(rel)])
        } else {
            Err(not_allowed(ty))
        };
    }
    if v.contains('/') || !is_id(v) {
        return Err(invalid(
            format!(
                "検索パラメータ {param} の「{v}」は参照（Type/id または id）として解釈できません"
            ),
            format!("'{v}' of search parameter {param} is not a reference (Type/id or id)"),
        ));
    }
    let types: Vec<&str> = if let Some(t) = type_modifier {
        vec![t]
    } else if param == "patient" {
        vec!["Patient"]
    } else {
        def.targets.to_vec()
    };
    if types.is_empty() {
        return Err(invalid(
            format!("検索パラメータ {param} には Type/id の形で指定してください"),
            format!("Search parameter {param} needs a Type/id value"),
        ));
    }
    Ok(types
        .into_iter()
        .map(|t| ValueMatch::Reference(format!("{t}/{v}")))
        .collect())
}

fn unsupported_modifier(param: &str, modifier: &str) -> Issue {
    issue(
        Severity::Error,
        "not-supported",
        format!("検索パラメータ {param} の修飾子 :{modifier} には対応していません"),
        format!("Modifier :{modifier} of search parameter {param} is not supported"),
    )
}

/// Why a parameter could not be used: unsupported (a warning in lenient mode) or malformed
/// (always an error).
enum Problem {
    Unsupported(Issue),
    Invalid(Issue),
}

/// Parses one search parameter `name[:modifier]=value` of `def`.
fn parse_criterion(
    def: &SearchParamDef,
    modifier: Option<&str>,
    value: &str,
    now: i64,
) -> Result<Criterion, Problem> {
    let param = def.code;
    let mut criterion = Criterion {
        param: param.to_string(),
        negate: false,
        missing: None,
        any_of: Vec::new(),
    };
    let mut string_mode = StringMode::Prefix;
    let mut type_modifier = None;
    match modifier {
        None => {}
        Some("missing") => {
            criterion.missing = Some(match value {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(Problem::Invalid(invalid(
                        format!("{param}:missing の値は true か false です"),
                        format!("{param}:missing takes true or false"),
                    )))
                }
            });
            return Ok(criterion);
        }
        Some("not") if def.kind == ParamKind::Token => criterion.negate = true,
        Some("exact") if def.kind == ParamKind::String => string_mode = StringMode::Exact,
        Some("contains") if def.kind == ParamKind::String => string_mode = StringMode::Contains,
        Some(t) if def.kind == ParamKind::Reference && is_type_name(t) => {
            let known = if def.targets.is_empty() {
                type_info(t).is_some()
            } else {
                def.targets.contains(&t)
            };
            if !known {
                return Err(Problem::Invalid(invalid(
                    format!("検索パラメータ {param} は {t} を参照できません"),
                    format!("Search parameter {param} cannot refer to a {t}"),
                )));
            }
            type_modifier = Some(t);
        }
        Some(m) => return Err(Problem::Unsupported(unsupported_modifier(param, m))),
    }
    for v in split_escaped(value, ',') {
        if v.is_empty() {
            return Err(Problem::Invalid(invalid(
                format!("検索パラメータ {param} に空の値があります"),
                format!("Search parameter {param} has an empty value"),
            )));
        }
        let parsed = match def.kind {
            ParamKind::Token => parse_token(param, &v).map(|m| vec![m]),
            ParamKind::String => {
                let folded = fold(&unescape(&v));
                if folded.is_empty() {
                    Err(invalid(
                        format!("検索パラメータ {param} の値が空白だけです"),
                        format!("Search parameter {param} has a blank value"),
                    ))
                } else {
                    Ok(vec![ValueMatch::String {
                        value: folded,
                        mode: string_mode,
                    }])
                }
            }
            ParamKind::Date => parse_date(param, &v, now).map(|(comparator, low, high)| {
                vec![ValueMatch::Date {
                    comparator,
                    low,
                    high,
                }]
            }),
            ParamKind::Reference => parse_reference(def, type_modifier, &unescape(&v)),
            ParamKind::Number => parse_number(param, &v, false).map(|m| vec![m]),
            ParamKind::Quantity => parse_number(param, &v, true).map(|m| vec![m]),
            ParamKind::Uri => Ok(vec![ValueMatch::Uri(unescape(&v))]),
        };
        criterion.any_of.extend(parsed.map_err(Problem::Invalid)?);
    }
    Ok(criterion)
}

fn unknown_param(resource_type: &str, name: &str, lenient: bool) -> Issue {
    issue(
        if lenient {
            Severity::Warning
        } else {
            Severity::Error
        },
        "not-supported",
        format!("{resource_type} の検索パラメータ {name} には対応していません"),
        format!("Search parameter {name} is not supported for {resource_type}"),
    )
}

fn parse_include(resource_type: &str, value: &str, reverse: bool) -> Result<Include, Problem> {
    let name = if reverse { "_revinclude" } else { "_include" };
    if value.contains('*') {
        return Err(Problem::Unsupported(issue(
            Severity::Error,
            "not-supported",
            format!("{name} のワイルドカード（*）には対応していません"),
            format!("Wildcard {name} (*) is not supported"),
        )));
    }
    let parts: Vec<&str> = value.split(':').collect();
    let (source, param, target) = match parts.as_slice() {
        [s, p] => (*s, *p, None),
        [s, p, t] => (*s, *p, Some(*t)),
        _ => {
            return Err(Problem::Invalid(invalid(
                format!("{name} の値「{value}」は Source:param[:Target] の形式ではありません"),
                format!("{name} value '{value}' is not Source:param[:Target]"),
            )))
        }
    };
    let bad = |ja: String, en: String| Err(Problem::Invalid(invalid(ja, en)));
    if type_info(source).is_none() {
        return bad(
            format!("{name}: リソース型 {source} には対応していません"),
            format!("{name}: resource type {source} is not supported"),
        );
    }
    if !reverse && source != resource_type {
        return bad(
            format!("{name} の起点は {resource_type} でなければなりません（{value}）"),
            format!("{name} must start from {resource_type} ({value})"),
        );
    }
    let Some(def) = params::find(source, param).filter(|d| d.kind == ParamKind::Reference) else {
        return bad(
            format!("{name}: {source} に参照型の検索パラメータ {param} はありません"),
            format!("{name}: {source} has no reference search parameter {param}"),
        );
    };
    if let Some(t) = target {
        let ok = if def.targets.is_empty() {
            type_info(t).is_some()
        } else {
            def.targets.contains(&t)
        };
        if !ok || (reverse && t != resource_type) {
            return bad(
                format!("{name}: {source}:{param} は {t} を参照できません"),
                format!("{name}: {source}:{param} cannot refer to a {t}"),
            );
        }
    }
    if reverse && !def.targets.is_empty() && !def.targets.contains(&resource_type) {
        return bad(
            format!("{name}: {source}:{param} は {resource_type} を参照しません"),
            format!("{name}: {source}:{param} does not refer to {resource_type}"),
        );
    }
    Ok(Include {
        source_type: source.to_string(),
        param: param.to_string(),
        target_type: target.map(str::to_string),
    })
}

/// `param[:Type].target[:modifier]=value`.
fn parse_chain(
    resource_type: &str,
    key: &str,
    value: &str,
    now: i64,
    lenient: bool,
) -> Result<Chain, Problem> {
    let (head, target_param) = key.split_once('.').unwrap_or((key, ""));
    if target_param.contains('.') {
        return Err(Problem::Unsupported(issue(
            Severity::Error,
            "not-supported",
            format!("検索パラメータ {key}: 二段階以上の連鎖（chain）には対応していません"),
            format!("Search parameter {key}: chains of more than one level are not supported"),
        )));
    }
    let (param, type_modifier) = match head.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (head, None),
    };
    let Some(def) = params::find(resource_type, param) else {
        return Err(Problem::Unsupported(unknown_param(
            resource_type,
            param,
            lenient,
        )));
    };
    let bad = |ja: String, en: String| Problem::Invalid(invalid(ja, en));
    if def.kind != ParamKind::Reference {
        return Err(bad(
            format!("検索パラメータ {param} は参照型ではないため連鎖できません"),
            format!("Search parameter {param} is not a reference and cannot be chained"),
        ));
    }
    let target_name = target_param.split(':').next().unwrap_or("");
    let has_param = |ty: &str| target_name == "_id" || params::find(ty, target_name).is_some();
    let target_type = match type_modifier {
        Some(t) => {
            let ok = type_info(t).is_some() && (def.targets.is_empty() || def.targets.contains(&t));
            if !ok {
                return Err(bad(
                    format!("検索パラメータ {param} は {t} を参照できません"),
                    format!("Search parameter {param} cannot refer to a {t}"),
                ));
            }
            t
        }
        None if param == "patient" => "Patient",
        None if def.targets.len() == 1 => def.targets[0],
        None => {
            let candidates: Vec<&str> = def
                .targets
                .iter()
                .copied()
                .filter(|t| type_info(t).is_some() && has_param(t))
                .collect();
            match candidates.as_slice() {
                [one] => *one,
                _ => {
                    return Err(bad(
                        format!("検索パラメータ {key}: 参照先の型を {param}:Type.{target_param} の形で指定してください"),
                        format!("Search parameter {key}: name the target type as {param}:Type.{target_param}"),
                    ))
                }
            }
        }
    };
    if type_info(target_type).is_none() {
        return Err(Problem::Unsupported(issue(
            Severity::Error,
            "not-supported",
            format!("検索パラメータ {key}: リソース型 {target_type} には対応していません"),
            format!("Search parameter {key}: resource type {target_type} is not supported"),
        )));
    }
    // Check the value now, the way the caller will search the target type.
    let modifier = target_param.split_once(':').map(|(_, m)| m);
    if target_name == "_id" {
        if modifier.is_some() || !split_escaped(value, ',').iter().all(|v| is_id(v)) {
            return Err(bad(
                format!("検索パラメータ {key} の「{value}」は ID として正しくありません"),
                format!("'{value}' of search parameter {key} is not a valid id"),
            ));
        }
    } else {
        let Some(target_def) = params::find(target_type, target_name) else {
            return Err(Problem::Unsupported(unknown_param(
                target_type,
                target_name,
                lenient,
            )));
        };
        parse_criterion(target_def, modifier, value, now)?;
    }
    Ok(Chain {
        param: param.to_string(),
        target_type: target_type.to_string(),
        target_param: target_param.to_string(),
        value: value.to_string(),
    })
}

/// Whether `_sort` may name `param` of `resource_type`.
fn sortable(resource_type: &str, param: &str) -> bool {
    param == "_lastUpdated"
        || param == "_id"
        || params::find(resource_type, param).is_some_and(|d| {
            matches!(
                d.kind,
                ParamKind::Date
                    | ParamKind::String
                    | ParamKind::Token
                    | ParamKind::Number
                    | ParamKind::Quantity
            )
        })
}

/// See [`crate::search::parse_search`]; `now` (epoch milliseconds) is used by `ap`.
pub(crate) fn parse(
    resource_type: &str,
    params: &[(String, String)],
    lenient: bool,
    now: i64,
) -> Result<(ParsedSearch, Vec<Issue>), Vec<Issue>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if type_info(resource_type).is_none() {
        return Err(vec![issue(
            Severity::Error,
            "not-supported",
            format!("リソース型 {resource_type} には対応していません"),
            format!("Resource type {resource_type} is not supported"),
        )]);
    }
    let mut parsed = ParsedSearch {
        query: SearchQuery {
            resource_type: resource_type.to_string(),
            ids: Vec::new(),
            criteria: Vec::new(),
            last_updated: Vec::new(),
            sort: Vec::new(),
            count: DEFAULT_COUNT,
            offset: 0,
            want_total: true,
        },
        includes: Vec::new(),
        revincludes: Vec::new(),
        chains: Vec::new(),
        summary_count: false,
    };
    let mut ids_given = false;
    let problem = |p: Problem, errors: &mut Vec<Issue>, warnings: &mut Vec<Issue>| match p {
        Problem::Unsupported(mut i) if lenient => {
            i.severity = Severity::Warning;
            warnings.push(i);
        }
        Problem::Unsupported(mut i) | Problem::Invalid(mut i) => {
            i.severity = Severity::Error;
            errors.push(i);
        }
    };
    let q = &mut parsed.query;
    for (key, value) in params {
        let key = key.as_str();
        let value = value.as_str();
        let (name, modifier) = match key.split_once(':') {
            Some((n, m)) if !key.contains('.') => (n, Some(m)),
            _ => (key, None),
        };
        let plain = |errors: &mut Vec<Issue>| {
            if modifier.is_some() {
                errors.push(invalid(
                    format!("{name} に修飾子は使えません"),
                    format!("{name} takes no modifier"),
                ));
                false
            } else {
                true
            }
        };
        match name {
            "_format" | "_pretty" => {}
            "_id" => {
                if !plain(&mut errors) || value.is_empty() {
                    continue;
                }
                if ids_given {
                    errors.push(invalid(
                        "_id は一度だけ指定できます（複数はカンマ区切り）".into(),
                        "_id may be given once (use a comma list)".into(),
                    ));
                    continue;
                }
                ids_given = true;
                for id in value.split(',') {
                    if is_id(id) {
                        q.ids.push(id.to_string());
                    } else {
                        errors.push(invalid(
                            format!("_id の「{id}」は ID として正しくありません"),
                            format!("'{id}' of _id is not a valid id"),
                        ));
                    }
                }
            }
            "_lastUpdated" => {
                if !plain(&mut errors) || value.is_empty() {
                    continue;
                }
                if value.contains(',') {
                    errors.push(invalid(
                        "_lastUpdated に複数の値（カンマ）は使えません".into(),
                        "_lastUpdated takes a single value (no comma)".into(),
                    ));
                    continue;
                }
                match parse_date("_lastUpdated", value, now) {
                    Ok(t) => q.last_updated.push(t),
                    Err(i) => errors.push(i),
                }
            }
            "_sort" => {
                if !plain(&mut errors) || value.is_empty() {
                    continue;
                }
                for item in value.split(',') {
                    let (param, descending) = match item.strip_prefix('-') {
                        Some(p) => (p, true),
                        None => (item, false),
                    };
                    if sortable(resource_type, param) {
                        q.sort.push(SortKey {
                            param: param.to_string(),
                            descending,
                        });
                    } else {
                        errors.push(invalid(
                            format!("_sort: {resource_type} は {param} で並べ替えできません"),
                            format!("_sort: {resource_type} cannot be sorted by {param}"),
                        ));
                    }
                }
            }
            "_count" | "_offset" => {
                if !plain(&mut errors) {
                    continue;
                }
                match value.parse::<usize>() {
                    Ok(n) if name == "_offset" => q.offset = n,
                    Ok(n) if n > MAX_COUNT => {
                        q.count = MAX_COUNT;
                        warnings.push(issue(
                            Severity::Warning,
                            "processing",
                            format!("_count={n} は上限 {MAX_COUNT} に切り詰めました"),
                            format!("_count={n} was capped at {MAX_COUNT}"),
                        ));
                    }
                    Ok(n) => q.count = n,
                    Err(_) => errors.push(invalid(
                        format!("{name} の「{value}」は 0 以上の整数ではありません"),
                        format!("'{value}' of {name} is not a non-negative integer"),
                    )),
                }
            }
            "_total" => {
                if !plain(&mut errors) {
                    continue;
                }
                match value {
                    "none" => q.want_total = false,
                    "estimate" | "accurate" => q.want_total = true,
                    _ => errors.push(invalid(
                        format!("_total の「{value}」は none・estimate・accurate のいずれでもありません"),
                        format!("'{value}' of _total is not none, estimate or accurate"),
                    )),
                }
            }
            "_summary" => {
                if !plain(&mut errors) {
                    continue;
                }
                match value {
                    "count" => parsed.summary_count = true,
                    "false" => {}
                    "true" | "text" | "data" => problem(
                        Problem::Unsupported(issue(
                            Severity::Error,
                            "not-supported",
                            format!("_summary={value} には対応していません"),
                            format!("_summary={value} is not supported"),
                        )),
                        &mut errors,
                        &mut warnings,
                    ),
                    _ => errors.push(invalid(
                        format!("_summary の「{value}」は正しくありません"),
                        format!("'{value}' of _summary is not valid"),
                    )),
                }
            }
            "_include" | "_revinclude" => {
                if let Some(m) = modifier {
                    problem(
                        Problem::Unsupported(unsupported_modifier(name, m)),
                        &mut errors,
                        &mut warnings,
                    );
                    continue;
                }
                let reverse = name == "_revinclude";
                match parse_include(resource_type, value, reverse) {
                    Ok(inc) if reverse => parsed.revincludes.push(inc),
                    Ok(inc) => parsed.includes.push(inc),
                    Err(p) => problem(p, &mut errors, &mut warnings),
                }
            }
            _ if key.contains('.') && !key.starts_with('_') => {
                if value.is_empty() {
                    continue;
                }
                match parse_chain(resource_type, key, value, now, lenient) {
                    Ok(c) => parsed.chains.push(c),
                    Err(p) => problem(p, &mut errors, &mut warnings),
                }
            }
            _ => {
                let Some(def) = params::find(resource_type, name) else {
                    problem(
                        Problem::Unsupported(unknown_param(resource_type, name, lenient)),
                        &mut errors,
                        &mut warnings,
                    );
                    continue;
                };
                if value.is_empty() {
                    // An empty parameter is ignored.
                    continue;
                }
                match parse_criterion(def, modifier, value, now) {
                    Ok(c) => q.criteria.push(c),
                    Err(p) => problem(p, &mut errors, &mut warnings),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok((parsed, warnings))
    } else {
        Err(errors)
    }
}
