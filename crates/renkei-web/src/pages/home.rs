//! The home page: what matters to this person today, by role.

use super::{render, Chrome};
use crate::error::AppResult;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use renkei_domain::{now_millis, FacilityStatus};
use renkei_storage::{AuditQuery, Facility};
use serde::Deserialize;

pub struct FacilityChoice {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub current: bool,
}

pub struct SecretariatPanel {
    pub pending: i64,
    pub active: i64,
    pub suspended: i64,
    pub withdrawn: i64,
    pub failed_logins_24h: usize,
    pub surveys_answered: usize,
    pub surveys_total: usize,
}

pub struct AdminPanel {
    pub facility: Facility,
    pub members: usize,
    pub awaiting_setup: usize,
    pub survey_answered: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    profession: &'static str,
    facilities: Vec<FacilityChoice>,
    secretariat: Option<SecretariatPanel>,
    admin: Option<AdminPanel>,
    recovery_codes_left: i64,
    acp_reviews: Vec<super::acp::ReviewReminder>,
    timeline_unread: Vec<super::timeline::UnreadPatient>,
    important_notices: Vec<super::notices::NoticeRow>,
    on_call: Vec<super::cover::OnCallCard>,
}

#[derive(Deserialize)]
pub struct HomeQuery {
    msg: Option<String>,
}

pub async fn home(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<HomeQuery>,
) -> AppResult<Html<String>> {
    let lang = viewer.lang();
    let current = viewer.session.facility_id.clone();
    let facilities = viewer
        .active_memberships()
        .map(|m| FacilityChoice {
            id: m.facility.id.clone(),
            name: m.facility.name.clone(),
            role: m.membership.role.label(lang),
            current: current.as_deref() == Some(m.facility.id.as_str()),
        })
        .collect();
    let secretariat = if viewer.is_secretariat() {
        let counts = state.store.count_facilities_by_status().await?;
        let count = |s: FacilityStatus| {
            counts
                .iter()
                .find(|(k, _)| *k == s)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        let failed = state
            .store
            .search_audit(&AuditQuery {
                from: Some(now_millis() - 24 * 3600 * 1000),
                action_prefix: Some("auth.login".into()),
                outcome: Some("failure".into()),
                limit: 10_000,
                ..Default::default()
            })
            .await?
            .len();
        let surveys = state.store.list_readiness().await?;
        Some(SecretariatPanel {
            pending: count(FacilityStatus::Pending),
            active: count(FacilityStatus::Active),
            suspended: count(FacilityStatus::Suspended),
            withdrawn: count(FacilityStatus::Withdrawn),
            failed_logins_24h: failed,
            surveys_answered: surveys.iter().filter(|(_, s)| s.is_some()).count(),
            surveys_total: surveys.len(),
        })
    } else {
        None
    };
    let admin = match viewer.admin_facility() {
        Some(f) => {
            let members = state.store.facility_members(&f.id).await?;
            Some(AdminPanel {
                facility: f.clone(),
                members: members.iter().filter(|(u, m)| m.active && u.active).count(),
                awaiting_setup: members
                    .iter()
                    .filter(|(u, m)| m.active && u.active && !u.is_enrolled())
                    .count(),
                survey_answered: state.store.get_readiness(&f.id).await?.is_some(),
            })
        }
        None => None,
    };
    let page = HomePage {
        c: Chrome::for_viewer(&state, &viewer, "home.title").with_notice(q.msg.as_deref()),
        profession: viewer.user.profession.label(lang),
        facilities,
        secretariat,
        admin,
        recovery_codes_left: state.store.unused_recovery_codes(&viewer.user.id).await?,
        acp_reviews: super::acp::reminders(&state, &viewer).await?,
        timeline_unread: super::timeline::unread_patients(&state, &viewer).await?,
        important_notices: super::notices::important_unread(&state, &viewer).await?,
        on_call: super::cover::on_call_cards(&state, &viewer).await?,
    };
    render(&page)
}
