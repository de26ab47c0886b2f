//! A bounded reader of XLSX workbooks: every sheet as the rows and cells it holds, nothing more.
//!
//! A workbook is a zip of XML parts, and what a part claims (a sheet's dimension `A1:XFD1048576`,
//! a cell at `XFD5000`, a part's declared size) is never used to allocate: parts are streamed
//! through a counting reader, only cells with a value are kept, and each limit below is checked
//! before the memory it guards is taken. Over a limit the whole file is refused with the reason.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek};

use quick_xml::events::{BytesStart, Event};

/// The bounds of what a workbook may hold.
pub const MAX_COLUMNS: u32 = 256;
/// Rows of one sheet that hold a value.
pub const MAX_ROWS: usize = 2_000_000;
/// Uncompressed bytes of one part (a sheet's XML, the shared strings).
pub const MAX_PART_BYTES: u64 = 2 << 30;
/// Shared strings of the workbook, and the characters kept of all of them together.
pub const MAX_SHARED_STRINGS: usize = 4_000_000;
pub const MAX_SHARED_CHARS: usize = 256 << 20;
/// Sheets of a workbook.
pub const MAX_SHEETS: usize = 64;
/// Characters kept of one cell: more only counts, for the caller's own limit to report.
pub const KEEP_CHARS: usize = 4_096;

/// One cell's value as a user typed it, and whether Excel stored it as a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    /// Stored as a number (an ID number typed into a number cell has lost its last digits).
    pub number: bool,
    /// The value's length in characters, when more than [`KEEP_CHARS`] were cut off.
    pub chars: Option<usize>,
}

impl Cell {
    /// The length of the value in characters, cut or not.
    pub fn char_count(&self) -> usize {
        self.chars.unwrap_or_else(|| self.text.chars().count())
    }
}

#[derive(Debug)]
pub struct SheetRow {
    /// The row number Excel shows (1-based).
    pub row: u32,
    /// Cells from column A to the last with a value; those without one are empty.
    pub cells: Vec<Cell>,
}

#[derive(Debug)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<SheetRow>,
}

/// Why a workbook cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum XlsxError {
    #[error("{0}")]
    Broken(String),
    #[error("{0}")]
    TooBig(String),
}

fn broken(what: impl std::fmt::Display) -> XlsxError {
    XlsxError::Broken(what.to_string())
}

/// Reads every sheet of the workbook, in the workbook's order.
pub fn read<R: Read + Seek>(source: R) -> Result<Vec<Sheet>, XlsxError> {
    let mut zip = zip::ZipArchive::new(source).map_err(|e| broken(format!("不是有效的 zip 压缩包（{e}）")))?;
    let sheets = sheet_parts(&mut zip)?;
    let shared = match zip.by_name("xl/sharedStrings.xml") {
        Ok(part) => shared_strings(part)?,
        Err(_) => Vec::new(),
    };
    let dates = match zip.by_name("xl/styles.xml") {
        Ok(part) => date_styles(part)?,
        Err(_) => Vec::new(),
    };
    let mut out = Vec::with_capacity(sheets.len());
    for (name, path) in sheets {
        let part = zip.by_name(&path).map_err(|_| broken(format!("工作表「{name}」的内容（{path}）缺失")))?;
        let rows = sheet_rows(part, &name, &shared, &dates)?;
        out.push(Sheet { name, rows });
    }
    Ok(out)
}

/// The longest stretch of a part without a `<`: the XML reader holds a whole event (a text, a
/// tag with its attributes) in memory, and no event is longer than the stretch it lies in.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// A part's XML as a stream that fails past [`MAX_PART_BYTES`] or [`MAX_EVENT_BYTES`].
fn xml<R: Read>(part: R) -> quick_xml::Reader<BufReader<Limited<R>>> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(Limited { inner: part, left: MAX_PART_BYTES, since_tag: 0 }));
    reader.config_mut().trim_text(false);
    reader
}

