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

/// A JPEG without the segments that carry where and with what a photo was taken: APP1
/// (Exif with its GPS block, XMP), APP13 (IPTC/Photoshop) and comments. Everything else —
/// JFIF, ICC colour profile, quantisation and Huffman tables, frame, scan data — is copied
/// unchanged, so the image decodes as before (an Exif orientation is lost with the rest).
/// None when the bytes are not a well-formed JPEG up to its first scan.
pub fn strip_jpeg_metadata(data: &[u8]) -> Option<Vec<u8>> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut i = 2;
    loop {
        if *data.get(i)? != 0xFF {
            return None;
        }
        // Fill bytes before a marker.
        while *data.get(i)? == 0xFF {
            i += 1;
        }
        let marker = data[i];
        i += 1;
        match marker {
            0x00 | 0xD8 => return None,
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            _ => {}
        }
        let len = u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]) as usize;
        if len < 2 || i + len > data.len() {
            return None;
        }
        let segment = &data[i..i + len];
        i += len;
        if !matches!(marker, 0xE1 | 0xED | 0xFE) {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(segment);
        }
        if marker == 0xDA {
            // Start of scan: the entropy-coded data and whatever follows stay as they are.
            out.extend_from_slice(&data[i..]);
            return Some(out);
        }
    }
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

#[cfg(test)]
mod jpeg_tests {
    use super::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    fn photo(with_exif: bool) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        if with_exif {
            j.extend(segment(0xE1, b"Exif\0\0GPSLatitude 42.63N 141.60E"));
            j.extend(segment(0xED, b"Photoshop 3.0\0IPTC city"));
            j.extend(segment(0xFE, b"taken at home"));
        }
        j.extend(segment(0xDB, &[0u8; 65]));
        j.extend(segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD9]);
        j
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn exif_iptc_and_comments_are_removed_and_the_rest_kept() {
        let with = photo(true);
        assert!(contains(&with, b"GPSLatitude"));
        let clean = strip_jpeg_metadata(&with).unwrap();
        assert_eq!(
            clean,
            photo(false),
            "exactly the metadata segments are gone"
        );
        assert!(!contains(&clean, b"Exif"));
        assert!(!contains(&clean, b"GPS"));
        assert!(!contains(&clean, b"IPTC"));
        assert!(!contains(&clean, b"taken at home"));
        assert_eq!(detect(&clean), Some(DocumentKind::Jpeg));
        // Stripping twice changes nothing more.
        assert_eq!(strip_jpeg_metadata(&clean).unwrap(), clean);
    }

    #[test]
    fn malformed_jpegs_are_refused() {
        let good = photo(true);
        assert!(
            strip_jpeg_metadata(&good[..good.len() / 3]).is_none(),
            "truncated"
        );
        assert!(strip_jpeg_metadata(b"\xFF\xD8\xFFnot really").is_none());
        assert!(strip_jpeg_metadata(b"#!/bin/sh\nrm -rf /").is_none());
        let mut bad_len = good.clone();
        bad_len[4] = 0;
        bad_len[5] = 1;
        assert!(strip_jpeg_metadata(&bad_len).is_none(), "length below 2");
    }
}
