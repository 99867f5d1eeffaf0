//! Index values of a resource for its search parameters (see [`crate::search::extract`]).

use crate::datetime::{self, Flavor};
use crate::fhirpath::{self, Node};
use crate::search::{fold, IndexEntry, IndexValue, ParamKind};
use serde_json::Value;

/// Whether `id` is a valid FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`).
pub(crate) fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `ty` looks like a resource type name.
pub(crate) fn is_type_name(ty: &str) -> bool {
    ty.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `Type/id` of a relative literal reference (`Type/id` or `Type/id/_history/v`).
pub(crate) fn relative_reference(reference: &str) -> Option<String> {
    let mut parts = reference.split('/');
    let ty = parts.next()?;
    let id = parts.next()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => {}
        (Some("_history"), Some(v), None) if is_id(v) => {}
        _ => return None,
    }
    (is_type_name(ty) && is_id(id)).then(|| format!("{ty}/{id}"))
}

/// `Type/id` at the end of an absolute URL (`https://host/fhir/Type/id[/_history/v]`).
pub(crate) fn url_tail_reference(url: &str) -> Option<String> {
    let trimmed = url.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    let n = parts.len();
    if n >= 4 && parts[n - 2] == "_history" {
        return relative_reference(&format!("{}/{}", parts[n - 4], parts[n - 3]));
    }
    if n >= 2 {
        return relative_reference(&format!("{}/{}", parts[n - 2], parts[n - 1]));
    }
    None
}

