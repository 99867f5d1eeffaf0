//! Documents as PDF, laid out like the paper forms: the title, the date, the parties
//! (sender, recipients), the patient, then one boxed field per item with its label in a
//! shaded column. Written with `krilla`, which embeds a subset of the Japanese font with a
//! ToUnicode map, so the text of the PDF can be searched, copied and read by tests.
//!
//! The font comes from the setting `document_font_file` or the first of
//! [`DEFAULT_FONT_FILES`] that exists (Debian's fonts-noto-cjk, IPAex). It is read once per
//! process, on the first PDF.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use std::path::{Path, PathBuf};

/// Japanese fonts looked for when no `document_font_file` is set, first found wins.
pub const DEFAULT_FONT_FILES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
];

/// Loads the document font: the configured file, or the first default that exists. For a
/// font collection (`.ttc`) the first face is used (Japanese in Noto Sans CJK).
pub fn load_font(configured: Option<&Path>) -> Result<Font, String> {
    let path: PathBuf = match configured {
        Some(p) => p.to_path_buf(),
        None => DEFAULT_FONT_FILES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "no Japanese font found (looked for {}); set document_font_file",
                    DEFAULT_FONT_FILES.join(", ")
                )
            })?,
    };
    let data = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Font::new(data.into(), 0).ok_or_else(|| format!("{} is not a usable font", path.display()))
}

/// One boxed item: a label and its (possibly multi-line) value.
pub struct Item {
    pub label: String,
    pub value: String,
}

/// What a document page shows.
pub struct Sheet {
    pub title: String,
    /// Top right: date and document status.
    pub date_line: String,
    /// Shown across the top when the document is still a draft.
    pub draft_mark: Option<String>,
    /// Addressee, sender, patient…
    pub header: Vec<Item>,
    pub items: Vec<Item>,
    /// Bottom of every page (network name, document id).
    pub footer: String,
}

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.0;
const LABEL_W: f32 = 130.0;
const SIZE: f32 = 10.0;
const LINE: f32 = 14.5;
const PAD: f32 = 5.0;
const BOTTOM: f32 = PAGE_H - 48.0;

/// Approximate advance of a character in ems: CJK and full-width forms take a full em,
/// half-width kana and Latin about half. Slightly generous so text never leaves its box.
fn advance(c: char) -> f32 {
    match c as u32 {
        0x20..=0x7e => 0.6,
        0xff61..=0xff9f => 0.55,
        0x2000..=0x206f => 0.6,
        _ if c.is_ascii() => 0.6,
        _ => 1.0,
    }
}

fn text_width(s: &str, size: f32) -> f32 {
    s.chars().map(advance).sum::<f32>() * size
}

/// Breaks text into lines that fit `width` at `size` (at characters: Japanese has no spaces).
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut w = 0.0;
        for c in para.chars() {
            let a = advance(c) * size;
            if w + a > width && !line.is_empty() {
                out.push(std::mem::take(&mut line));
                w = 0.0;
            }
            line.push(c);
            w += a;
        }
        out.push(line);
    }
    out
}

struct Pen<'a> {
    doc: &'a mut Document,
    font: Font,
    pages: Vec<Vec<Op>>,
}

/// Drawing operations of one page, replayed when the page is written (krilla's page
/// borrows the document, so pages are collected first and written one after another).
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        shade: bool,
    },
}

impl Pen<'_> {
    fn op(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }
    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.op(Op::Text {
            x,
            y,
            size,
            text: text.to_string(),
        });
    }
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, shade: bool) {
        self.op(Op::Rect { x, y, w, h, shade });
    }

    fn write(self, footer: &str) {
        let total = self.pages.len();
        for (n, ops) in self.pages.into_iter().enumerate() {
            let mut page = self
                .doc
                .start_page_with(PageSettings::from_wh(PAGE_W, PAGE_H).expect("A4"));
            let mut s = page.surface();
            for op in ops {
                draw(&mut s, &self.font, op);
            }
            let foot = format!("{footer}　{} / {total}", n + 1);
            draw(
                &mut s,
                &self.font,
                Op::Text {
                    x: PAGE_W - MARGIN - text_width(&foot, 8.0),
                    y: PAGE_H - 24.0,
                    size: 8.0,
                    text: foot,
                },
            );
            s.finish();
            page.finish();
        }
    }
}

