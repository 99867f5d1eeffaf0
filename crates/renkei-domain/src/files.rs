//! What an uploaded file really is, decided from its bytes — never from its name or the
//! content type the browser claims (a script renamed `.jpg` is still a script).

/// Documents the network accepts as attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Pdf,
    Jpeg,
    Png,
}

impl DocumentKind {
    pub fn mime(self) -> &'static str {
        match self {
            DocumentKind::Pdf => "application/pdf",
            DocumentKind::Jpeg => "image/jpeg",
            DocumentKind::Png => "image/png",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            DocumentKind::Pdf => "pdf",
            DocumentKind::Jpeg => "jpg",
            DocumentKind::Png => "png",
        }
    }
}

/// Recognises PDF, JPEG and PNG by their signatures.
pub fn detect(bytes: &[u8]) -> Option<DocumentKind> {
    if bytes.starts_with(b"%PDF-") {
        Some(DocumentKind::Pdf)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(DocumentKind::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(DocumentKind::Png)
    } else {
        None
    }
}

/// A file name safe to show and to put in a `Content-Disposition` header: the base name,
/// control characters, quotes and path separators removed, at most 100 characters, with the
/// extension of what the file really is.
pub fn safe_filename(claimed: &str, kind: DocumentKind) -> String {
    let base = claimed.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base);
    let cleaned: String = stem
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '"' | '\'' | ';' | '<' | '>' | '|' | ':' | '*' | '?')
        })
        .take(100)
        .collect();
    let stem = if cleaned.trim().is_empty() {
        "document".to_string()
    } else {
        cleaned.trim().to_string()
    };
    format!("{stem}.{}", kind.extension())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content_not_name() {
        assert_eq!(detect(b"%PDF-1.7\n..."), Some(DocumentKind::Pdf));
        assert_eq!(
            detect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(DocumentKind::Jpeg)
        );
        assert_eq!(detect(b"#!/bin/sh\nrm -rf /"), None);
        assert_eq!(detect(b"<script>alert(1)</script>"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn filenames_are_tamed() {
        assert_eq!(
            safe_filename("../../etc/同意書.jpg", DocumentKind::Pdf),
            "同意書.pdf"
        );
        assert_eq!(
            safe_filename("a\"b;c\r\n.png", DocumentKind::Png),
            "abc.png"
        );
        assert_eq!(safe_filename("", DocumentKind::Jpeg), "document.jpg");
    }
}