struct Limited<R> {
    inner: R,
    left: u64,
    since_tag: usize,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other(format!("工作簿的一个部分解压后超过 {} MB", MAX_PART_BYTES >> 20)));
        }
        let len = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.left -= n as u64;
        self.since_tag = match buf[..n].iter().rposition(|&b| b == b'<') {
            Some(at) => n - at - 1,
            None => self.since_tag + n,
        };
        if self.since_tag > MAX_EVENT_BYTES {
            return Err(std::io::Error::other(format!("工作簿中有一段文字解压后超过 {} MB", MAX_EVENT_BYTES >> 20)));
        }
        Ok(n)
    }
}

fn xml_err(part: &str, e: impl std::fmt::Display) -> XlsxError {
    let text = e.to_string();
    // Our own limit, passed up through the XML reader's I/O error: its words alone.
    match text.find("工作簿").filter(|_| text.contains("解压后超过")) {
        Some(at) => XlsxError::TooBig(text[at..].to_string()),
        None => broken(format!("{part} 无法解析（{text}）")),
    }
}

fn attr(e: &BytesStart, name: &[u8]) -> Option<String> {
    let a = e.attributes().flatten().find(|a| a.key.as_ref() == name || a.key.local_name().as_ref() == name)?;
    let raw = String::from_utf8_lossy(&a.value);
    quick_xml::escape::unescape(&raw).ok().map(|v| v.into_owned())
}

/// Reads a small part whole (the workbook and its relations), at most a few MB.
fn small_part<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str) -> Result<Vec<u8>, XlsxError> {
    let part = zip.by_name(name).map_err(|_| broken(format!("缺少 {name}")))?;
    let mut bytes = Vec::new();
    part.take(8 << 20).read_to_end(&mut bytes).map_err(|e| broken(format!("{name} 无法读取（{e}）")))?;
    Ok(bytes)
}

/// The sheets' names and their parts' paths, in the workbook's order.
fn sheet_parts<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Result<Vec<(String, String)>, XlsxError> {
    let rels = small_part(zip, "xl/_rels/workbook.xml.rels")?;
    let mut targets = HashMap::new();
    let mut reader = quick_xml::Reader::from_reader(rels.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err("workbook.xml.rels", e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                if let (Some(id), Some(target)) = (attr(&e, b"Id"), attr(&e, b"Target")) {
                    let path = match target.strip_prefix('/') {
                        Some(absolute) => absolute.to_string(),
                        None => format!("xl/{target}"),
                    };
                    targets.insert(id, path);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let book = small_part(zip, "xl/workbook.xml")?;
    let mut reader = quick_xml::Reader::from_reader(book.as_slice());
    let mut out = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err("workbook.xml", e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                let name = attr(&e, b"name").unwrap_or_default();
                let path = attr(&e, b"id").and_then(|id| targets.get(&id).cloned()).ok_or_else(|| broken(format!("工作表「{name}」没有对应的内容")))?;
                if out.len() == MAX_SHEETS {
                    return Err(XlsxError::TooBig(format!("工作簿有超过 {MAX_SHEETS} 个工作表")));
                }
                out.push((name, path));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if out.is_empty() {
        return Err(broken("工作簿中没有工作表"));
    }
    Ok(out)
}

/// Text kept of a value being read: at most [`KEEP_CHARS`] characters, the rest counted.
#[derive(Default)]
struct Text {
    kept: String,
    chars: usize,
}

impl Text {
    fn push(&mut self, s: &str) {
        for c in s.chars() {
            if self.chars < KEEP_CHARS {
                self.kept.push(c);
            }
            self.chars += 1;
        }
    }

    fn push_ref(&mut self, name: &str) {
        if let Some(n) = name.strip_prefix('#') {
            let code = match n.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => n.parse().ok(),
            };
            self.push(&code.and_then(char::from_u32).map(String::from).unwrap_or_default());
        } else {
            self.push(quick_xml::escape::resolve_xml_entity(name).unwrap_or(""));
        }
    }

    fn cell(self, number: bool) -> Cell {
        let chars = (self.chars > KEEP_CHARS).then_some(self.chars);
        Cell { text: self.kept, number, chars }
    }
}

/// The text of `<t>` elements inside the current element up to its end (`<si>`, `<is>`),
/// leaving out phonetic guides (`<rPh>`).
fn rich_text<B: BufRead>(reader: &mut quick_xml::Reader<B>, end: &[u8], part: &str) -> Result<Text, XlsxError> {
    let mut text = Text::default();
    let mut buf = Vec::new();
    let (mut in_t, mut in_phonetic) = (false, false);
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err(part, e))? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"t" => in_t = true,
                b"rPh" => in_phonetic = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_t = false,
                b"rPh" => in_phonetic = false,
                name if name == end => break,
                _ => {}
            },
            Event::Text(t) if in_t && !in_phonetic => text.push(&t.xml_content().map_err(|e| xml_err(part, e))?),
            Event::CData(t) if in_t && !in_phonetic => text.push(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) if in_t && !in_phonetic => text.push_ref(&r.decode().map_err(|e| xml_err(part, e))?),
            Event::Eof => return Err(broken(format!("{part} 不完整"))),
            _ => {}
        }
        buf.clear();
    }
    Ok(text)
}

