//! The facility directory: every participating facility, searchable by name or kana (any
//! width, hiragana or katakana), type and area.

use super::{jst, jst_opt, render, Chrome};
use crate::error::{urlencode, AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use renkei_domain::{FacilityCategory, FacilityStatus, FacilityType, Lang};
use renkei_storage::{Facility, FacilityQuery};
use serde::Deserialize;

pub const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct DirectoryParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub category: String,
    #[serde(default, rename = "type")]
    pub facility_type: String,
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub page: Option<i64>,
}

impl DirectoryParams {
    /// Turns request parameters into a storage query. Unknown codes are refused rather than
    /// silently ignored, so a typo does not return the whole network.
    pub fn to_query(&self, may_see_all_statuses: bool) -> AppResult<FacilityQuery> {
        let facility_type =
            match self.facility_type.as_str() {
                "" => None,
                code => Some(FacilityType::from_code(code).ok_or_else(|| {
                    AppError::BadRequest(format!("unknown facility type: {code}"))
                })?),
            };
        let category = match self.category.as_str() {
            "" => None,
            code => Some(
                FacilityCategory::from_code(code)
                    .ok_or_else(|| AppError::BadRequest(format!("unknown category: {code}")))?,
            ),
        };
        let status = match (self.status.as_str(), may_see_all_statuses) {
            (_, false) | ("", true) => Some(FacilityStatus::Active),
            ("all", true) => None,
            (code, true) => Some(
                FacilityStatus::from_code(code)
                    .ok_or_else(|| AppError::BadRequest(format!("unknown status: {code}")))?,
            ),
        };
        let page = self.page.unwrap_or(1).clamp(1, 10_000);
        Ok(FacilityQuery {
            text: Some(self.q.chars().take(100).collect())
                .filter(|s: &String| !s.trim().is_empty()),
            facility_type,
            category,
            area: Some(self.area.clone()).filter(|a| !a.is_empty()),
            status,
            limit: PAGE_SIZE,
            offset: (page - 1) * PAGE_SIZE,
        })
    }

    fn link_for_page(&self, page: i64) -> String {
        format!(
            "/facilities?q={}&category={}&type={}&area={}&status={}&page={page}",
            urlencode(&self.q),
            urlencode(&self.category),
            urlencode(&self.facility_type),
            urlencode(&self.area),
            urlencode(&self.status)
        )
    }
}

pub struct Choice {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

pub struct Row {
    pub facility: Facility,
    pub type_label: &'static str,
    pub status_label: &'static str,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    c: Chrome,
    params: DirectoryParams,
    categories: Vec<Choice>,
    types: Vec<Choice>,
    areas: Vec<Choice>,
    statuses: Vec<Choice>,
    rows: Vec<Row>,
    total: i64,
    prev_link: Option<String>,
    next_link: Option<String>,
    page: i64,
    pages: i64,
}

pub fn type_choices(lang: Lang, selected: &str) -> Vec<Choice> {
    FacilityType::ALL
        .iter()
        .map(|t| Choice {
            code: t.code().into(),
            label: t.label(lang).into(),
            selected: t.code() == selected,
        })
        .collect()
}

pub async fn directory(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(params): Query<DirectoryParams>,
) -> AppResult<Html<String>> {
    let lang = viewer.lang();
    let query = params.to_query(viewer.is_secretariat())?;
    let result = state.store.search_facilities(&query).await?;
    let areas = state.store.facility_areas().await?;
    let page = query.offset / PAGE_SIZE + 1;
    let pages = (result.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let statuses = if viewer.is_secretariat() {
        std::iter::once(Choice {
            code: "all".into(),
            label: viewer.tr().t("directory.all_statuses").into(),
            selected: params.status == "all",
        })
        .chain(FacilityStatus::ALL.iter().map(|s| Choice {
            code: s.code().into(),
            label: s.label(lang).into(),
            selected: params.status == s.code(),
        }))
        .collect()
    } else {
        vec![]
    };
    let page_view = DirectoryPage {
        c: Chrome::for_viewer(&state, &viewer, "directory.title"),
        categories: FacilityCategory::ALL
            .iter()
            .map(|c| Choice {
                code: c.code().into(),
                label: c.label(lang).into(),
                selected: params.category == c.code(),
            })
            .collect(),
        types: type_choices(lang, &params.facility_type),
        areas: areas
            .into_iter()
            .map(|(a, n)| Choice {
                selected: a == params.area,
                label: format!("{a}（{n}）"),
                code: a,
            })
            .collect(),
        statuses,
        rows: result
            .items
            .into_iter()
            .map(|f| Row {
                type_label: f.facility_type.label(lang),
                status_label: f.status.label(lang),
                facility: f,
            })
            .collect(),
        total: result.total,
        prev_link: (page > 1).then(|| params.link_for_page(page - 1)),
        next_link: (page < pages).then(|| params.link_for_page(page + 1)),
        page,
        pages: pages.max(1),
        params,
    };
    render(&page_view)
}

#[derive(Template)]
#[template(path = "facility.html")]
struct FacilityPage {
    c: Chrome,
    f: Facility,
    type_label: &'static str,
    category_label: &'static str,
    status_label: &'static str,
    professions: Vec<&'static str>,
    official_id_label: &'static str,
    applied: String,
    decided: String,
    show_private: bool,
}

pub async fn facility_detail(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Html<String>> {
    let lang = viewer.lang();
    let f = state
        .store
        .get_facility(&id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Applications and withdrawn facilities are the secretariat's business only.
    if f.status != FacilityStatus::Active && !viewer.is_secretariat() {
        return Err(AppError::NotFound);
    }
    let page = FacilityPage {
        c: Chrome::for_viewer(&state, &viewer, "facility.title"),
        type_label: f.facility_type.label(lang),
        category_label: f.facility_type.category().label(lang),
        status_label: f.status.label(lang),
        professions: f.professions.iter().map(|p| p.label(lang)).collect(),
        official_id_label: f.facility_type.official_id_kind().label(lang),
        applied: jst(f.applied_at),
        decided: jst_opt(&f.decided_at),
        show_private: viewer.is_secretariat(),
        f,
    };
    render(&page)
}
