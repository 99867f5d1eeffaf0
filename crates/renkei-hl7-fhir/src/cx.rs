//! Shared mapping state and helpers: field access with named errors, ids,
//! `meta`, codings, quantities, references.

use std::collections::BTreeSet;

use renkei_hl7::message::{Component, Repetition, Segment};
use renkei_hl7::Message;
use serde_json::{json, Map, Value};

use crate::codes::{self, system};
use crate::time::{self, Timestamp};
use crate::{ids, MapContext, MapError, Mapped};

/// Trimmed, unescaped text of a component.
pub(crate) fn val(c: Component<'_>) -> String {
    c.value().trim().to_string()
}

/// Component 1 of the first repetition of a field: the value of a simple field.
pub(crate) fn first(seg: &Segment<'_>, n: usize) -> String {
    val(seg.field(n).component(1))
}

/// Component `c` of the first repetition of field `n`.
pub(crate) fn comp(seg: &Segment<'_>, n: usize, c: usize) -> String {
    val(seg.field(n).component(c))
}

/// A text field (ST/TX/FT): every repetition, unescaped, joined by newlines.
pub(crate) fn text(seg: &Segment<'_>, n: usize) -> String {
    let parts: Vec<String> = seg
        .field(n)
        .repetitions()
        .map(|r| r.value().trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    parts.join("\n")
}

/// `SEG-n`.
pub(crate) fn field_name(seg: &Segment<'_>, n: usize) -> String {
    format!("{}-{}", seg.id(), n)
}

impl MapError {
    pub(crate) fn invalid(seg: &Segment<'_>, n: usize, message: impl Into<String>) -> MapError {
        MapError::Invalid {
            field: field_name(seg, n),
            segment: Some(seg.index() + 1),
            message: message.into(),
        }
    }

    pub(crate) fn missing(seg: Option<&Segment<'_>>, field: &str, what: &str) -> MapError {
        MapError::Missing {
            field: field.to_string(),
            segment: seg.map(|s| s.index() + 1),
            what: what.to_string(),
        }
    }
}

/// An HL7 numeric (`NM`): optional sign, digits, optional decimal point.
pub(crate) fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && s.len() <= 32
}

/// A JSON number for an HL7 numeric (integers stay integers).
pub(crate) fn number(s: &str) -> Option<Value> {
    if !is_number(s) {
        return None;
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    if !t.contains('.') {
        if let Ok(i) = t.parse::<i64>() {
            return Some(json!(i));
        }
    }
    let f: f64 = t.parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// Sets `key` when `value` is `Some` and not an empty string/array/object.
pub(crate) fn put(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        let empty = match &v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            obj.insert(key.to_string(), v);
        }
    }
}

/// `Some(text)` unless empty.
pub(crate) fn some(s: String) -> Option<Value> {
    (!s.is_empty()).then_some(Value::String(s))
}

pub(crate) struct Cx<'m> {
    pub msg: &'m Message,
    pub facility: String,
    pub patient_ref: String,
    pub source: String,
    pub data_type: String,
    pub local_id: String,
    pub warnings: Vec<String>,
    pub resources: Vec<Value>,
    used_ids: BTreeSet<(String, String)>,
}

impl<'m> Cx<'m> {
    pub fn new(msg: &'m Message, ctx: &MapContext<'_>, data_type: &str, local_id: String) -> Self {
        Cx {
            msg,
            facility: ctx.facility_id.trim().to_string(),
            patient_ref: ctx.patient_reference.to_string(),
            source: ctx.source.trim().to_string(),
            data_type: data_type.to_string(),
            local_id,
            warnings: Vec::new(),
            resources: Vec::new(),
            used_ids: BTreeSet::new(),
        }
    }

