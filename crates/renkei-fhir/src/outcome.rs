//! OperationOutcome: every FHIR error carries one, in Japanese and English.

use crate::resource::{Issue, Severity};
use serde_json::{json, Value};

/// An OperationOutcome listing `issues` (diagnostics "日本語 / English").
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(|i| {
            let mut v = json!({
                "severity": i.severity.code(),
                "code": i.code,
                "diagnostics": format!("{} / {}", i.ja, i.en),
                "details": {"text": i.ja},
            });
            if !i.expression.is_empty() {
                v["expression"] = json!([i.expression]);
            }
            v
        }).collect::<Vec<_>>()
    })
}

/// A single-issue error.
pub fn error(code: &'static str, expression: &str, ja: &str, en: &str) -> Issue {
    Issue {
        severity: Severity::Error,
        code,
        expression: expression.to_string(),
        ja: ja.to_string(),
        en: en.to_string(),
    }
}
