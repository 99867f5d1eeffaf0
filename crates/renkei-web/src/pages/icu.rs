//! The severity-score calculator page (`/icu/calculator`): choose a score, type values with
//! their units, see the total and every component with its points — a missing component
//! is shown as missing, never as 0 — plus the SAPS II predicted mortality or the NEWS2 risk
//! band. No script: the form posts and the page is rendered again with the answer. The
//! rules are those of the JSON API (`crate::icu`). Nothing is stored or audited.

use super::{render, Chrome};
use crate::error::AppResult;
use crate::i18n::Tr;
use crate::icu::{self, FieldError, FormValues, Kind, Outcome, Problem, Score};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use renkei_domain::Lang;
use serde::Deserialize;

pub struct OptView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct FieldView {
    pub name: String,
    pub label: &'static str,
    /// `number` or `select`.
    pub control: &'static str,
    pub value: String,
    /// Unit choices (more than one unit), or empty.
    pub units: Vec<OptView>,
    /// The only unit, shown beside the input.
    pub unit_label: String,
    pub options: Vec<OptView>,
    pub hint: String,
    pub error: Option<String>,
}

pub struct RowView {
    pub id: String,
    pub label: &'static str,
    pub points: Option<u8>,
    pub used: String,
    pub note: String,
}

pub struct ResultView {
    pub total: u32,
    pub complete: bool,
    pub missing: Vec<&'static str>,
    pub rows: Vec<RowView>,
    pub mortality: Option<String>,
    pub risk: Option<&'static str>,
    pub minimum_risk: Option<&'static str>,
    pub single_parameter_3: bool,
    pub conversions: Vec<String>,
}

pub struct ScoreTab {
    pub slug: &'static str,
    pub label: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "icu_calculator.html")]
struct CalculatorPage {
    c: Chrome,
    slug: &'static str,
    score_name: &'static str,
    tabs: Vec<ScoreTab>,
    fields: Vec<FieldView>,
    result: Option<ResultView>,
    has_errors: bool,
}

#[derive(Deserialize)]
pub struct CalculatorQuery {
    score: Option<String>,
}

fn score_of(slug: Option<&str>) -> Score {
    slug.and_then(Score::from_slug).unwrap_or(Score::ApacheIi)
}

/// `GET /icu/calculator?score=` — the empty form.
pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<CalculatorQuery>,
) -> AppResult<Response> {
    let score = score_of(q.score.as_deref());
    let page = build(&state, &viewer, score, &FormValues::default(), None, &[]);
    Ok(render(&page)?.into_response())
}