    pub fn finish(self) -> Mapped {
        Mapped {
            resources: self.resources,
            warnings: self.warnings,
        }
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Warns about a segment: `OBX-3: empty, result skipped (segment 7)`.
    pub fn warn_at(&mut self, seg: &Segment<'_>, n: usize, message: &str) {
        let w = format!(
            "{}: {} (segment {})",
            field_name(seg, n),
            message,
            seg.index() + 1
        );
        self.warnings.push(w);
    }

    /// The deterministic id of a resource: facility, patient, type and `key`.
    /// A key already used in this message for the same type gets a running
    /// number, so duplicates stay distinct (and stable, by message order).
    pub fn id(&mut self, resource_type: &str, key: &[&str]) -> String {
        let mut parts: Vec<&str> = vec![&self.facility, &self.local_id, resource_type];
        parts.extend_from_slice(key);
        let mut id = ids::resource_id(&parts);
        let mut n = 1u32;
        while self
            .used_ids
            .contains(&(resource_type.to_string(), id.clone()))
        {
            n += 1;
            let counter = n.to_string();
            let mut with_counter = parts.clone();
            with_counter.push(&counter);
            id = ids::resource_id(&with_counter);
        }
        self.used_ids
            .insert((resource_type.to_string(), id.clone()));
        id
    }

    pub fn subject(&self) -> Value {
        json!({ "reference": self.patient_ref })
    }

    /// `meta` with the JP Core profile and the source.
    pub fn meta(&self, profile: &str) -> Value {
        let mut m = Map::new();
        m.insert(
            "profile".into(),
            json!([format!("{}{}", codes::JP_CORE_PROFILE, profile)]),
        );
        let uri_safe = !self.source.is_empty()
            && self
                .source
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control());
        if uri_safe {
            m.insert("source".into(), json!(self.source));
        }
        if !self.source.is_empty() {
            m.insert(
                "tag".into(),
                json!([{ "system": codes::SOURCE_TAG, "code": self.source }]),
            );
        }
        Value::Object(m)
    }

    /// A facility-scoped identifier.
    pub fn identifier(&self, kind: &str, value: &str) -> Value {
        json!({ "system": codes::facility_system(&self.facility, kind), "value": value })
    }

    /// Parses a timestamp field; empty → `None`, malformed → error naming the field.
    pub fn ts(&self, seg: &Segment<'_>, n: usize) -> Result<Option<Timestamp>, MapError> {
        self.ts_value(seg, n, &first(seg, n))
    }

    /// [`Cx::ts`] on a value taken from elsewhere in field `n` (a component).
    pub fn ts_value(
        &self,
        seg: &Segment<'_>,
        n: usize,
        raw: &str,
    ) -> Result<Option<Timestamp>, MapError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        time::parse(raw)
            .map(Some)
            .map_err(|e| MapError::invalid(seg, n, e.to_string()))
    }

    /// A FHIR dateTime from a timestamp field.
    pub fn date_time(&self, seg: &Segment<'_>, n: usize) -> Result<Option<Value>, MapError> {
        Ok(self.ts(seg, n)?.map(|t| json!(t.to_fhir_date_time())))
    }

    /// The coding system URI for an HL7 coding-system name.
    pub fn system(&self, name: &str, code: &str) -> Option<String> {
        codes::table_system(name, code, &self.facility)
    }

    /// A Coding from code, display and HL7 coding-system name.
    pub fn coding(&self, code: &str, display: &str, system_name: &str) -> Value {
        let mut c = Map::new();
        put(
            &mut c,
            "system",
            self.system(system_name, code).map(Value::String),
        );
        put(&mut c, "code", some(code.to_string()));
        put(&mut c, "display", some(display.to_string()));
        Value::Object(c)
    }

    /// CodeableConcept from a CE/CWE repetition: both triplets (1–3, 4–6)
    /// become codings, the first non-empty text (CWE-9, else a display) the text.
    pub fn codeable(&self, rep: Repetition<'_>) -> Option<Value> {
        let mut codings = Vec::new();
        let mut text = val(rep.component(9));
        for base in [1, 4] {
            let code = val(rep.component(base));
            let display = val(rep.component(base + 1));
            let sys = val(rep.component(base + 2));
            if text.is_empty() && !display.is_empty() {
                text = display.clone();
            }
            if !code.is_empty() {
                codings.push(self.coding(&code, &display, &sys));
            }
        }
        codeable_of(codings, text)
    }

    /// CodeableConcept from a CWE carried in sub-components (`code&text&system`,
    /// as in TQ1-3.1).
    pub fn codeable_sub(&self, c: Component<'_>) -> Option<Value> {
        let code = c.subcomponent(1).value().trim().to_string();
        let display = c.subcomponent(2).value().trim().to_string();
        let sys = c.subcomponent(3).value().trim().to_string();
        let codings = if code.is_empty() {
            vec![]
        } else {
            vec![self.coding(&code, &display, &sys)]
        };
        codeable_of(codings, display)
    }

    /// A Quantity from a number and a unit (CE/CWE components `code^text^system`
    /// or sub-components): MERIT-9 units (`MR9P`) keep their code system, UCUM
    /// units get UCUM, anything else is unit text only.
    pub fn quantity(
        &self,
        seg: &Segment<'_>,
        n: usize,
        value: &str,
        unit: (String, String, String),
    ) -> Result<Option<Value>, MapError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let Some(number) = number(value) else {
            return Err(MapError::invalid(
                seg,
                n,
                format!(
                    "'{}' is not a number",
                    value.chars().take(40).collect::<String>()
                ),
            ));
        };
        let mut q = Map::new();
        q.insert("value".into(), number);
        self.unit_into(&mut q, unit);
        Ok(Some(Value::Object(q)))
    }

    pub fn unit_into(
        &self,
        q: &mut Map<String, Value>,
        (code, display, sys): (String, String, String),
    ) {
        let shown = if display.is_empty() {
            code.clone()
        } else {
            display
        };
        put(q, "unit", some(shown));
        if code.is_empty() {
            return;
        }
        if sys.eq_ignore_ascii_case("MR9P") {
            q.insert("system".into(), json!(system::MERIT9_UNIT));
            q.insert("code".into(), json!(code));
        } else if codes::is_ucum(&code) {
            q.insert("system".into(), json!(system::UCUM));
            q.insert("code".into(), json!(code.trim()));
        }
    }

    /// A reference to a person named in an XCN repetition (display and
    /// facility-scoped identifier); `None` when empty.
    pub fn person(&self, rep: Repetition<'_>) -> Option<Value> {
        let id = val(rep.component(1));
        let family = rep.component(2).subcomponent(1).value().trim().to_string();
        let given = val(rep.component(3));
        let display = [family, given]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if id.is_empty() && display.is_empty() {
            return None;
        }
        let mut r = Map::new();
        if !id.is_empty() {
            r.insert("identifier".into(), self.identifier("practitioner-id", &id));
        }
        put(&mut r, "display", some(display));
        Some(Value::Object(r))
    }

    /// The message's EVN-2 (recorded) or MSH-7 timestamp: a fallback for
    /// "when was this recorded".
    pub fn recorded_fallback(&self) -> Option<Timestamp> {
        let evn = self
            .msg
            .segment("EVN")
            .and_then(|s| time::parse(&first(&s, 2)).ok());
        evn.or_else(|| time::parse(&first(&self.msg.msh(), 7)).ok())
    }
}

