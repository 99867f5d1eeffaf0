//! One-team goals (ワンチームの目標, seed 001 Otaru): goals every profession on a patient
//! works towards — a FHIR `Goal` each, category `team-goal` — and progress notes against
//! them, each a `Communication` about the goal, so they also appear on the care team's
//! timeline with its read receipts.
//!
//! No I/O: the web layer stores through `clinical`. Only the facility that set a goal may
//! change its status (the write path's rule for every resource); anyone who may contribute
//! may add progress.

use serde_json::{json, Value};

/// Renkei's code system for the goal domain and the `team-goal` category.
pub const TEAM_GOAL_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/team-goal";
/// `Goal.category` code of a team goal (beside the domain).
pub const TEAM_GOAL: &str = "team-goal";
const ACHIEVEMENT_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/goal-achievement";
/// The code system of a progress note's assessment (on the Communication).
pub const PROGRESS_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/goal-progress";

/// Who a goal belongs to, by field of care: (code, Japanese, English).
pub const DOMAINS: [(&str, &str, &str); 7] = [
    ("wish", "本人の望む暮らし", "The patient's wishes"),
    ("medical", "医療", "Medical"),
    ("nursing", "看護", "Nursing"),
    ("rehabilitation", "リハビリ", "Rehabilitation"),
    ("nutrition", "栄養・食事", "Nutrition"),
    ("medication", "服薬", "Medication"),
    ("daily-life", "生活・介護", "Daily life and care"),
];

/// FHIR `Goal.achievementStatus` codes a progress note or the goal's owner may state.
pub const ACHIEVEMENTS: [(&str, &str, &str); 6] = [
    ("in-progress", "取り組み中", "In progress"),
    ("improving", "改善", "Improving"),
    ("no-change", "変化なし", "No change"),
    ("worsening", "悪化", "Worsening"),
    ("achieved", "達成", "Achieved"),
    ("not-achieved", "未達成", "Not achieved"),
];

/// `Goal.lifecycleStatus` values the page offers.
pub const LIFECYCLES: [&str; 3] = ["active", "completed", "cancelled"];

/// Longest goal description and progress note.
pub const MAX_GOAL_CHARS: usize = 200;
pub const MAX_PROGRESS_CHARS: usize = 2000;

/// A new team goal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGoal {
    pub description: String,
    pub domain: String,
    /// `YYYY-MM-DD`, optional.
    pub due: Option<String>,
    /// Who set it: "name（profession）".
    pub expressed_by: String,
    pub start: String,
}

pub fn domain_label(code: &str, japanese: bool) -> Option<&'static str> {
    DOMAINS
        .iter()
        .find(|d| d.0 == code)
        .map(|d| if japanese { d.1 } else { d.2 })
}

pub fn achievement_label(code: &str, japanese: bool) -> Option<&'static str> {
    ACHIEVEMENTS
        .iter()
        .find(|d| d.0 == code)
        .map(|d| if japanese { d.1 } else { d.2 })
}

impl NewGoal {
    /// The goal as an active FHIR `Goal` about the person, in progress.
    pub fn to_fhir(&self, person: &str) -> Value {
        let mut goal = json!({
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "achievementStatus": achievement("in-progress"),
            "category": [{ "coding": [
                { "system": TEAM_GOAL_SYSTEM, "code": TEAM_GOAL, "display": "ワンチームの目標" },
                { "system": TEAM_GOAL_SYSTEM, "code": self.domain,
                  "display": domain_label(&self.domain, true).unwrap_or_default() },
            ] }],
            "description": { "text": self.description },
            "subject": { "reference": format!("Patient/{person}") },
            "startDate": self.start,
            "expressedBy": { "display": self.expressed_by },
        });
        if let Some(due) = &self.due {
            goal["target"] = json!([{ "dueDate": due }]);
        }
        goal
    }
}

fn achievement(code: &str) -> Value {
    json!({ "coding": [{ "system": ACHIEVEMENT_SYSTEM, "code": code,
                         "display": achievement_label(code, false).unwrap_or_default() }],
            "text": achievement_label(code, true).unwrap_or_default() })
}

