//! A tiny FHIRPath evaluator for the search-parameter expressions of [`crate::params`]:
//! `Type.a.b | Type.c`, choice elements (`Observation.effective` finds `effectiveDateTime`,
//! `effectivePeriod`…), `.as(Type)`, `.where(resolve() is Type)` (a literal relative
//! reference to that type) and `.where(system='x')`.

use serde_json::Value;

/// One node the expression selects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    pub value: &'a Value,
    /// FHIR type when the node came from a choice element (`dateTime`, `Period`…).
    pub ty: Option<&'a str>,
    /// The JSON property name the node was read from (without choice suffix).
    pub key: &'a str,
}

const PRIMITIVE_SUFFIXES: &[&str] = &[
    "Boolean",
    "Integer",
    "String",
    "Decimal",
    "Uri",
    "Url",
    "Canonical",
    "Base64Binary",
    "Instant",
    "Date",
    "DateTime",
    "Time",
    "Code",
    "Oid",
    "Id",
    "Markdown",
    "UnsignedInt",
    "PositiveInt",
    "Uuid",
];

/// The FHIR type name of a choice suffix: `DateTime` → `dateTime`, `Period` → `Period`.
pub(crate) fn suffix_type(suffix: &str) -> String {
    if PRIMITIVE_SUFFIXES.contains(&suffix) {
        let mut c = suffix.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => String::new(),
        }
    } else {
        suffix.to_string()
    }
}

/// Splits `a.b.where(x.y)` on dots outside parentheses.
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, ch) in path.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// The type of a relative reference `Type/id…`, if the string is one.
pub(crate) fn relative_type(reference: &str) -> Option<&str> {
    let (ty, rest) = reference.split_once('/')?;
    (!ty.is_empty()
        && ty.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphanumeric())
        && !rest.is_empty()
        && !reference.contains(':'))
    .then_some(ty)
}

fn children<'a>(node: Node<'a>, name: &'a str, out: &mut Vec<Node<'a>>) {
    let Some(obj) = node.value.as_object() else {
        return;
    };
    let mut push = |v: &'a Value, ty: Option<&'a str>| match v {
        Value::Array(items) => out.extend(items.iter().filter(|i| !i.is_null()).map(|i| Node {
            value: i,
            ty,
            key: name,
        })),
        Value::Null => {}
        v => out.push(Node {
            value: v,
            ty,
            key: name,
        }),
    };
    if let Some(v) = obj.get(name) {
        push(v, None);
        return;
    }
    for (k, v) in obj {
        if let Some(suffix) = k.strip_prefix(name) {
            if suffix
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
            {
                push(v, Some(suffix));
            }
        }
    }
}

fn apply<'a>(nodes: Vec<Node<'a>>, segment: &'a str) -> Vec<Node<'a>> {
    if let Some(arg) = segment
        .strip_prefix("as(")
        .or_else(|| segment.strip_prefix("ofType("))
        .and_then(|s| s.strip_suffix(')'))
    {
        return nodes
            .into_iter()
            .filter(|n| n.ty.is_some_and(|t| suffix_type(t) == arg))
            .collect();
    }
    if let Some(cond) = segment
        .strip_prefix("where(")
        .and_then(|s| s.strip_suffix(')'))
    {
        if let Some(ty) = cond.strip_prefix("resolve() is ") {
            return nodes
                .into_iter()
                .filter(|n| {
                    n.value
                        .get("reference")
                        .and_then(Value::as_str)
                        .and_then(relative_type)
                        == Some(ty)
                })
                .collect();
        }
        if let Some((field, lit)) = cond.split_once('=') {
            let lit = lit.trim_matches('\'');
            return nodes
                .into_iter()
                .filter(|n| n.value.get(field).and_then(Value::as_str) == Some(lit))
                .collect();
        }
        return Vec::new();
    }
    let mut out = Vec::new();
    for n in nodes {
        children(n, segment, &mut out);
    }
    out
}

/// Evaluates `expression` on `resource`.
pub(crate) fn eval<'a>(resource: &'a Value, expression: &'a str) -> Vec<Node<'a>> {
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = Vec::new();
    for path in expression.split('|').map(str::trim) {
        let segs = segments(path);
        if segs.first() != Some(&resource_type) {
            continue;
        }
        let mut nodes = vec![Node {
            value: resource,
            ty: None,
            key: "",
        }];
        for seg in &segs[1..] {
            nodes = apply(nodes, seg);
        }
        out.extend(nodes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_choices_and_filters() {
        let obs = json!({
            "resourceType": "Observation",
            "effectivePeriod": {"start": "2024-01-01"},
            "valueQuantity": {"value": 1},
            "subject": {"reference": "Patient/1"},
            "performer": [{"reference": "Practitioner/2"}, {"reference": "Organization/3"}],
        });
        assert_eq!(eval(&obs, "Observation.effective").len(), 1);
        assert_eq!(eval(&obs, "Observation.effective")[0].ty, Some("Period"));
        assert_eq!(eval(&obs, "Observation.effective.as(dateTime)").len(), 0);
        assert_eq!(eval(&obs, "Observation.value.as(Quantity)").len(), 1);
        assert_eq!(
            eval(&obs, "Observation.subject.where(resolve() is Patient)").len(),
            1
        );
        assert_eq!(
            eval(&obs, "Observation.performer.where(resolve() is Patient)").len(),
            0
        );
        assert_eq!(eval(&obs, "Observation.performer").len(), 2);
        assert_eq!(eval(&obs, "Condition.subject").len(), 0);
        let pat = json!({"resourceType": "Patient", "telecom": [
            {"system": "phone", "value": "0144-00-0000"},
            {"system": "email", "value": "a@example.jp"}]});
        let phones = eval(&pat, "Patient.telecom.where(system='phone')");
        assert_eq!(phones.len(), 1);
        assert_eq!(phones[0].key, "telecom");
        assert_eq!(suffix_type("DateTime"), "dateTime");
        assert_eq!(suffix_type("CodeableConcept"), "CodeableConcept");
    }

    #[test]
    fn relative_reference_types() {
        assert_eq!(relative_type("Patient/1"), Some("Patient"));
        assert_eq!(relative_type("Patient/1/_history/2"), Some("Patient"));
        assert_eq!(relative_type("http://x/Patient/1"), None);
        assert_eq!(relative_type("urn:uuid:0"), None);
        assert_eq!(relative_type("#p1"), None);
        assert_eq!(relative_type("patient/1"), None);
    }
}
