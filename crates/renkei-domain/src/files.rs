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
    safe_name(claimed, kind.extension())
}

/// [`safe_filename`] with the extension given (a video's, say).
pub fn safe_name(claimed: &str, extension: &str) -> String {
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
    format!("{stem}.{extension}")
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

/// Short videos a care team may attach, recognised by the ISO base media `ftyp` box that
/// opens every MP4 and QuickTime file (what tablets and phones record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    Mp4,
    QuickTime,
}

impl VideoKind {
    pub fn mime(self) -> &'static str {
        match self {
            VideoKind::Mp4 => "video/mp4",
            VideoKind::QuickTime => "video/quicktime",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            VideoKind::Mp4 => "mp4",
            VideoKind::QuickTime => "mov",
        }
    }
}

/// Recognises MP4 and QuickTime by a leading `ftyp` box (major brand `qt  ` = QuickTime).
pub fn detect_video(bytes: &[u8]) -> Option<VideoKind> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if size < 16 || size > bytes.len() {
        return None;
    }
    Some(if &bytes[8..12] == b"qt  " {
        VideoKind::QuickTime
    } else {
        VideoKind::Mp4
    })
}

/// A video whose metadata boxes were blanked, and how long it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanVideo {
    pub data: Vec<u8>,
    /// From the movie header (`mvhd`); None when it gives no time scale.
    pub duration_ms: Option<u64>,
}

/// Adobe XMP packet in a top-level `uuid` box (may carry GPS coordinates).
const XMP_UUID: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];