/// The goal with a new lifecycle and achievement status (the stored JSON otherwise kept).
pub fn with_status(goal: &Value, lifecycle: &str, achieved: &str) -> Value {
    let mut g = goal.clone();
    g["lifecycleStatus"] = json!(lifecycle);
    g["achievementStatus"] = achievement(achieved);
    if let Some(obj) = g.as_object_mut() {
        obj.remove("meta");
    }
    g
}

/// Whether a `Goal` is a team goal.
pub fn is_team_goal(goal: &Value) -> bool {
    codes(goal).any(|(s, c)| s == TEAM_GOAL_SYSTEM && c == TEAM_GOAL)
}

fn codes(goal: &Value) -> impl Iterator<Item = (&str, &str)> {
    goal["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["coding"].as_array().into_iter().flatten())
        .filter_map(|c| Some((c["system"].as_str()?, c["code"].as_str()?)))
}

/// The domain code of a team goal.
pub fn domain_of(goal: &Value) -> Option<&str> {
    codes(goal)
        .find(|(s, c)| *s == TEAM_GOAL_SYSTEM && *c != TEAM_GOAL)
        .map(|(_, c)| c)
}

/// The achievement code of a goal.
pub fn achievement_of(goal: &Value) -> Option<&str> {
    goal["achievementStatus"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["system"] == ACHIEVEMENT_SYSTEM)
        .and_then(|c| c["code"].as_str())
}

#[allow(clippy::too_many_arguments)]
/// A progress note on a goal: a timeline `Communication` (kind `report`) about the goal,
/// with the assessment as a second category coding.
pub fn progress_note(
    person: &str,
    goal_id: &str,
    goal_text: &str,
    assessment: &str,
    text: &str,
    sender: &str,
    sent: &str,
    kind_system: &str,
) -> Value {
    let label = achievement_label(assessment, true).unwrap_or_default();
    json!({
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            { "coding": [{ "system": kind_system, "code": "report", "display": "報告" }] },
            { "coding": [{ "system": PROGRESS_SYSTEM, "code": assessment, "display": label }] },
        ],
        "priority": "routine",
        "subject": { "reference": format!("Patient/{person}") },
        "about": [{ "reference": format!("Goal/{goal_id}"), "display": goal_text }],
        "sent": sent,
        "sender": { "display": sender },
        "payload": [{ "contentString": format!("【目標の経過：{label}】{goal_text}\n{text}") }],
    })
}

/// The goal a progress note is about, and its assessment.
pub fn progress_of(communication: &Value) -> Option<(String, String)> {
    let goal = communication["about"]
        .as_array()?
        .iter()
        .filter_map(|a| a["reference"].as_str())
        .find_map(|r| r.strip_prefix("Goal/"))?
        .to_string();
    let assessment = communication["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["coding"].as_array().into_iter().flatten())
        .find(|c| c["system"] == PROGRESS_SYSTEM)
        .and_then(|c| c["code"].as_str())
        .unwrap_or("in-progress")
        .to_string();
    Some((goal, assessment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_goal_round_trips_and_progress_points_at_it() {
        let goal = NewGoal {
            description: "自宅のトイレまで歩いて行ける".into(),
            domain: "rehabilitation".into(),
            due: Some("2027-03-31".into()),
            expressed_by: "理学 花子（理学療法士）".into(),
            start: "2026-12-03".into(),
        }
        .to_fhir("p1");
        assert!(is_team_goal(&goal));
        assert_eq!(domain_of(&goal), Some("rehabilitation"));
        assert_eq!(achievement_of(&goal), Some("in-progress"));
        assert_eq!(goal["target"][0]["dueDate"], "2027-03-31");
        let done = with_status(&goal, "completed", "achieved");
        assert_eq!(done["lifecycleStatus"], "completed");
        assert_eq!(achievement_of(&done), Some("achieved"));
        let note = progress_note(
            "p1",
            "g1",
            "自宅のトイレまで歩いて行ける",
            "improving",
            "手すりを使って 10 m 歩行できた",
            "看護 太郎（看護師）",
            "2026-12-03T01:00:00.000Z",
            "https://renkei.example.jp/fhir/CodeSystem/timeline-kind",
        );
        assert_eq!(
            progress_of(&note),
            Some(("g1".to_string(), "improving".to_string()))
        );
        assert!(note["payload"][0]["contentString"]
            .as_str()
            .unwrap()
            .starts_with("【目標の経過：改善】"));
    }
}
