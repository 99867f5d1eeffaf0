//! Errors as the person or program on the other end should see them: an HTML page for
//! people, JSON for the API. Internal details are logged, never shown.

use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use renkei_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("sign-in required")]
    SignInRequired { back: String },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the form expired; reload and try again")]
    Csrf,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    /// The PDF cannot be made: no Japanese font is configured or installed.
    #[error("no document font: {0}")]
    NoDocumentFont(String),
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("rendering template: {e}"))
    }
}

pub type AppResult<T> = Result<T, AppError>;

fn page(
    status: StatusCode,
    title_ja: &str,
    title_en: &str,
    body_ja: &str,
    body_en: &str,
) -> Response {
    // Deliberately minimal and self-contained so it renders even when templates fail.
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title_ja} / {title_en}</title><link rel=\"stylesheet\" href=\"/assets/renkei.css\"></head>\
         <body><main class=\"narrow\"><h1>{title_ja}</h1><p>{body_ja}</p><p lang=\"en\" class=\"muted\">{title_en}: {body_en}</p>\
         <p><a href=\"/\">ホームへ / Home</a></p></main></body></html>"
    );
    (status, Html(html)).into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => page(
                StatusCode::NOT_FOUND,
                "ページが見つかりません",
                "Not found",
                "URL をご確認ください。",
                "Check the address.",
            ),
            AppError::Forbidden => page(
                StatusCode::FORBIDDEN,
                "権限がありません",
                "Forbidden",
                "この操作を行う権限がありません。",
                "You are not allowed to do this.",
            ),
            AppError::SignInRequired { back } => {
                let target = format!("/login?next={}", urlencode(&back));
                Redirect::to(&target).into_response()
            }
            AppError::BadRequest(msg) => {
                let msg = askama::filters::escape(&msg, askama::filters::Html)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                page(
                    StatusCode::BAD_REQUEST,
                    "入力に誤りがあります",
                    "Bad request",
                    &msg,
                    &msg,
                )
            }
            AppError::Csrf => page(
                StatusCode::FORBIDDEN,
                "フォームの有効期限が切れました",
                "Form expired",
                "ページを再読み込みして、もう一度操作してください。",
                "Reload the page and try again.",
            ),
            AppError::Store(StoreError::NotFound(_)) => AppError::NotFound.into_response(),
            AppError::Store(e) => {
                tracing::error!(error = %e, "storage error");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "システムエラー",
                    "Server error",
                    "処理を完了できませんでした。データは変更されていません。",
                    "The request could not be completed; nothing was changed.",
                )
            }
            AppError::NoDocumentFont(e) => {
                tracing::error!(error = %e, "document PDF");
                page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "PDFを作成できません",
                    "PDF unavailable",
                    "日本語フォントが見つかりません。管理者は設定 document_font_file にフォントファイル（例: Noto Sans CJK）を指定してください。文書は画面で閲覧できます。",
                    "No Japanese font was found. The administrator sets document_font_file to a font file (e.g. Noto Sans CJK). The document can still be read on screen.",
                )
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "システムエラー",
                    "Server error",
                    "処理を完了できませんでした。",
                    "The request could not be completed.",
                )
            }
        }
    }
}

pub async fn not_found(_uri: Uri) -> Response {
    AppError::NotFound.into_response()
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Only same-site relative paths may be used as a post-login destination.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

impl From<renkei_core::ServiceError> for AppError {
    fn from(e: renkei_core::ServiceError) -> Self {
        match e {
            renkei_core::ServiceError::Invalid { .. } => AppError::BadRequest(e.to_string()),
            renkei_core::ServiceError::Store(s) => AppError::Store(s),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_is_never_off_site() {
        use super::safe_next;
        assert_eq!(safe_next(Some("/facilities?q=a")), "/facilities?q=a");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