fn draw(s: &mut Surface<'_>, font: &Font, op: Op) {
    match op {
        Op::Text { x, y, size, text } => {
            s.set_fill(Some(Fill {
                paint: rgb::Color::new(0, 0, 0).into(),
                opacity: NormalizedF32::ONE,
                rule: Default::default(),
            }));
            s.set_stroke(None);
            s.draw_text(
                Point::from_xy(x, y),
                font.clone(),
                size,
                &text,
                false,
                TextDirection::Auto,
            );
        }
        Op::Rect { x, y, w, h, shade } => {
            let Some(rect) = Rect::from_xywh(x, y, w, h) else {
                return;
            };
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            let Some(path) = pb.finish() else { return };
            s.set_fill(shade.then(|| Fill {
                paint: rgb::Color::new(236, 240, 244).into(),
                opacity: NormalizedF32::ONE,
                rule: Default::default(),
            }));
            s.set_stroke(Some(Stroke {
                paint: rgb::Color::new(60, 60, 60).into(),
                width: 0.7,
                ..Default::default()
            }));
            s.draw_path(&path);
        }
    }
}

/// Renders a sheet as a PDF (A4, as many pages as the items need).
pub fn render(font: &Font, sheet: &Sheet) -> Result<Vec<u8>, String> {
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(sheet.title.clone())
            .language("ja".into())
            .creator("Renkei".into()),
    );
    let mut pen = Pen {
        doc: &mut doc,
        font: font.clone(),
        pages: vec![Vec::new()],
    };
    let content_w = PAGE_W - 2.0 * MARGIN;
    // Title, centred, with the draft mark above it.
    if let Some(mark) = &sheet.draft_mark {
        pen.text(MARGIN, 40.0, 11.0, mark);
    }
    let title_size = 18.0;
    pen.text(
        (PAGE_W - text_width(&sheet.title, title_size)) / 2.0,
        70.0,
        title_size,
        &sheet.title,
    );
    pen.text(
        PAGE_W - MARGIN - text_width(&sheet.date_line, 9.0),
        92.0,
        9.0,
        &sheet.date_line,
    );
    let mut y = 104.0;
    let value_w = content_w - LABEL_W - 2.0 * PAD;
    let blocks = [(&sheet.header, 6.0), (&sheet.items, 0.0)];
    for (items, gap_after) in blocks {
        for item in items.iter() {
            let mut lines = wrap(&item.value, value_w, SIZE);
            let label_lines = wrap(&item.label, LABEL_W - 2.0 * PAD, 9.0);
            // A value longer than what is left of the page continues on the next one,
            // its label repeated.
            loop {
                let room = ((BOTTOM - y - 2.0 * PAD) / LINE).floor().max(0.0) as usize;
                let need = lines.len().max(label_lines.len()).max(1);
                if room < need.min(3) {
                    pen.pages.push(Vec::new());
                    y = MARGIN;
                    continue;
                }
                let take = need.min(room);
                let rest = if lines.len() > take {
                    lines.split_off(take)
                } else {
                    Vec::new()
                };
                let h = take as f32 * LINE + 2.0 * PAD;
                pen.rect(MARGIN, y, LABEL_W, h, true);
                pen.rect(MARGIN + LABEL_W, y, content_w - LABEL_W, h, false);
                for (i, l) in label_lines.iter().enumerate().take(take) {
                    pen.text(MARGIN + PAD, y + PAD + 10.0 + i as f32 * LINE, 9.0, l);
                }
                for (i, l) in lines.iter().enumerate() {
                    pen.text(
                        MARGIN + LABEL_W + PAD,
                        y + PAD + 10.5 + i as f32 * LINE,
                        SIZE,
                        l,
                    );
                }
                y += h;
                if rest.is_empty() {
                    break;
                }
                lines = rest;
                pen.pages.push(Vec::new());
                y = MARGIN;
            }
        }
        y += gap_after;
    }
    pen.write(&sheet.footer);
    doc.finish().map_err(|e| format!("writing PDF: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_text_wraps_by_width() {
        let lines = wrap("あいうえおかきくけこ", 50.0, 10.0);
        assert_eq!(lines, vec!["あいうえお", "かきくけこ"]);
        assert_eq!(wrap("a\nb", 100.0, 10.0), vec!["a", "b"]);
        assert_eq!(wrap("", 100.0, 10.0), vec![""]);
    }
}
