//! Structural validation of a resource against [`crate::schema`] plus the R4 invariants and
//! JP Core rules Renkei enforces. Every problem is reported, not just the first.

use crate::datetime::{self, DateError, Flavor};
use crate::extract::{is_id, relative_reference, url_tail_reference};
use crate::fhirpath::relative_type;
use crate::resource::{type_info, Issue, Severity};
use crate::schema::{self, El, Ty};
use serde_json::{Map, Value};

/// Issues found so far.
#[derive(Default)]
pub(crate) struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    contained_ids: Vec<String>,
}

fn issue(severity: Severity, code: &'static str, path: &str, ja: String, en: String) -> Issue {
    Issue {
        severity,
        code,
        expression: path.to_string(),
        ja,
        en,
    }
}

impl Report {
    fn error(&mut self, code: &'static str, path: &str, ja: String, en: String) {
        self.errors.push(issue(Severity::Error, code, path, ja, en));
    }
    fn warning(&mut self, code: &'static str, path: &str, ja: String, en: String) {
        self.warnings
            .push(issue(Severity::Warning, code, path, ja, en));
    }
    fn missing(&mut self, path: &str) {
        self.error(
            "required",
            path,
            format!("必須要素 {path} がありません"),
            format!("Required element {path} is missing"),
        );
    }
    fn shape(&mut self, path: &str, ja_kind: &str, en_kind: &str) {
        self.error(
            "structure",
            path,
            format!("{path} は{ja_kind}でなければなりません"),
            format!("{path} must be {en_kind}"),
        );
    }
    fn bad_value(&mut self, path: &str, value: &str, ja_kind: &str, en_kind: &str) {
        self.error(
            "value",
            path,
            format!("{path} の値「{value}」は{ja_kind}として正しくありません"),
            format!("Value '{value}' at {path} is not a valid {en_kind}"),
        );
    }
}

/// The element of `els` a JSON property names, the type it has (the chosen type for a
/// choice) and the choice suffix.
fn find_element<'a>(els: &'a [El], key: &str) -> Option<(&'a El, Ty)> {
    for el in els {
        match el.ty {
            Ty::Choice(choices) => {
                if let Some(suffix) = key.strip_prefix(el.name) {
                    if let Some((_, ty)) = choices.iter().find(|(s, _)| *s == suffix) {
                        return Some((el, *ty));
                    }
                }
            }
            ty => {
                if el.name == key {
                    return Some((el, ty));
                }
            }
        }
    }
    None
}

/// Whether the element `el` has a value in `obj`.
fn present(obj: &Map<String, Value>, el: &El) -> bool {
    match el.ty {
        Ty::Choice(choices) => choices.iter().any(|(suffix, _)| {
            obj.get(&format!("{}{}", el.name, suffix))
                .is_some_and(|v| !v.is_null())
        }),
        _ => obj.get(el.name).is_some_and(|v| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        }),
    }
}

/// Element properties every element has (`id`, `extension`) and backbone elements add
/// (`modifierExtension`).
static ELEMENT_BASE: &[El] = &[
    El {
        name: "id",
        ty: Ty::String,
        min: 0,
        many: false,
    },
    El {
        name: "extension",
        ty: Ty::Extension,
        min: 0,
        many: true,
    },
];
static BACKBONE_BASE: &[El] = &[
    El {
        name: "id",
        ty: Ty::String,
        min: 0,
        many: false,
    },
    El {
        name: "extension",
        ty: Ty::Extension,
        min: 0,
        many: true,
    },
    El {
        name: "modifierExtension",
        ty: Ty::Extension,
        min: 0,
        many: true,
    },
];

impl Report {
    /// Checks the properties of `obj` against `base` + `els` (closed), required elements and
    /// choices given once.
    fn object(&mut self, obj: &Map<String, Value>, path: &str, base: &[El], els: &[El]) {
        self.properties(obj, path, base, els, false);
    }