/// One box of an ISO base media file: where it starts, where its content starts and ends.
struct IsoBox {
    kind: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

/// The boxes that tile `data[from..to]` exactly; None when a size runs past the end.
fn iso_boxes(data: &[u8], from: usize, to: usize) -> Option<Vec<IsoBox>> {
    let mut boxes = Vec::new();
    let mut at = from;
    while at < to {
        let header = data.get(at..at + 8)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let kind = [header[4], header[5], header[6], header[7]];
        let (size, mut body) = match size32 {
            // Runs to the end of its parent (only the last box may say so).
            0 => ((to - at) as u64, at + 8),
            1 => {
                let large = data.get(at + 8..at + 16)?;
                (u64::from_be_bytes(large.try_into().ok()?), at + 16)
            }
            n => (n, at + 8),
        };
        if kind == *b"uuid" {
            body += 16;
        }
        let end = at.checked_add(usize::try_from(size).ok()?)?;
        if end > to || body > end {
            return None;
        }
        boxes.push(IsoBox {
            kind,
            start: at,
            body,
            end,
        });
        at = end;
    }
    Some(boxes)
}

/// Turns a box into `free` space of the same size with zeroed content: players skip it,
/// and every offset into the file (the sample tables point into `mdat`) stays valid.
fn blank(out: &mut [u8], b: &IsoBox) {
    out[b.start + 4..b.start + 8].copy_from_slice(b"free");
    let content = if b.kind == *b"uuid" {
        b.body - 16
    } else {
        b.body
    };
    out[content..b.end].fill(0);
}

/// Duration from a movie header: version 0 has 32-bit times, version 1 64-bit ones.
fn movie_duration_ms(body: &[u8]) -> Option<u64> {
    let (timescale, duration) = match *body.first()? {
        0 => (
            u32::from_be_bytes(body.get(12..16)?.try_into().ok()?) as u64,
            u32::from_be_bytes(body.get(16..20)?.try_into().ok()?) as u64,
        ),
        1 => (
            u32::from_be_bytes(body.get(20..24)?.try_into().ok()?) as u64,
            u64::from_be_bytes(body.get(24..32)?.try_into().ok()?),
        ),
        _ => return None,
    };
    (timescale > 0).then(|| duration.saturating_mul(1000) / timescale)
}

/// An MP4/QuickTime video without the boxes that say where, when and with what it was
/// recorded: user data (`udta`, with Android's and Apple's `©xyz` location), metadata
/// (`meta`, with Apple's `com.apple.quicktime.location.ISO6709`) at file, movie and track
/// level, and XMP packets. They become `free` boxes of the same size, so nothing else
/// moves and the video plays as before. None when the file is not a well-formed ISO base
/// media file with a movie box.
pub fn strip_video_metadata(data: &[u8]) -> Option<CleanVideo> {
    detect_video(data)?;
    let mut out = data.to_vec();
    let mut duration_ms = None;
    let mut movie = false;
    for top in iso_boxes(data, 0, data.len())? {
        match &top.kind {
            b"udta" | b"meta" => blank(&mut out, &top),
            b"uuid" if data[top.body - 16..top.body] == XMP_UUID => blank(&mut out, &top),
            b"moov" => {
                movie = true;
                for child in iso_boxes(data, top.body, top.end)? {
                    match &child.kind {
                        b"mvhd" => duration_ms = movie_duration_ms(&data[child.body..child.end]),
                        b"udta" | b"meta" => blank(&mut out, &child),
                        b"uuid" if data[child.body - 16..child.body] == XMP_UUID => {
                            blank(&mut out, &child)
                        }
                        b"trak" => {
                            for part in iso_boxes(data, child.body, child.end)? {
                                if matches!(&part.kind, b"udta" | b"meta") {
                                    blank(&mut out, &part);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    movie.then_some(CleanVideo {
        data: out,
        duration_ms,
    })
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

    /// An ISO base media box.
    fn iso(kind: &[u8; 4], content: &[u8]) -> Vec<u8> {
        let mut b = ((content.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(content);
        b
    }

    /// A small MP4 as a phone writes it: ftyp, mdat, then moov with a 12.5 s movie header,
    /// user data holding a location, a track with its own metadata.
    fn phone_video() -> Vec<u8> {
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&12_500u32.to_be_bytes());
        let xyz = iso(b"\xa9xyz", b"\x00\x12\x15\xc7+35.6804+139.7690/");
        let moov = [
            iso(b"mvhd", &mvhd),
            iso(b"udta", &xyz),
            iso(
                b"trak",
                &[iso(b"tkhd", &[0; 84]), iso(b"meta", b"make=Pixel")].concat(),
            ),
        ]
        .concat();
        [
            iso(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41"),
            iso(b"mdat", &[0xAB; 64]),
            iso(b"moov", &moov),
        ]
        .concat()
    }

    #[test]
    fn video_location_is_blanked_and_nothing_moves() {
        let video = phone_video();
        assert_eq!(detect_video(&video), Some(VideoKind::Mp4));
        assert_eq!(detect(&video), None, "a video is not a document");
        let clean = strip_video_metadata(&video).expect("well-formed");
        assert_eq!(clean.duration_ms, Some(12_500));
        assert_eq!(clean.data.len(), video.len());
        let text = String::from_utf8_lossy(&clean.data);
        assert!(!text.contains("35.6804"), "location removed");
        assert!(!text.contains("Pixel"), "track metadata removed");
        assert!(!text.contains("udta") && text.contains("free"));
        // The media data and the movie header are where they were.
        let mdat = video.windows(4).position(|w| w == b"mdat").unwrap();
        assert_eq!(clean.data[mdat..mdat + 68], video[mdat..mdat + 68]);
        assert!(text.contains("mvhd") && text.contains("tkhd"));
    }

    #[test]
    fn quicktime_and_broken_videos() {
        let mut mov = phone_video();
        mov[8..12].copy_from_slice(b"qt  ");
        assert_eq!(detect_video(&mov), Some(VideoKind::QuickTime));
        // A box size running past the end of the file.
        let mut truncated = phone_video();
        truncated.truncate(truncated.len() - 10);
        assert_eq!(strip_video_metadata(&truncated), None);
        // No movie box: nothing a player could show.
        let no_moov = [
            iso(b"ftyp", b"isom\x00\x00\x02\x00isom"),
            iso(b"mdat", &[1; 8]),
        ]
        .concat();
        assert_eq!(strip_video_metadata(&no_moov), None);
        assert_eq!(detect_video(b"\x00\x00\x00\x18ftypisom"), None, "too short");
        assert_eq!(detect_video(b"#!/bin/sh\necho not a video at all"), None);
    }
}