/// `POST /icu/calculator` — computes and shows the score, or the form with its messages
/// (422).
pub async fn submit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = FormValues(pairs);
    viewer.check_csrf(form.get("csrf"))?;
    let score = score_of(Some(form.get("score")));
    match icu::from_form(score, &form) {
        Ok(inputs) => {
            let outcome = icu::compute(&inputs);
            let page = build(&state, &viewer, score, &form, Some(&outcome), &[]);
            Ok(render(&page)?.into_response())
        }
        Err(errors) => {
            let page = build(&state, &viewer, score, &form, None, &errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

fn build(
    state: &SharedState,
    viewer: &Viewer,
    score: Score,
    form: &FormValues,
    outcome: Option<&Outcome>,
    errors: &[FieldError],
) -> CalculatorPage {
    let tr = viewer.tr();
    CalculatorPage {
        c: Chrome::for_viewer(state, viewer, "icu.title"),
        slug: score.slug(),
        score_name: tr.t(&format!("icu.score.{}", score.slug())),
        tabs: Score::ALL
            .iter()
            .map(|s| ScoreTab {
                slug: s.slug(),
                label: tr.t(&format!("icu.score.{}", s.slug())),
                current: *s == score,
            })
            .collect(),
        fields: fields(tr, score, form, errors),
        result: outcome.map(|o| result(tr, score, o)),
        has_errors: !errors.is_empty(),
    }
}

fn range_text(u: &icu::Unit) -> String {
    let unit = if u.label.is_empty() {
        String::new()
    } else {
        format!(" {}", u.label)
    };
    format!("{}–{}{unit}", u.min, u.max)
}

fn error_text(tr: Tr, e: &FieldError) -> String {
    match &e.problem {
        Problem::NotANumber => tr.t("icu.err.number").to_string(),
        Problem::NotInteger => tr.t("icu.err.integer").to_string(),
        Problem::OutOfRange { min, max, unit } => {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            format!("{} {min}–{max}{unit}", tr.t("icu.err.range"))
        }
        Problem::TwoUnits(_) => tr.t("icu.err.two_units").to_string(),
        Problem::DrugsNoneButDose => tr.t("icu.err.drugs_none_but_dose").to_string(),
        Problem::DrugsGivenNoDose => tr.t("icu.err.drugs_given_no_dose").to_string(),
        Problem::Unknown
        | Problem::NotABoolean
        | Problem::NotOneOf(_)
        | Problem::BadTime
        | Problem::BadBasis => tr.t("icu.err.choice").to_string(),
    }
}

fn fields(tr: Tr, score: Score, form: &FormValues, errors: &[FieldError]) -> Vec<FieldView> {
    score
        .params()
        .iter()
        .map(|p| {
            let error = errors
                .iter()
                .find(|e| e.field == p.key)
                .map(|e| error_text(tr, e));
            let value = form.get(p.key).to_string();
            let label = tr.t(&format!("icu.param.{}", p.key));
            let unset = OptView {
                value: String::new(),
                label: tr.t("icu.unset").to_string(),
                selected: value.is_empty(),
            };
            match &p.kind {
                Kind::Number(units) => {
                    let chosen = icu::chosen_unit(p, form).map(|u| u.field);
                    let (units_view, unit_label) = if units.len() > 1 {
                        (
                            units
                                .iter()
                                .map(|u| OptView {
                                    value: u.field.to_string(),
                                    label: if u.label.is_empty() {
                                        tr.t("icu.unit.fraction").to_string()
                                    } else {
                                        u.label.to_string()
                                    },
                                    selected: Some(u.field) == chosen,
                                })
                                .collect(),
                            String::new(),
                        )
                    } else {
                        (Vec::new(), units[0].label.to_string())
                    };
                    let hint = units.iter().map(range_text).collect::<Vec<_>>().join(" / ");
                    FieldView {
                        name: p.key.to_string(),
                        label,
                        control: "number",
                        value,
                        units: units_view,
                        unit_label,
                        options: Vec::new(),
                        hint,
                        error,
                    }
                }
                Kind::Flag(_) => FieldView {
                    name: p.key.to_string(),
                    label,
                    control: "select",
                    options: vec![
                        unset,
                        OptView {
                            value: "yes".into(),
                            label: tr.t("answer.yes").into(),
                            selected: value == "yes",
                        },
                        OptView {
                            value: "no".into(),
                            label: tr.t("answer.no").into(),
                            selected: value == "no",
                        },
                    ],
                    value,
                    units: Vec::new(),
                    unit_label: String::new(),
                    hint: String::new(),
                    error,
                },
                Kind::Choice(f, options) => FieldView {
                    name: p.key.to_string(),
                    label,
                    control: "select",
                    options: std::iter::once(unset)
                        .chain(options.iter().map(|o| OptView {
                            value: o.to_string(),
                            label: tr.t(&format!("icu.choice.{f}.{o}")).to_string(),
                            selected: value == *o,
                        }))
                        .collect(),
                    value,
                    units: Vec::new(),
                    unit_label: String::new(),
                    hint: String::new(),
                    error,
                },
            }
        })
        .collect()
}

/// A number as people write it: at most two decimals, no trailing zeros.
pub fn fmt_number(v: f64) -> String {
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn component_label(tr: Tr, id: &str) -> &'static str {
    tr.t(&format!("icu.component.{id}"))
}

fn risk_key(r: renkei_icu_scores::news2::News2Risk) -> String {
    use renkei_icu_scores::news2::News2Risk;
    let code = match r {
        News2Risk::Low => "low",
        News2Risk::LowMedium => "low_medium",
        News2Risk::Medium => "medium",
        News2Risk::High => "high",
    };
    format!("icu.risk.{code}")
}

fn result(tr: Tr, score: Score, o: &Outcome) -> ResultView {
    let rows = o
        .sheet
        .components
        .iter()
        .map(|c| {
            let id = icu::component_id(c.component);
            let mut used: Vec<String> = c
                .sources
                .iter()
                .map(|s| match icu::source_unit(score, s.variable) {
                    Some((p, u)) => {
                        let label = tr.t(&format!("icu.param.{}", p.key));
                        let unit = if u.label.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", u.label)
                        };
                        format!("{label} {}{unit}", fmt_number(s.value))
                    }
                    None => format!("{} {}", s.variable, fmt_number(s.value)),
                })
                .collect();
            if let Some(v) = c.scored_value {
                used.push(format!("→ {}", fmt_number(v)));
            }
            RowView {
                label: component_label(tr, &id),
                id,
                points: c.points,
                used: used.join(", "),
                note: c.note.map(|n| note_text(tr, n)).unwrap_or_default(),
            }
        })
        .collect();
    ResultView {
        total: o.sheet.total,
        complete: o.sheet.complete,
        missing: o
            .sheet
            .missing
            .iter()
            .map(|c| component_label(tr, &icu::component_id(*c)))
            .collect(),
        rows,
        mortality: o.predicted_mortality.map(|p| format!("{:.1} %", p * 100.0)),
        risk: o.risk.map(|r| tr.t(&risk_key(r))),
        minimum_risk: o.minimum_risk.map(|r| tr.t(&risk_key(r))),
        single_parameter_3: o.single_parameter_3,
        conversions: o
            .conversions
            .iter()
            .map(|c| {
                format!(
                    "{} {} → {} {}",
                    c.from_field,
                    fmt_number(c.from_value),
                    c.to_field,
                    fmt_number(c.to_value)
                )
            })
            .collect(),
    }
}

/// The library's notes are English; the Japanese page shows them translated.
fn note_text(tr: Tr, note: &'static str) -> String {
    if tr.0 == Lang::En {
        return note.to_string();
    }
    NOTES_JA
        .iter()
        .find(|(en, _)| *en == note)
        .map(|(_, ja)| ja.to_string())
        .unwrap_or_else(|| note.to_string())
}

const NOTES_JA: &[(&str, &str)] = &[
    ("no value", "値なし"),
    ("value is not a finite number", "数値ではありません"),
    ("PaO2 and FiO2 needed", "PaO2 と FiO2 が必要"),
    ("FiO2 and PaO2 needed", "FiO2 と PaO2 が必要"),
    (
        "FiO2 ≥ 0.5: PaCO2 needed for A-aDO2",
        "FiO2 ≥ 0.5：A-aDO2 の計算に PaCO2 が必要",
    ),
    ("A-aDO2 (FiO2 ≥ 0.5)", "A-aDO2 で評価（FiO2 ≥ 0.5）"),
    ("PaO2 (FiO2 < 0.5)", "PaO2 で評価（FiO2 < 0.5）"),
    (
        "venous HCO3: no arterial pH",
        "動脈血 pH がないため静脈血 HCO3 で評価",
    ),
    (
        "arterial pH or venous HCO3 needed",
        "動脈血 pH または静脈血 HCO3 が必要",
    ),
    ("doubled: acute renal failure", "急性腎不全のため点数を2倍"),
    (
        "acute renal failure unknown (points are doubled if present)",
        "急性腎不全の有無が未入力（ありなら点数は2倍）",
    ),
    (
        "ventilation/CPAP status unknown",
        "人工呼吸・CPAP の有無が未入力",
    ),
    (
        "not ventilated or on CPAP: row not scored",
        "人工呼吸・CPAP なし：この項目は0点",
    ),
    ("scale 1", "スケール1"),
    ("scale 2", "スケール2"),
    (
        "scale 2, SpO2 ≥ 93: air or oxygen needed",
        "スケール2・SpO2 ≥ 93：空気か酸素投与かの入力が必要",
    ),
    ("oxygen", "酸素投与"),
    ("air", "空気"),
    ("air or oxygen not recorded", "空気か酸素投与かが未入力"),
    ("ACVPU not recorded", "意識レベル（ACVPU）が未入力"),
    ("alert", "清明（A）"),
    ("new confusion", "新たな混乱（C）"),
    ("responds to voice", "呼びかけに反応（V）"),
    ("responds to pain", "痛みに反応（P）"),
    ("unresponsive", "反応なし（U）"),
    (
        "heart rate, CVP and MAP needed",
        "心拍数・CVP・平均動脈圧が必要",
    ),
    (
        "PaO2/FiO2 < 200: respiratory support status needed",
        "PaO2/FiO2 < 200：呼吸補助の有無が必要",
    ),
    (
        "vasoactive drug status unknown",
        "血管作動薬の投与状況が未入力",
    ),
    ("MAP needed", "平均動脈圧が必要"),
    (
        "creatinine and urine output needed",
        "クレアチニンと尿量が必要",
    ),
    ("urine output needed", "尿量が必要"),
    ("creatinine needed", "クレアチニンが必要"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_plainly() {
        assert_eq!(fmt_number(38.5), "38.5");
        assert_eq!(fmt_number(221.0), "221");
        assert_eq!(fmt_number(283.3333), "283.33");
        assert_eq!(fmt_number(-0.001), "0");
    }
}