    /// As [`Report::object`]; `resource`: `obj` is a resource (its `resourceType` is known).
    fn properties(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        base: &[El],
        els: &[El],
        resource: bool,
    ) {
        let mut seen_choices: Vec<&str> = Vec::new();
        for (key, value) in obj {
            if resource && key == "resourceType" {
                continue;
            }
            let child = format!("{path}.{key}");
            if let Some(base_name) = key.strip_prefix('_') {
                let found = find_element(base, base_name).or_else(|| find_element(els, base_name));
                match found {
                    Some((el, ty)) if ty.is_primitive() => {
                        self.primitive_extension(value, &child, el.many)
                    }
                    _ => self.error(
                        "structure",
                        &child,
                        format!("{child} は定義されていない要素です"),
                        format!("Unknown element {child}"),
                    ),
                }
                continue;
            }
            let Some((el, ty)) = find_element(base, key).or_else(|| find_element(els, key)) else {
                self.error(
                    "structure",
                    &child,
                    format!("{child} は定義されていない要素です"),
                    format!("Unknown element {child}"),
                );
                continue;
            };
            if matches!(el.ty, Ty::Choice(_)) {
                if seen_choices.contains(&el.name) {
                    self.error(
                        "structure",
                        &child,
                        format!("{path}.{}[x] は一つの型でしか指定できません", el.name),
                        format!("{path}.{}[x] may be given in one type only", el.name),
                    );
                }
                seen_choices.push(el.name);
            }
            let has_primitive_ext = obj.contains_key(&format!("_{key}"));
            self.element(value, &child, el, ty, has_primitive_ext);
        }
        for el in els.iter().filter(|el| el.min > 0) {
            if !present(obj, el) {
                let name = match el.ty {
                    Ty::Choice(_) => format!("{path}.{}[x]", el.name),
                    _ => format!("{path}.{}", el.name),
                };
                self.missing(&name);
            }
        }
    }

    fn primitive_extension(&mut self, value: &Value, path: &str, many: bool) {
        let check = |r: &mut Report, v: &Value, p: &str| match v.as_object() {
            Some(o) => r.object(o, p, ELEMENT_BASE, &[]),
            None => r.shape(p, "オブジェクト", "an object"),
        };
        match (value, many) {
            (Value::Array(items), true) => {
                for (i, v) in items.iter().enumerate() {
                    if !v.is_null() {
                        check(self, v, &format!("{path}[{i}]"));
                    }
                }
            }
            (Value::Array(_), false) => self.shape(path, "オブジェクト", "an object"),
            (v, false) => check(self, v, path),
            (_, true) => self.shape(path, "配列", "an array"),
        }
    }