/// Unit triple from a CE/CWE component set of a field (`code^text^system`).
pub(crate) fn unit_of(rep: Repetition<'_>) -> (String, String, String) {
    (
        val(rep.component(1)),
        val(rep.component(2)),
        val(rep.component(3)),
    )
}

/// Unit triple from sub-components of one component (`code&text&system`).
pub(crate) fn unit_sub(c: Component<'_>) -> (String, String, String) {
    (
        c.subcomponent(1).value().trim().to_string(),
        c.subcomponent(2).value().trim().to_string(),
        c.subcomponent(3).value().trim().to_string(),
    )
}

fn codeable_of(codings: Vec<Value>, text: String) -> Option<Value> {
    if codings.is_empty() && text.is_empty() {
        return None;
    }
    let mut cc = Map::new();
    put(&mut cc, "coding", Some(Value::Array(codings)));
    put(&mut cc, "text", some(text));
    Some(Value::Object(cc))
}

/// `{"coding":[{system, code, display}]}`.
pub(crate) fn concept(system: &str, code: &str, display: &str) -> Value {
    let mut c = Map::new();
    c.insert("system".into(), json!(system));
    c.insert("code".into(), json!(code));
    put(&mut c, "display", some(display.to_string()));
    json!({ "coding": [Value::Object(c)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for ok in ["1", "-1", "+1.5", ".5", "5.", "007"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", ".", "-", "1e5", "NaN", "inf", "1,000", "1.2.3", "１"] {
            assert!(!is_number(bad), "{bad}");
        }
        assert_eq!(number("15"), Some(json!(15)));
        assert_eq!(number("7.2"), Some(json!(7.2)));
        assert_eq!(number("+3"), Some(json!(3)));
        assert_eq!(number("-14"), Some(json!(-14)));
        assert_eq!(number("99999999999999999999"), Some(json!(1e20)));
    }
}
