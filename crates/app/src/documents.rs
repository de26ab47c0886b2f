//! Documents people keep (the one bill, the benefit card) as PDF: lines and table rows of text set
//! on A4 or A5 pages in a CJK font that is embedded (subset) in the file, so that the PDF reads the
//! same on any machine and its text can be searched and copied.

use std::sync::{Arc, OnceLock};

use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};

/// Where a CJK font is looked for (Debian's `fonts-noto-cjk`); `HUIMIN_CJK_FONT` names another
/// (a `.ttc`, `.otf` or `.ttf` file; `PATH#N` for the N-th face of a collection).
const FONT_PATHS: [&str; 2] = ["/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc#2", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc#2"];

/// The paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    A5,
}

impl Paper {
    pub fn parse(s: &str) -> Option<Paper> {
        match s {
            "a4" | "A4" => Some(Paper::A4),
            "a5" | "A5" => Some(Paper::A5),
            _ => None,
        }
    }

    /// Width and height in points.
    fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.28, 841.89),
            Paper::A5 => (419.53, 595.28),
        }
    }

    /// Body text size in points.
    fn text_size(self) -> f32 {
        match self {
            Paper::A4 => 10.5,
            Paper::A5 => 8.5,
        }
    }
}

/// One part of a document, top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The letterhead: large, centred.
    Title(String),
    /// A line of text, wrapped to the page; `strong`: larger.
    Text { text: String, strong: bool },
    /// A table row: cells with their share of the width (numbers right-aligned).
    Row(Vec<(String, f32)>),
    /// Space before the next part.
    Gap,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("服务器上没有中文字体，无法生成 PDF：请安装 fonts-noto-cjk，或用 HUIMIN_CJK_FONT 指定字体文件")]
    NoFont,
    #[error("生成 PDF 失败：{0}")]
    Pdf(String),
}

/// The CJK font, read once.
fn font() -> Result<Font, DocumentError> {
    static FONT: OnceLock<Option<Font>> = OnceLock::new();
    FONT.get_or_init(|| {
        let wanted = std::env::var("HUIMIN_CJK_FONT").ok();
        wanted.iter().map(String::as_str).chain(FONT_PATHS).find_map(|spec| {
            let (path, index) = match spec.rsplit_once('#') {
                Some((p, i)) => (p, i.parse().unwrap_or(0)),
                None => (spec, 0),
            };
            let data = std::fs::read(path).ok()?;
            Font::new(Arc::new(data).into(), index)
        })
    })
    .clone()
    .ok_or(DocumentError::NoFont)
}

/// Whether documents can be made here (a CJK font is found).
pub fn available() -> bool {
    font().is_ok()
}

/// How wide a text is set, roughly: a CJK character is square, others about half.
fn width_of(text: &str, size: f32) -> f32 {
    text.chars().map(|c| if c.is_ascii() { 0.55 } else { 1.0 }).sum::<f32>() * size
}

/// Breaks a text into lines no wider than `width`.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for c in text.chars() {
        let next = format!("{line}{c}");
        if width_of(&next, size) > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        line.push(c);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The document as a PDF on `paper`, a new page when one is full.
pub fn pdf(blocks: &[Block], paper: Paper) -> Result<Vec<u8>, DocumentError> {
    let font = font()?;
    let (w, h) = paper.size();
    let margin = if paper == Paper::A4 { 42.0 } else { 28.0 };
    let size = paper.text_size();
    let settings = || PageSettings::from_wh(w, h).ok_or_else(|| DocumentError::Pdf("纸张尺寸无效".into()));
    let mut document = krilla::Document::new();
    let mut page = document.start_page_with(settings()?);
    let mut surface = page.surface();
    let mut y = margin;
    for block in blocks {
        let (line_size, lines): (f32, Vec<Vec<(String, f32, f32, bool)>>) = match block {
            Block::Title(t) => {
                let s = size * 1.8;
                (s, vec![vec![(t.clone(), ((w - width_of(t, s)) / 2.0).max(margin), 0.0, false)]])
            }
            Block::Text { text, strong } => {
                let s = if *strong { size * 1.4 } else { size };
                (s, wrap(text, s, w - 2.0 * margin).into_iter().map(|l| vec![(l, margin, 0.0, false)]).collect())
            }
            Block::Row(cells) => {
                let total: f32 = cells.iter().map(|(_, share)| share).sum::<f32>().max(f32::EPSILON);
                let mut x = margin;
                let mut row = Vec::new();
                for (text, share) in cells {
                    let cw = (w - 2.0 * margin) * share / total;
                    let numeric = text.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '¥') && text.chars().all(|c| c.is_ascii_digit() || ".,¥—→ -".contains(c));
                    row.push((text.clone(), x, cw, numeric));
                    x += cw;
                }
                (size, vec![row])
            }
            Block::Gap => {
                y += size;
                continue;
            }
        };
        for line in lines {
            if y + line_size * 1.5 > h - margin {
                surface.finish();
                page.finish();
                page = document.start_page_with(settings()?);
                surface = page.surface();
                y = margin;
            }
            y += line_size * 1.25;
            for (text, x, cell_width, right) in line {
                let x = if right { x + cell_width - width_of(&text, line_size) - 4.0 } else { x };
                surface.draw_text(Point::from_xy(x, y), font.clone(), line_size, &text, false, TextDirection::Auto);
            }
            y += line_size * 0.25;
        }
    }
    surface.finish();
    page.finish();
    document.finish().map_err(|e| DocumentError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_to_the_page() {
        assert_eq!(wrap("一二三四五六", 10.0, 30.0), ["一二三", "四五六"]);
        assert_eq!(wrap("", 10.0, 30.0), [""]);
        assert_eq!(wrap("abc", 10.0, 100.0), ["abc"]);
    }
}
