//! The membership application (入会申請, 003 ch.4(2)): open to anyone, reviewed by the
//! secretariat.

use super::directory::{type_choices, Choice};
use super::{render, Chrome};
use crate::error::AppResult;
use crate::session::{anon_csrf, check_anon_csrf, set_cookie, Client, ANON_CSRF_COOKIE};
use crate::SharedState;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::text::{self, FieldError};
use renkei_domain::{ids, now_millis, FacilityType, Lang, Profession};
use renkei_storage::{NewFacility, StoreError};
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage {
    c: Chrome,
    v: HashMap<String, String>,
    errors: Vec<String>,
    types: Vec<Choice>,
    professions: Vec<Choice>,
}

impl ApplyPage {
    fn val(&self, key: &str) -> &str {
        self.v.get(key).map(String::as_str).unwrap_or("")
    }
}

#[derive(Template)]
#[template(path = "apply_done.html")]
struct ApplyDonePage {
    c: Chrome,
    name: String,
}

fn profession_choices(lang: Lang, selected: &[String]) -> Vec<Choice> {
    Profession::ALL
        .iter()
        .map(|p| Choice {
            code: p.code().into(),
            label: p.label(lang).into(),
            selected: selected.iter().any(|s| s == p.code()),
        })
        .collect()
}

pub async fn apply_page(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (token, fresh) = anon_csrf(&headers);
    let page = ApplyPage {
        c: Chrome {
            narrow: false,
            ..Chrome::anonymous(&state, &client, "apply.title", &token)
        },
        v: HashMap::new(),
        errors: vec![],
        types: type_choices(client.lang, "")
            .into_iter()
            .filter(|c| c.code != FacilityType::Secretariat.code())
            .collect(),
        professions: profession_choices(client.lang, &[]),
    };
    let mut res = render(&page)?.into_response();
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                ANON_CSRF_COOKIE,
                &token,
                None,
                state.config.secure_cookies,
                true,
            ),
        );
    }
    Ok(res)
}

/// Validates every field and reports all problems at once.
fn validate(form: &[(String, String)], lang: Lang) -> Result<NewFacility, Vec<String>> {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut errors: Vec<FieldError> = Vec::new();
    let mut take = |r: Result<String, FieldError>| {
        r.unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        })
    };
    let facility_type =
        FacilityType::from_code(get("facility_type")).filter(|t| *t != FacilityType::Secretariat);
    let official_required = facility_type
        .is_some_and(|t| t.official_id_kind() != renkei_domain::facility::OfficialIdKind::None);
    let f = NewFacility {
        id: ids::new_id(),
        facility_type: facility_type.unwrap_or(FacilityType::Clinic),
        legal_entity: take(text::clean("legal_entity", get("legal_entity"), 100, true)),
        name: take(text::clean("name", get("name"), 100, true)),
        name_kana: take(text::kana("name_kana", get("name_kana"), 200, true)),
        official_id: take(text::ten_digits(
            "official_id",
            get("official_id"),
            official_required,
        )),
        postal_code: take(text::postal_code("postal_code", get("postal_code"), true)),
        address: take(text::clean("address", get("address"), 200, true)),
        area: take(text::clean("area", get("area"), 50, false)),
        tel: take(text::phone("tel", get("tel"), true)),
        fax: take(text::phone("fax", get("fax"), false)),
        email: take(text::email("email", get("email"), true)),
        applicant_name: take(text::clean(
            "applicant_name",
            get("applicant_name"),
            60,
            true,
        )),
        applicant_email: take(text::email("applicant_email", get("applicant_email"), true)),
        admin_name: take(text::clean("admin_name", get("admin_name"), 60, true)),
        admin_login_id: take(text::login_id("admin_login_id", get("admin_login_id"))),
        admin_email: take(text::email("admin_email", get("admin_email"), true)),
        professions: vec![],
        applied_at: now_millis(),
    };
    if facility_type.is_none() {
        errors.push(FieldError::new(
            "facility_type",
            text::Problem::UnknownChoice,
        ));
    }
    let mut professions = Vec::new();
    for (k, v) in form {
        if k == "professions" {
            match Profession::from_code(v) {
                Some(p) if !professions.contains(&p) => professions.push(p),
                Some(_) => {}
                None => errors.push(FieldError::new("professions", text::Problem::UnknownChoice)),
            }
        }
    }
    if professions.is_empty() {
        errors.push(FieldError::new("professions", text::Problem::Required));
    }
    if errors.is_empty() {
        Ok(NewFacility { professions, ..f })
    } else {
        let tr = crate::i18n::Tr(lang);
        Err(errors
            .iter()
            .map(|e| format!("{}: {}", tr.field(e.field), e.message(lang)))
            .collect())
    }
}

pub async fn apply_submit(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    // Parsed by hand: the professions checkboxes repeat a key, which `Form<struct>` cannot
    // hold, and malformed bodies must still produce the page with a message.
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    check_anon_csrf(&headers, &csrf)?;
    let lang = client.lang;
    let tr = client.tr();
    let result = match validate(&form, lang) {
        Ok(facility) => {
            let audit = AuditEntry::new("facility.apply", Outcome::Success)
                .actor(None, Some(&facility.applicant_email), None)
                .target("facility", &facility.id)
                .from_client(client.ip_string(), client.user_agent.clone())
                .detail(serde_json::json!({ "name": facility.name, "type": facility.facility_type.code() }));
            match state.store.create_facility(facility.clone(), audit).await {
                Ok(stored) => Ok(stored),
                Err(StoreError::Conflict(_)) => Err(vec![tr.t("apply.duplicate").to_string()]),
                Err(e) => return Err(e.into()),
            }
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok(stored) => {
            let page = ApplyDonePage {
                c: Chrome::anonymous(&state, &client, "apply.done_title", &csrf),
                name: stored.name,
            };
            Ok(render(&page)?.into_response())
        }
        Err(errors) => {
            let selected: Vec<String> = form
                .iter()
                .filter(|(k, _)| k == "professions")
                .map(|(_, v)| v.clone())
                .collect();
            let ftype = form
                .iter()
                .find(|(k, _)| k == "facility_type")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let page = ApplyPage {
                c: Chrome {
                    narrow: false,
                    ..Chrome::anonymous(&state, &client, "apply.title", &csrf)
                },
                v: form
                    .iter()
                    .filter(|(k, _)| k != "professions" && k != "csrf")
                    .map(|(k, v)| (k.clone(), v.chars().take(300).collect()))
                    .collect(),
                errors,
                types: type_choices(lang, &ftype)
                    .into_iter()
                    .filter(|c| c.code != FacilityType::Secretariat.code())
                    .collect(),
                professions: profession_choices(lang, &selected),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}