    fn element(&mut self, value: &Value, path: &str, el: &El, ty: Ty, primitive_ext: bool) {
        if el.many {
            let Value::Array(items) = value else {
                self.shape(path, "配列", "an array");
                return;
            };
            if items.is_empty() {
                self.error(
                    "structure",
                    path,
                    format!("{path} に空の配列は使えません"),
                    format!("{path} must not be an empty array"),
                );
            }
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if item.is_null() {
                    if !(ty.is_primitive() && primitive_ext) {
                        self.error(
                            "structure",
                            &p,
                            format!("{p} に null は使えません"),
                            format!("{p} must not be null"),
                        );
                    }
                    continue;
                }
                self.value(item, &p, ty);
            }
        } else {
            match value {
                Value::Array(_) => {
                    self.shape(path, "配列ではない値", "a single value, not an array")
                }
                Value::Null => self.error(
                    "structure",
                    path,
                    format!("{path} に null は使えません"),
                    format!("{path} must not be null"),
                ),
                v => self.value(v, path, ty),
            }
        }
    }

    fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        match value.as_str() {
            Some("") => {
                self.error(
                    "value",
                    path,
                    format!("{path} に空文字列は使えません"),
                    format!("{path} must not be an empty string"),
                );
                None
            }
            Some(s) => Some(s),
            None => {
                self.shape(path, "文字列", "a string");
                None
            }
        }
    }

    fn date(&mut self, s: &str, path: &str, flavor: Flavor) {
        let (ja_kind, en_kind) = match flavor {
            Flavor::Date => ("日付（date）", "date"),
            Flavor::DateTime => ("日時（dateTime）", "dateTime"),
            _ => ("時刻（instant）", "instant"),
        };
        match datetime::range(s, flavor) {
            Ok(_) => {}
            Err(DateError::Calendar) => self.error(
                "value",
                path,
                format!("{path} の「{s}」は暦に存在しない日付・時刻です"),
                format!("'{s}' at {path} is not a real calendar date or time"),
            ),
            Err(DateError::Zone) => self.error(
                "value",
                path,
                format!("{path} の「{s}」: 時刻を含む場合はタイムゾーンが必要です"),
                format!("'{s}' at {path}: a time needs a time zone"),
            ),
            Err(DateError::Format) => self.bad_value(path, s, ja_kind, en_kind),
        }
    }

    fn value(&mut self, value: &Value, path: &str, ty: Ty) {
        match ty {
            Ty::String | Ty::Markdown => {
                self.string(value, path);
            }
            Ty::Code(allowed) => {
                if let Some(s) = self.string(value, path) {
                    if s.trim() != s || s.contains("  ") || s.contains(['\t', '\n', '\r']) {
                        self.bad_value(path, s, "コード", "code");
                    } else if !allowed.is_empty() && !allowed.contains(&s) {
                        self.error(
                            "code-invalid",
                            path,
                            format!(
                                "{path} のコード「{s}」は許可された値（{}）ではありません",
                                allowed.join(", ")
                            ),
                            format!("Code '{s}' at {path} is not one of {}", allowed.join(" | ")),
                        );
                    }
                }
            }
            Ty::Id => {
                if let Some(s) = self.string(value, path) {
                    if !is_id(s) {
                        self.bad_value(path, s, "ID（英数字・-・. 64文字以内）", "id");
                    }
                }
            }
            Ty::Uri | Ty::Url | Ty::Canonical => {
                if let Some(s) = self.string(value, path) {
                    if s.chars().any(char::is_whitespace) {
                        self.bad_value(path, s, "URI", "uri");
                    }
                }
            }
            Ty::Boolean => {
                if !value.is_boolean() {
                    self.shape(path, "真偽値（true/false）", "a boolean (true/false)");
                }
            }
            Ty::Integer | Ty::PositiveInt | Ty::UnsignedInt => {
                let min = match ty {
                    Ty::PositiveInt => 1,
                    Ty::UnsignedInt => 0,
                    _ => i64::from(i32::MIN),
                };
                match value.as_i64() {
                    Some(n) if n >= min && n <= i64::from(i32::MAX) => {}
                    Some(n) => {
                        self.bad_value(path, &n.to_string(), "範囲内の整数", "integer in range")
                    }
                    None => self.shape(path, "整数", "an integer"),
                }
            }
            Ty::Decimal => {
                if !value.is_number() {
                    self.shape(path, "数値", "a number");
                }
            }
            Ty::Date => {
                if let Some(s) = self.string(value, path) {
                    self.date(s, path, Flavor::Date);
                }
            }
            Ty::DateTime => {
                if let Some(s) = self.string(value, path) {
                    self.date(s, path, Flavor::DateTime);
                }
            }
            Ty::Instant => {
                if let Some(s) = self.string(value, path) {
                    self.date(s, path, Flavor::Instant);
                }
            }
            Ty::Time => {
                if let Some(s) = self.string(value, path) {
                    if !datetime::is_time(s) {
                        self.bad_value(path, s, "時刻（hh:mm:ss）", "time");
                    }
                }
            }
            Ty::Base64 => {
                if let Some(s) = self.string(value, path) {
                    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                    let ok = compact.len() % 4 == 0
                        && compact
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    if !ok {
                        self.bad_value(path, "…", "Base64", "base64Binary");
                    }
                }
            }
            Ty::Xhtml => {
                if let Some(s) = self.string(value, path) {
                    let t = s.trim();
                    if !t.starts_with("<div") || !(t.ends_with("</div>") || t.ends_with("/>")) {
                        self.bad_value(path, "…", "XHTML の div 要素", "XHTML div element");
                    }
                }
            }
            Ty::Choice(_) => {}
            complex => self.complex(value, path, complex),
        }
    }

    fn complex(&mut self, value: &Value, path: &str, ty: Ty) {
        let Some(obj) = value.as_object() else {
            self.shape(path, "オブジェクト", "an object");
            return;
        };
        if obj.is_empty() {
            self.error(
                "invariant",
                path,
                format!("{path} が空です（値または子要素が必要です）"),
                format!("{path} is empty (ele-1: a value or children are required)"),
            );
            return;
        }
        match ty {
            Ty::Coding => {
                self.object(obj, path, ELEMENT_BASE, schema::CODING);
                if !obj.contains_key("system") && !obj.contains_key("code") {
                    self.error(
                        "invariant",
                        path,
                        format!("{path} にはコード体系（system）かコード（code）が必要です"),
                        format!("{path} needs a system or a code"),
                    );
                }
            }
            Ty::CodeableConcept => self.object(obj, path, ELEMENT_BASE, schema::CODEABLE_CONCEPT),
            Ty::BoundConcept(system, codes) => {
                self.object(obj, path, ELEMENT_BASE, schema::CODEABLE_CONCEPT);
                let codings: Vec<&Value> = obj
                    .get("coding")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|c| c.get("system").and_then(Value::as_str) == Some(system))
                            .collect()
                    })
                    .unwrap_or_default();
                if codings.is_empty() {
                    self.error(
                        "code-invalid",
                        path,
                        format!("{path} にはコード体系 {system} のコードが必要です"),
                        format!("{path} needs a coding from {system} (required binding)"),
                    );
                }
                for c in codings {
                    let code = c.get("code").and_then(Value::as_str).unwrap_or("");
                    if !codes.contains(&code) {
                        self.error(
                            "code-invalid",
                            path,
                            format!(
                                "{path} のコード「{code}」は許可された値（{}）ではありません",
                                codes.join(", ")
                            ),
                            format!(
                                "Code '{code}' at {path} is not one of {}",
                                codes.join(" | ")
                            ),
                        );
                    }
                }
            }
            Ty::Identifier => self.object(obj, path, ELEMENT_BASE, schema::IDENTIFIER),
            Ty::Reference(targets) => {
                self.object(obj, path, ELEMENT_BASE, schema::REFERENCE);
                if let Some(r) = obj.get("reference").and_then(Value::as_str) {
                    self.reference(r, &format!("{path}.reference"), targets);
                }
            }
            Ty::Period => {
                self.object(obj, path, ELEMENT_BASE, schema::PERIOD);
                let start = obj
                    .get("start")
                    .and_then(Value::as_str)
                    .and_then(|s| datetime::range(s, Flavor::DateTime).ok());
                let end = obj
                    .get("end")
                    .and_then(Value::as_str)
                    .and_then(|s| datetime::range(s, Flavor::DateTime).ok());
                if let (Some(s), Some(e)) = (start, end) {
                    if s.0 >= e.1 {
                        self.error(
                            "invariant",
                            path,
                            format!("{path}: 開始（start）が終了（end）より後です"),
                            format!("{path}: start is after end (per-1)"),
                        );
                    }
                }
            }
            Ty::Quantity => {
                self.object(obj, path, ELEMENT_BASE, schema::QUANTITY);
                if obj.contains_key("code") && !obj.contains_key("system") {
                    self.error(
                        "invariant",
                        path,
                        format!("{path}: 単位コード（code）にはコード体系（system）が必要です"),
                        format!("{path}: a code needs a system (qty-3)"),
                    );
                }
            }
            Ty::Range => self.object(obj, path, ELEMENT_BASE, schema::RANGE),
            Ty::Ratio => self.object(obj, path, ELEMENT_BASE, schema::RATIO),
            Ty::HumanName => self.object(obj, path, ELEMENT_BASE, schema::HUMAN_NAME),
            Ty::ContactPoint => {
                self.object(obj, path, ELEMENT_BASE, schema::CONTACT_POINT);
                if obj.contains_key("value") && !obj.contains_key("system") {
                    self.error(
                        "invariant",
                        path,
                        format!("{path}: 連絡先の値には種別（system）が必要です"),
                        format!("{path}: a value needs a system (cpt-2)"),
                    );
                }
            }
            Ty::Address => self.object(obj, path, ELEMENT_BASE, schema::ADDRESS),
            Ty::Attachment => {
                self.object(obj, path, ELEMENT_BASE, schema::ATTACHMENT);
                if obj.contains_key("data") && !obj.contains_key("contentType") {
                    self.error(
                        "invariant",
                        path,
                        format!("{path}: data がある場合は contentType が必要です"),
                        format!("{path}: data needs a contentType (att-1)"),
                    );
                }
            }
            Ty::Annotation => self.object(obj, path, ELEMENT_BASE, schema::ANNOTATION),
            Ty::Meta => self.object(obj, path, ELEMENT_BASE, schema::META),
            Ty::Narrative => self.object(obj, path, ELEMENT_BASE, schema::NARRATIVE),
            Ty::Extension => self.extension(obj, path),
            Ty::Backbone(children) => self.object(obj, path, BACKBONE_BASE, children),
            Ty::Resource => self.contained(obj, path),
            _ => {}
        }
    }

    fn extension(&mut self, obj: &Map<String, Value>, path: &str) {
        let mut values = 0;
        for (key, v) in obj {
            let child = format!("{path}.{key}");
            match key.as_str() {
                "id" => {
                    self.string(v, &child);
                }
                "url" => self.value(v, &child, Ty::Uri),
                "extension" => self.element(v, &child, &ELEMENT_BASE[1], Ty::Extension, false),
                k if k.starts_with("value") && k.len() > 5 => {
                    values += 1;
                    if v.is_null() || v.is_array() {
                        self.shape(&child, "単一の値", "a single value");
                    }
                }
                k if k.starts_with("_value") => {}
                _ => self.error(
                    "structure",
                    &child,
                    format!("{child} は定義されていない要素です"),
                    format!("Unknown element {child}"),
                ),
            }
        }
        if !obj.contains_key("url") {
            self.missing(&format!("{path}.url"));
        }
        if values > 1 {
            self.error(
                "structure",
                path,
                format!("{path}: value[x] は一つしか指定できません"),
                format!("{path}: only one value[x] is allowed"),
            );
        }
        if values > 0 && obj.contains_key("extension") {
            self.error(
                "invariant",
                path,
                format!("{path}: 拡張は値と入れ子の拡張を同時に持てません"),
                format!("{path}: must have either extensions or value[x], not both (ext-1)"),
            );
        }
    }

    fn contained(&mut self, obj: &Map<String, Value>, path: &str) {
        let Some(ty) = obj.get("resourceType").and_then(Value::as_str) else {
            self.missing(&format!("{path}.resourceType"));
            return;
        };
        if !obj.get("id").and_then(Value::as_str).is_some_and(is_id) {
            self.missing(&format!("{path}.id"));
        }
        if obj.contains_key("contained") {
            self.error(
                "invariant",
                path,
                format!("{path}: 内包リソースはさらにリソースを内包できません"),
                format!("{path}: a contained resource must not contain resources (dom-2)"),
            );
        }
        if obj
            .get("meta")
            .is_some_and(|m| m.get("versionId").is_some() || m.get("lastUpdated").is_some())
        {
            self.error(
                "invariant",
                path,
                format!("{path}: 内包リソースに meta.versionId・meta.lastUpdated は使えません"),
                format!("{path}: a contained resource must not have meta.versionId or meta.lastUpdated (dom-4)"),
            );
        }
        if let Some(els) = schema::elements(ty) {
            let base = if ty == "Binary" {
                &[][..]
            } else {
                schema::DOMAIN_RESOURCE
            };
            self.properties(obj, path, base, els, true);
        }
    }

    /// Checks the form of a literal reference and, for a relative one, its target type.
    fn reference(&mut self, r: &str, path: &str, targets: &[&str]) {
        let bad = |me: &mut Report| {
            me.error(
                "value",
                path,
                format!("{path} の参照「{r}」は Type/id、絶対URL、urn:uuid: または #id の形式でなければなりません"),
                format!("Reference '{r}' at {path} must be Type/id, an absolute URL, urn:uuid:<uuid> or #id"),
            )
        };
        if let Some(local) = r.strip_prefix('#') {
            if !local.is_empty() && !self.contained_ids.iter().any(|i| i == local) {
                self.error(
                    "invariant",
                    path,
                    format!("{path} の内部参照「{r}」に対応する内包リソースがありません"),
                    format!("{path}: no contained resource has id '{local}' (ref-1)"),
                );
            }
            return;
        }
        if let Some(uuid) = r.strip_prefix("urn:uuid:") {
            if !is_uuid(uuid) {
                bad(self);
            }
            return;
        }
        if r.starts_with("urn:oid:") {
            return;
        }
        let ty = if r.starts_with("http://") || r.starts_with("https://") {
            if r.chars().any(char::is_whitespace) {
                bad(self);
                return;
            }
            url_tail_reference(r).and_then(|t| t.split('/').next().map(str::to_string))
        } else {
            match relative_reference(r) {
                Some(rel) => rel.split('/').next().map(str::to_string),
                None => {
                    bad(self);
                    return;
                }
            }
        };
        if let Some(ty) = ty {
            if !targets.is_empty() && !targets.contains(&ty.as_str()) {
                self.error(
                    "value",
                    path,
                    format!(
                        "{path} は {} を参照できません（参照可能: {}）",
                        ty,
                        targets.join(", ")
                    ),
                    format!(
                        "{path} may not reference a {ty} (allowed: {})",
                        targets.join(", ")
                    ),
                );
            }
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The element holding the Patient a resource of `resource_type` belongs to, for the types
/// whose profiles are patient-bound, and whether Renkei requires it.
pub(crate) fn compartment_element(resource_type: &str) -> Option<(&'static str, bool)> {
    match resource_type {
        "Observation"
        | "Condition"
        | "MedicationRequest"
        | "MedicationDispense"
        | "MedicationAdministration"
        | "Encounter"
        | "DiagnosticReport"
        | "Procedure"
        | "ImagingStudy"
        | "DocumentReference"
        | "Composition"
        | "CarePlan"
        | "Goal" => Some(("subject", true)),
        "Communication" => Some(("subject", false)),
        "AllergyIntolerance" | "RelatedPerson" => Some(("patient", true)),
        "Consent" => Some(("patient", false)),
        // Content (photos, PDFs) is patient data too: it is bound to its patient through
        // securityContext, or nobody could decide who may read it.
        "Binary" => Some(("securityContext", true)),
        _ => None,
    }
}

/// `Patient/<id>` a reference string names (relative or an absolute URL ending so).
pub(crate) fn patient_of(reference: &str) -> Option<String> {
    let rel = if reference.starts_with("http://") || reference.starts_with("https://") {
        url_tail_reference(reference)?
    } else {
        relative_reference(reference)?
    };
    (relative_type(&rel) == Some("Patient")).then_some(rel)
}

fn codes_of(v: Option<&Value>, system: &str) -> Vec<String> {
    v.and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(system))
        .filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn has_prefix_key(obj: &Map<String, Value>, prefix: &str) -> bool {
    obj.keys().any(|k| {
        k.strip_prefix(prefix)
            .is_some_and(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
    })
}

impl Report {
    /// R4 invariants and JP Core / Renkei rules of the top-level resource.
    fn rules(&mut self, ty: &str, obj: &Map<String, Value>) {
        // Patient-bound profiles: the compartment element is a literal reference to a Patient.
        if let Some((el, required)) = compartment_element(ty) {
            let path = format!("{ty}.{el}");
            match obj.get(el) {
                // R4 may allow it to be absent; JP Core / Renkei do not (every clinical
                // record belongs to a patient, whose consent governs access). When R4 requires
                // it too, the structural check has reported it already.
                None if required
                    && !schema::elements(ty)
                        .is_some_and(|els| els.iter().any(|e| e.name == el && e.min > 0)) =>
                {
                    self.error(
                        "required",
                        &path,
                        format!("{path} がありません（JP Core：患者の記録には患者への参照が必要です）"),
                        format!("{path} is missing (JP Core: a patient record must reference its Patient)"),
                    );
                }
                Some(v) if v.is_object() => {
                    let r = v.get("reference").and_then(Value::as_str).unwrap_or("");
                    // A transaction rewrites its urn:uuid references before validation, so one
                    // left here names nothing the server knows.
                    if patient_of(r).is_none() {
                        self.error(
                            "invariant",
                            &path,
                            format!("{path} は Patient リソースへのリテラル参照でなければなりません（JP Core）"),
                            format!("{path} must be a literal reference to a Patient (JP Core)"),
                        );
                    }
                }
                _ => {}
            }
        }
        match ty {
            "Organization" if !obj.contains_key("identifier") && !obj.contains_key("name") => {
                self.error(
                    "invariant",
                    "Organization",
                    "Organization には identifier か name が必要です".into(),
                    "An Organization needs an identifier or a name (org-1)".into(),
                );
            }
            "Condition" => {
                let clinical =
                    codes_of(obj.get("clinicalStatus"), schema::CONDITION_CLINICAL_SYSTEM);
                let verification = codes_of(
                    obj.get("verificationStatus"),
                    schema::CONDITION_VERIFICATION_SYSTEM,
                );
                let eie = verification.iter().any(|c| c == "entered-in-error");
                if eie && obj.contains_key("clinicalStatus") {
                    self.error(
                        "invariant",
                        "Condition.clinicalStatus",
                        "verificationStatus が entered-in-error の場合 clinicalStatus は指定できません".into(),
                        "clinicalStatus must be absent when verificationStatus is entered-in-error (con-5)".into(),
                    );
                }
                if has_prefix_key(obj, "abatement")
                    && obj.contains_key("clinicalStatus")
                    && !clinical
                        .iter()
                        .any(|c| matches!(c.as_str(), "inactive" | "resolved" | "remission"))
                {
                    self.error(
                        "invariant",
                        "Condition.clinicalStatus",
                        "軽快・治癒（abatement）がある場合 clinicalStatus は inactive・resolved・remission のいずれかです".into(),
                        "With an abatement, clinicalStatus must be inactive, resolved or remission (con-4)".into(),
                    );
                }
            }
            "AllergyIntolerance" => {
                let verification = codes_of(
                    obj.get("verificationStatus"),
                    schema::ALLERGY_VERIFICATION_SYSTEM,
                );
                let eie = verification.iter().any(|c| c == "entered-in-error");
                if eie && obj.contains_key("clinicalStatus") {
                    self.error(
                        "invariant",
                        "AllergyIntolerance.clinicalStatus",
                        "verificationStatus が entered-in-error の場合 clinicalStatus は指定できません".into(),
                        "clinicalStatus must be absent when verificationStatus is entered-in-error (ait-2)".into(),
                    );
                }
                if !eie && !obj.contains_key("clinicalStatus") {
                    self.error(
                        "invariant",
                        "AllergyIntolerance.clinicalStatus",
                        "clinicalStatus が必要です（verificationStatus が entered-in-error の場合を除く）".into(),
                        "clinicalStatus is required unless verificationStatus is entered-in-error (ait-1)".into(),
                    );
                }
            }
            "Observation" => {
                self.observation_value_rules(obj, "Observation");
                if let Some(components) = obj.get("component").and_then(Value::as_array) {
                    for (i, c) in components.iter().enumerate() {
                        if let Some(c) = c.as_object() {
                            self.observation_value_rules(c, &format!("Observation.component[{i}]"));
                        }
                    }
                }
            }
            "Goal" => {
                if let Some(targets) = obj.get("target").and_then(Value::as_array) {
                    for (i, t) in targets.iter().enumerate() {
                        if let Some(t) = t.as_object() {
                            if has_prefix_key(t, "detail") && !t.contains_key("measure") {
                                let p = format!("Goal.target[{i}]");
                                self.error(
                                    "invariant",
                                    &p,
                                    format!("{p}: detail がある場合は measure が必要です"),
                                    format!("{p}: a detail needs a measure (gol-1)"),
                                );
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn observation_value_rules(&mut self, obj: &Map<String, Value>, path: &str) {
        if has_prefix_key(obj, "value") && obj.contains_key("dataAbsentReason") {
            self.error(
                "invariant",
                &format!("{path}.dataAbsentReason"),
                format!("{path}: 値（value[x]）がある場合 dataAbsentReason は指定できません"),
                format!("{path}: dataAbsentReason only when there is no value[x] (obs-6)"),
            );
        }
        if let Some(ranges) = obj.get("referenceRange").and_then(Value::as_array) {
            for (i, r) in ranges.iter().enumerate() {
                if let Some(r) = r.as_object() {
                    if !r.contains_key("low") && !r.contains_key("high") && !r.contains_key("text")
                    {
                        let p = format!("{path}.referenceRange[{i}]");
                        self.error(
                            "invariant",
                            &p,
                            format!("{p}: 基準範囲には low・high・text のいずれかが必要です"),
                            format!("{p}: needs low, high or text (obs-3)"),
                        );
                    }
                }
            }
        }
    }

    /// meta.profile entries the server does not know become warnings.
    fn profiles(&mut self, ty: &str, obj: &Map<String, Value>) {
        let Some(info) = type_info(ty) else { return };
        let Some(profiles) = obj
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Value::as_array)
        else {
            return;
        };
        let base = format!("http://hl7.org/fhir/StructureDefinition/{ty}");
        let jp_family = format!("http://jpfhir.jp/fhir/core/StructureDefinition/JP_{ty}_");
        for (i, p) in profiles.iter().enumerate() {
            let Some(url) = p.as_str() else { continue };
            let url_no_version = url.split('|').next().unwrap_or(url);
            let known = url_no_version == info.profile
                || url_no_version == base
                || url_no_version.starts_with(&jp_family)
                || url_no_version
                    == format!("http://jpfhir.jp/fhir/core/StructureDefinition/JP_{ty}");
            if !known {
                let path = format!("{ty}.meta.profile[{i}]");
                self.warning(
                    "not-supported",
                    &path,
                    format!(
                        "プロファイル {url} には対応していません。{} として検証しました",
                        info.profile
                    ),
                    format!(
                        "Profile {url} is not supported; the resource was validated against {}",
                        info.profile
                    ),
                );
            }
        }
    }
}

/// Validates a top-level resource. `Ok(warnings)` or every error (warnings appended).
pub(crate) fn validate(resource: &Value) -> Result<Vec<Issue>, Vec<Issue>> {
    let mut r = Report::default();
    let Some(obj) = resource.as_object() else {
        r.error(
            "structure",
            "",
            "リソースは JSON オブジェクトでなければなりません".into(),
            "A resource must be a JSON object".into(),
        );
        return Err(r.errors);
    };
    let ty = match obj.get("resourceType") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => {
            r.shape("resourceType", "文字列", "a string");
            return Err(r.errors);
        }
        None => {
            r.missing("resourceType");
            return Err(r.errors);
        }
    };
    let (Some(els), Some(_)) = (schema::elements(ty), type_info(ty)) else {
        r.error(
            "not-supported",
            "resourceType",
            format!("リソース型 {ty} には対応していません"),
            format!("Resource type {ty} is not supported"),
        );
        return Err(r.errors);
    };
    r.contained_ids = obj
        .get("contained")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let base = if ty == "Binary" {
        &[][..]
    } else {
        schema::DOMAIN_RESOURCE
    };
    r.properties(obj, ty, base, els, true);
    r.rules(ty, obj);
    r.profiles(ty, obj);
    if r.errors.is_empty() {
        Ok(r.warnings)
    } else {
        let mut all = r.errors;
        all.extend(r.warnings);
        Err(all)
    }
}
