//! Server-rendered pages. Each module owns one area of the UI; templates live in
//! `templates/` and are checked at compile time by askama.

pub mod account;
pub mod acp;
pub mod admin;
pub mod apply;
pub mod auth;
pub mod board;
pub mod care_log;
pub mod clients;
pub mod cover;
pub mod directory;
pub mod documents;
pub mod emergency;
pub mod goals;
pub mod home;
pub mod icu;
pub mod icu_bed;
pub mod icu_census;
pub mod icu_ops;
pub mod mpi;
pub mod notices;
pub mod notifications;
pub mod patients;
pub mod record;
pub mod staff;
pub mod timeline;
pub mod transfers;

use crate::error::{urlencode, AppResult};
use crate::i18n::Tr;
use crate::session::{Client, Viewer};
use crate::SharedState;
use askama::Template;
use axum::response::Html;
use renkei_domain::Lang;

/// What every page shows around its content: language, who is signed in, navigation.
pub struct Chrome {
    pub tr: Tr,
    pub lang: Lang,
    pub title: String,
    pub network_name: String,
    pub user_name: Option<String>,
    pub facility_name: Option<String>,
    pub is_secretariat: bool,
    pub is_facility_admin: bool,
    /// May open emergency summaries outside the care team.
    pub may_break_glass: bool,
    pub csrf: String,
    pub demo: bool,
    pub path: String,
    pub notice: Option<String>,
    pub narrow: bool,
    /// Unread notifications of the signed-in user (the nav badge).
    pub unread: i64,
    /// Unread current notices (周知事項) of the signed-in user (their nav badge).
    pub unread_notices: i64,
}

impl Chrome {
    pub fn for_viewer(state: &SharedState, viewer: &Viewer, title_key: &str) -> Self {
        let tr = viewer.tr();
        Chrome {
            tr,
            lang: viewer.lang(),
            title: tr.t(title_key).to_string(),
            network_name: state.config.network_name.clone(),
            user_name: Some(viewer.user.display_name.clone()),
            facility_name: viewer.facility().map(|f| f.name.clone()),
            is_secretariat: viewer.is_secretariat(),
            is_facility_admin: viewer.admin_facility().is_some(),
            may_break_glass: renkei_domain::patient::may_break_glass(&viewer.requester()),
            csrf: viewer.session.csrf_token.clone(),
            demo: state.config.demo.is_some(),
            path: viewer.client.path.clone(),
            notice: None,
            narrow: false,
            unread: viewer.unread_notifications,
            unread_notices: viewer.unread_notices.0,
        }
    }

    pub fn anonymous(state: &SharedState, client: &Client, title_key: &str, csrf: &str) -> Self {
        let tr = client.tr();
        Chrome {
            tr,
            lang: client.lang,
            title: tr.t(title_key).to_string(),
            network_name: state.config.network_name.clone(),
            user_name: None,
            facility_name: None,
            is_secretariat: false,
            is_facility_admin: false,
            may_break_glass: false,
            csrf: csrf.to_string(),
            demo: state.config.demo.is_some(),
            path: client.path.clone(),
            notice: None,
            narrow: true,
            unread: 0,
            unread_notices: 0,
        }
    }

    /// A notice chosen by key from a query parameter: only known keys are shown, so a
    /// crafted link cannot put arbitrary text on the page.
    pub fn with_notice(mut self, key: Option<&str>) -> Self {
        self.notice = key
            .filter(|k| k.starts_with("notice.") && self.tr.has(k))
            .map(|k| self.tr.t(k).to_string());
        self
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.tr.t(key)
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Ja => "en",
            Lang::En => "ja",
        }
    }

    pub fn path_encoded(&self) -> String {
        urlencode(&self.path)
    }
}

pub fn render<T: Template>(t: &T) -> AppResult<Html<String>> {
    Ok(Html(t.render()?))
}

/// `2026-11-22 13:05` in Japan time: the network runs on JST whatever the server's zone.
pub fn jst(millis: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    let tz = FixedOffset::east_opt(9 * 3600).expect("JST offset is valid");
    tz.timestamp_millis_opt(millis)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub fn jst_opt(millis: &Option<i64>) -> String {
    millis.map(jst).unwrap_or_default()
}

/// Parses `YYYY-MM-DD` as the start of that day in JST.
pub fn parse_jst_date(s: &str) -> Option<i64> {
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let tz = FixedOffset::east_opt(9 * 3600)?;
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.timestamp_millis())
}

/// A multipart form read whole: the named text fields and its one `file` part.
pub(crate) struct MultipartForm {
    fields: std::collections::HashMap<String, String>,
    /// (original file name, bytes); None when no file or an empty one was sent.
    pub file: Option<(String, Vec<u8>)>,
}

impl MultipartForm {
    /// A text field's value ("" when absent).
    pub fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Reads the `text_fields` and the `file` part of a multipart body (other parts are skipped
/// unread); an unreadable body is 400.
pub(crate) async fn read_multipart(
    tr: Tr,
    mut multipart: axum::extract::Multipart,
    text_fields: &[&str],
) -> AppResult<MultipartForm> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        crate::error::AppError::BadRequest(format!("{}: {e}", tr.t("record.upload_unreadable")))
    };
    let mut form = MultipartForm {
        fields: std::collections::HashMap::new(),
        file: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(unreadable)?;
            if !bytes.is_empty() {
                form.file = Some((file_name, bytes.to_vec()));
            }
        } else if text_fields.contains(&name.as_str()) {
            let value = field.text().await.map_err(unreadable)?;
            form.fields.insert(name, value);
        }
    }
    Ok(form)
}