fn shared_strings<R: Read>(part: R) -> Result<Vec<Cell>, XlsxError> {
    let mut reader = xml(part);
    let mut out = Vec::new();
    let mut kept = 0usize;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err("sharedStrings.xml", e))? {
            Event::Start(e) if e.local_name().as_ref() == b"si" => {
                if out.len() == MAX_SHARED_STRINGS {
                    return Err(XlsxError::TooBig(format!("工作簿的共享字符串超过 {MAX_SHARED_STRINGS} 个")));
                }
                let text = rich_text(&mut reader, b"si", "sharedStrings.xml")?;
                kept += text.kept.len();
                if kept > MAX_SHARED_CHARS {
                    return Err(XlsxError::TooBig(format!("工作簿的文字超过 {} MB", MAX_SHARED_CHARS >> 20)));
                }
                out.push(text.cell(false));
            }
            Event::Empty(e) if e.local_name().as_ref() == b"si" => out.push(Cell::default()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// For each cell style (`s`), whether its number format shows a date.
fn date_styles<R: Read>(part: R) -> Result<Vec<bool>, XlsxError> {
    let mut reader = xml(part);
    let mut custom: HashMap<u32, bool> = HashMap::new();
    let mut out = Vec::new();
    let mut in_xfs = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err("styles.xml", e))? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"numFmt" => {
                    if let (Some(id), Some(code)) = (attr(&e, b"numFmtId").and_then(|i| i.parse().ok()), attr(&e, b"formatCode")) {
                        custom.insert(id, is_date_format(&code));
                    }
                }
                b"cellXfs" => in_xfs = true,
                b"xf" if in_xfs => {
                    let id: u32 = attr(&e, b"numFmtId").and_then(|i| i.parse().ok()).unwrap_or(0);
                    // Built-in date formats, the Chinese ones (27–36, 50–58) included.
                    let builtin = matches!(id, 14..=22 | 27..=36 | 45..=47 | 50..=58);
                    out.push(custom.get(&id).copied().unwrap_or(builtin));
                    if out.len() > 100_000 {
                        return Err(XlsxError::TooBig("工作簿的单元格样式过多".into()));
                    }
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"cellXfs" => in_xfs = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Whether a number format code shows a date: a y, m, d outside quotes and brackets
/// (`yyyy"年"m"月"d"日"`, `[$-804]yyyy/m/d`), not a duration or a plain number.
fn is_date_format(code: &str) -> bool {
    let (mut quoted, mut bracket, mut escaped) = (false, false, false);
    for c in code.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            'y' | 'Y' | 'd' | 'D' | 'm' | 'M' if !quoted && !bracket => return true,
            _ => {}
        }
    }
    false
}

/// `B12` → (column 2, row 12); None when it is not a cell reference within Excel's grid.
pub fn cell_ref(r: &str) -> Option<(u32, u32)> {
    let split = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = r.split_at(split);
    if letters.is_empty() || letters.len() > 3 || digits.len() > 7 {
        return None;
    }
    let mut col = 0u32;
    for b in letters.bytes() {
        if !b.is_ascii_uppercase() {
            return None;
        }
        col = col * 26 + u32::from(b - b'A' + 1);
    }
    let row: u32 = digits.parse().ok()?;
    (col <= 16_384 && (1..=1_048_576).contains(&row)).then_some((col, row))
}

/// Excel's column name of a 1-based column number.
pub fn column_name(mut col: u32) -> String {
    let mut out = Vec::new();
    while col > 0 {
        let r = (col - 1) % 26;
        out.push(b'A' + r as u8);
        col = (col - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn sheet_rows<R: Read>(part: R, sheet: &str, shared: &[Cell], dates: &[bool]) -> Result<Vec<SheetRow>, XlsxError> {
    let name = format!("工作表「{sheet}」");
    let mut reader = xml(part);
    let mut rows: Vec<SheetRow> = Vec::new();
    let mut buf = Vec::new();
    let mut current: Option<SheetRow> = None;
    let mut last_row = 0u32;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| xml_err(&name, e))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"row" => {
                let row = match attr(&e, b"r") {
                    Some(r) => r.parse().ok().filter(|r| (1..=1_048_576).contains(r)).ok_or_else(|| broken(format!("{name}的行号「{r}」无效")))?,
                    None => last_row + 1,
                };
                last_row = row;
                finish_row(&mut rows, current.take(), &name)?;
                current = Some(SheetRow { row, cells: Vec::new() });
            }
            Event::End(e) if e.local_name().as_ref() == b"row" => finish_row(&mut rows, current.take(), &name)?,
            Event::Start(e) if e.local_name().as_ref() == b"c" => {
                let row = current.get_or_insert_with(|| SheetRow { row: last_row.max(1), cells: Vec::new() });
                let next_col = row.cells.len() as u32 + 1;
                let (col, at) = match attr(&e, b"r") {
                    Some(r) => cell_ref(&r).ok_or_else(|| broken(format!("{name}的单元格引用「{r}」无效")))?,
                    None => (next_col, row.row),
                };
                let kind = attr(&e, b"t").unwrap_or_default();
                let style: usize = attr(&e, b"s").and_then(|s| s.parse().ok()).unwrap_or(0);
                let value = cell_value(&mut reader, &kind, shared, dates.get(style).copied().unwrap_or(false), &name)?;
                if let Some(value) = value.filter(|v| !v.text.is_empty() || v.chars.is_some()) {
                    if col > MAX_COLUMNS {
                        return Err(XlsxError::TooBig(format!("{name}第 {at} 行 {} 列有内容，超出每行 {MAX_COLUMNS} 列的上限", column_name(col))));
                    }
                    let cells = &mut row.cells;
                    if cells.len() < col as usize {
                        cells.resize(col as usize, Cell::default());
                    }
                    cells[col as usize - 1] = value;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    finish_row(&mut rows, current, &name)?;
    Ok(rows)
}

fn finish_row(rows: &mut Vec<SheetRow>, row: Option<SheetRow>, sheet: &str) -> Result<(), XlsxError> {
    if let Some(row) = row.filter(|r| !r.cells.is_empty()) {
        if let Some(before) = rows.last().filter(|b| b.row >= row.row) {
            return Err(broken(format!("{sheet}的第 {} 行出现在第 {} 行之后（行的顺序有误）", row.row, before.row)));
        }
        if rows.len() == MAX_ROWS {
            return Err(XlsxError::TooBig(format!("{sheet}有内容的行超过 {MAX_ROWS} 行")));
        }
        rows.push(row);
    }
    Ok(())
}

/// Reads a cell's value up to `</c>`: shared string, inline string, formula result, boolean,
/// error or number (a date when its style shows one).
fn cell_value<B: BufRead>(reader: &mut quick_xml::Reader<B>, kind: &str, shared: &[Cell], date: bool, part: &str) -> Result<Option<Cell>, XlsxError> {
    let mut buf = Vec::new();
    let mut value: Option<Cell> = None;
    let mut in_v = false;
    let mut raw = Text::default();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_err(part, e))? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"v" => in_v = true,
                b"is" => value = Some(rich_text(reader, b"is", part)?.cell(false)),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"v" => in_v = false,
                b"c" => break,
                _ => {}
            },
            Event::Text(t) if in_v => raw.push(&t.xml_content().map_err(|e| xml_err(part, e))?),
            Event::GeneralRef(r) if in_v => raw.push_ref(&r.decode().map_err(|e| xml_err(part, e))?),
            Event::Eof => return Err(broken(format!("{part} 不完整"))),
            _ => {}
        }
        buf.clear();
    }
    if value.is_some() {
        return Ok(value);
    }
    if raw.chars == 0 {
        return Ok(None);
    }
    Ok(Some(match kind {
        "s" => {
            let i: usize = raw.kept.trim().parse().map_err(|_| broken(format!("{part}的共享字符串编号「{}」无效", raw.kept)))?;
            shared.get(i).cloned().ok_or_else(|| broken(format!("{part}引用了不存在的共享字符串 {i}")))?
        }
        // A formula's text result, an inline string without `<is>`, an error such as #N/A.
        "str" | "inlineStr" | "e" => raw.cell(false),
        "b" => Cell { text: if raw.kept.trim() == "1" { "true".into() } else { "false".into() }, ..Cell::default() },
        _ => {
            let n: f64 = raw.kept.trim().parse().map_err(|_| broken(format!("{part}中的数值「{}」无效", raw.kept.chars().take(40).collect::<String>())))?;
            Cell { text: number_text(n, date), number: true, chars: None }
        }
    }))
}

/// A number cell as it reads: a date as YYYY-MM-DD (Excel counts days from 1899-12-30), an
/// integer without ".0", anything else as Rust writes the double.
fn number_text(n: f64, date: bool) -> String {
    if date {
        if let Some(d) = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|base| base.checked_add_signed(chrono::Duration::days(n.floor() as i64))) {
            if (1.0..2_958_466.0).contains(&n) {
                return d.to_string();
            }
        }
    }
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_within_the_grid() {
        assert_eq!(cell_ref("A1"), Some((1, 1)));
        assert_eq!(cell_ref("AA10"), Some((27, 10)));
        assert_eq!(cell_ref("XFD1048576"), Some((16_384, 1_048_576)));
        for bad in ["XFE1", "A0", "A1048577", "1A", "a1", "", "ABCD1", "A12345678"] {
            assert_eq!(cell_ref(bad), None, "{bad}");
        }
        for col in [1, 26, 27, 52, 702, 703, 16_384] {
            assert_eq!(cell_ref(&format!("{}1", column_name(col))), Some((col, 1)));
        }
    }

    #[test]
    fn date_formats() {
        for code in ["yyyy-mm-dd", r#"yyyy"年"m"月"d"日""#, "[$-804]yyyy/m/d", "m/d/yy h:mm"] {
            assert!(is_date_format(code), "{code}");
        }
        for code in ["0.00", "#,##0", r#""件"0"#, "[Red]0.0", "@"] {
            assert!(!is_date_format(code), "{code}");
        }
        assert_eq!(number_text(45292.0, true), "2024-01-01");
        assert_eq!(number_text(3.7130219750314e17, false), "371302197503140000");
        assert_eq!(number_text(12.5, false), "12.5");
    }
}