fn token(system: &str, code: &str) -> IndexValue {
    IndexValue::Token {
        system: system.to_string(),
        code: code.to_string(),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn coding_token(c: &Value, out: &mut Vec<IndexValue>) {
    if let Some(code) = str_field(c, "code") {
        out.push(token(str_field(c, "system").unwrap_or(""), code));
    }
}

fn tokens(node: Node<'_>, out: &mut Vec<IndexValue>) {
    match node.value {
        Value::String(s) => out.push(token("", s)),
        Value::Bool(b) => out.push(token("", if *b { "true" } else { "false" })),
        Value::Object(o) => {
            if let Some(codings) = o.get("coding").and_then(Value::as_array) {
                for c in codings {
                    coding_token(c, out);
                }
            } else if node.key == "telecom" {
                if let Some(v) = str_field(node.value, "value") {
                    out.push(token("", v));
                }
            } else if o.contains_key("value") && !o.contains_key("code") {
                if let Some(v) = str_field(node.value, "value") {
                    out.push(token(str_field(node.value, "system").unwrap_or(""), v));
                }
            } else {
                coding_token(node.value, out);
            }
        }
        _ => {}
    }
}

fn strings_of(v: &Value, keys: &[&str], parts: &mut Vec<String>) {
    for k in keys {
        match v.get(*k) {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Array(items)) => {
                parts.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
}

fn strings(node: Node<'_>, out: &mut Vec<IndexValue>) {
    let v = node.value;
    let mut push = |s: &str| {
        let f = fold(s);
        if !f.is_empty() {
            out.push(IndexValue::String(f));
        }
    };
    match v {
        Value::String(s) => push(s),
        Value::Object(o) => {
            let mut parts = Vec::new();
            if o.contains_key("family") || o.contains_key("given") {
                // HumanName: each part, the whole (family first, as written in Japan), text.
                strings_of(v, &["prefix", "family", "given", "suffix"], &mut parts);
                let mut whole = Vec::new();
                strings_of(v, &["family", "given"], &mut whole);
                if whole.len() > 1 {
                    parts.push(whole.join(""));
                }
                strings_of(v, &["text"], &mut parts);
            } else if ["line", "city", "district", "state", "postalCode", "country"]
                .iter()
                .any(|k| o.contains_key(*k))
            {
                strings_of(
                    v,
                    &["postalCode", "state", "city", "district", "line", "country"],
                    &mut parts,
                );
                let mut whole = Vec::new();
                strings_of(v, &["state", "city", "district", "line"], &mut whole);
                if whole.len() > 1 {
                    parts.push(whole.join(""));
                }
                strings_of(v, &["text"], &mut parts);
            } else {
                strings_of(v, &["text", "display"], &mut parts);
            }
            for p in &parts {
                push(p);
            }
        }
        _ => {}
    }
}

/// The range of a date/dateTime/instant string or a Period, leniently.
pub(crate) fn date_range(v: &Value) -> Option<(i64, i64)> {
    match v {
        Value::String(s) => datetime::range(s, Flavor::Lenient).ok(),
        Value::Object(o) => {
            let start = o.get("start").and_then(Value::as_str);
            let end = o.get("end").and_then(Value::as_str);
            if start.is_none() && end.is_none() {
                return None;
            }
            let low = match start {
                Some(s) => datetime::range(s, Flavor::Lenient).ok()?.0,
                None => i64::MIN,
            };
            let high = match end {
                Some(s) => datetime::range(s, Flavor::Lenient).ok()?.1,
                None => i64::MAX,
            };
            Some((low, high))
        }
        _ => None,
    }
}

fn numbers(node: Node<'_>, out: &mut Vec<IndexValue>) {
    match node.value {
        Value::Number(n) => {
            if let Some(value) = n.as_f64() {
                out.push(IndexValue::Number {
                    value,
                    system: String::new(),
                    code: String::new(),
                });
            }
        }
        Value::Object(_) => {
            if let Some(value) = node.value.get("value").and_then(Value::as_f64) {
                let code = str_field(node.value, "code")
                    .or_else(|| str_field(node.value, "unit"))
                    .unwrap_or("");
                out.push(IndexValue::Number {
                    value,
                    system: str_field(node.value, "system").unwrap_or("").to_string(),
                    code: code.to_string(),
                });
            }
        }
        _ => {}
    }
}

/// Values of one expression of kind `kind` in `resource`.
pub(crate) fn values(resource: &Value, kind: ParamKind, expression: &str) -> Vec<IndexValue> {
    let mut out = Vec::new();
    for node in fhirpath::eval(resource, expression) {
        match kind {
            ParamKind::Token => tokens(node, &mut out),
            ParamKind::String => strings(node, &mut out),
            ParamKind::Date => {
                if let Some((low, high)) = date_range(node.value) {
                    out.push(IndexValue::Date { low, high });
                }
            }
            ParamKind::Reference => {
                if let Some(r) = str_field(node.value, "reference").and_then(relative_reference) {
                    out.push(IndexValue::Reference(r));
                }
            }
            ParamKind::Number | ParamKind::Quantity => numbers(node, &mut out),
            ParamKind::Uri => {
                if let Some(s) = node.value.as_str() {
                    out.push(IndexValue::Uri(s.to_string()));
                }
            }
        }
    }
    let mut unique: Vec<IndexValue> = Vec::with_capacity(out.len());
    for v in out {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    unique
}

/// Every index entry of `resource`.
pub(crate) fn extract(resource: &Value) -> Vec<IndexEntry> {
    let Some(ty) = resource.get("resourceType").and_then(Value::as_str) else {
        return Vec::new();
    };
    crate::params::of(ty)
        .iter()
        .flat_map(|p| {
            values(resource, p.kind, p.expression)
                .into_iter()
                .map(|value| IndexEntry {
                    param: p.code.to_string(),
                    value,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            relative_reference("Patient/1").as_deref(),
            Some("Patient/1")
        );
        assert_eq!(
            relative_reference("Patient/1/_history/3").as_deref(),
            Some("Patient/1")
        );
        assert_eq!(relative_reference("Patient/1/x"), None);
        assert_eq!(relative_reference("Patient/a b"), None);
        assert_eq!(relative_reference("Patient"), None);
        assert_eq!(
            url_tail_reference("https://renkei.example.jp/fhir/Patient/1").as_deref(),
            Some("Patient/1")
        );
        assert_eq!(
            url_tail_reference("https://renkei.example.jp/fhir/Patient/1/_history/2").as_deref(),
            Some("Patient/1")
        );
        assert_eq!(url_tail_reference("https://renkei.example.jp/"), None);
        assert!(is_id("a-b.C9"));
        assert!(!is_id(""));
        assert!(!is_id("a_b"));
        assert!(!is_id(&"x".repeat(65)));
    }
}
