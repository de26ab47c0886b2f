//! Reading a table (CSV in UTF-8 or GBK, or a sheet of an XLSX) into rows of text, with the row
//! numbers a user sees in Excel. The header is found, not assumed: the first row within the first
//! [`HEADER_SEARCH_ROWS`] of a sheet that names every required column of the format (title rows
//! and blank rows above it are skipped; notes in brackets after a name are ignored); in a workbook
//! the first sheet that has such a row. Limits: `docs/roster-format.md`.

use std::path::Path;

use crate::xlsx;

/// Why a whole file cannot be read; nothing from it is applied.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{file}：无法读取文件（{reason}）")]
    Io { file: String, reason: String },
    #[error("{file}：文件是空的")]
    Empty { file: String },
    #[error("{file}：扩展名是 .xlsx，但文件内容不是 Excel 工作簿（看起来是{looks_like}）")]
    NotXlsx { file: String, looks_like: &'static str },
    #[error("{file}：无法打开 Excel 工作簿（{reason}）")]
    BadXlsx { file: String, reason: String },
    #[error("{file}：{reason}，整个文件未导入")]
    TooBig { file: String, reason: String },
    #[error("{file}：文件编码既不是 UTF-8 也不是 GBK，请另存为 UTF-8 CSV 或 XLSX")]
    Encoding { file: String },
    #[error("{file}：文件混用了 UTF-8 和 GBK 两种编码（第 {row} 行起），请整个另存为一种编码后重新导入")]
    MixedEncoding { file: String, row: u64 },
    #[error("{file}：第 {row} 行无法解析为 CSV（{reason}）")]
    BadCsv { file: String, row: u64, reason: String },
    #[error("{file}：第 {row} 行的引号没有闭合，其后的所有内容都会被读成一个格子；请检查该行后重新导出")]
    UnclosedQuote { file: String, row: u64 },
    #[error("{file}：第 {row} 行有 {found} 个格子，表头（第 {header_row} 行）有 {expected} 列；请检查该行是否多了或少了逗号")]
    RaggedRow { file: String, row: u64, found: usize, expected: usize, header_row: u64 },
    #[error("{file}：{}缺少必需的列：{}（表头为：{}）", sheet.as_ref().map(|s| format!("工作表「{s}」")).unwrap_or_default(), missing.join("、"), found.join("、"))]
    MissingColumns { file: String, sheet: Option<String>, missing: Vec<String>, found: Vec<String> },
    #[error("{file}：不支持的文件类型，请使用 .csv 或 .xlsx")]
    UnknownFormat { file: String },
    #[error("{file}：表头中列「{column}」出现了两次")]
    DuplicateColumn { file: String, column: String },
    #[error("{file}：第 {row} 行「{column}」有 {chars} 个字，超过每格 {MAX_CELL_CHARS} 个字的上限")]
    CellTooLong { file: String, row: u64, column: String, chars: usize },
}

/// The longest cell any import takes (characters): as long as the longest free text of a form
/// (a treatment plan), so that a file cannot store what the pages refuse.
pub const MAX_CELL_CHARS: usize = 2000;

/// How many rows from the top of a sheet may come before the header (title, notes, blanks).
pub const HEADER_SEARCH_ROWS: usize = 20;

/// One data row: its row number in the file and its cells.
#[derive(Debug, Default)]
pub struct TableRow {
    pub row: u64,
    pub cells: Vec<String>,
    /// The columns whose cell the workbook stored as a number (XLSX only).
    numbers: Vec<usize>,
    /// A cell longer than [`MAX_CELL_CHARS`]: its column and length (its text is cut).
    too_long: Option<(usize, usize)>,
}

impl TableRow {
    /// Whether the workbook stored this cell as a number rather than as text.
    pub fn is_number(&self, column: usize) -> bool {
        self.numbers.contains(&column)
    }
}

#[derive(Debug)]
pub struct Table {
    pub file: String,
    /// The sheet the rows come from, when the file is a workbook.
    pub sheet: Option<String>,
    /// The row the header was found in.
    pub header_row: u64,
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
    /// "UTF-8", "GBK" or "XLSX".
    pub encoding: &'static str,
}

/// The rows of one sheet (or of a CSV file) before the header is known.
struct Grid {
    sheet: Option<String>,
    rows: Vec<TableRow>,
}

impl Table {
    /// Reads `path` for a format of `wanted` columns, choosing CSV or XLSX from the extension.
    pub fn read(path: &Path, wanted: &[Column]) -> Result<Table, FileError> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(path).map_err(|e| FileError::Io { file: file.clone(), reason: e.to_string() })?;
        Self::from_bytes(&file, bytes, wanted)
    }

    /// Reads an uploaded file, choosing the format from the name's extension.
    pub fn from_bytes(file: &str, bytes: Vec<u8>, wanted: &[Column]) -> Result<Table, FileError> {
        let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "csv" | "txt" => Self::from_csv_bytes(file, &bytes, wanted),
            "xlsx" | "xlsm" => Self::from_xlsx_bytes(file, bytes, wanted),
            _ => Err(FileError::UnknownFormat { file: file.to_string() }),
        }
    }

    pub fn from_csv_bytes(file: &str, bytes: &[u8], wanted: &[Column]) -> Result<Table, FileError> {
        let file = file.to_string();
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(FileError::Empty { file });
        }
        let (text, encoding) = match std::str::from_utf8(bytes) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), "UTF-8"),
            Err(_) => {
                if let Some(row) = mixed_encoding(bytes) {
                    return Err(FileError::MixedEncoding { file, row });
                }
                match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
                    Some(s) => (s, "GBK"),
                    None => return Err(FileError::Encoding { file }),
                }
            }
        };
        if let Some(row) = unclosed_quote(&text) {
            return Err(FileError::UnclosedQuote { file, row });
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut rows = Vec::new();
        // The line a record starts on, counted here from its byte offset (the reader's own line
        // count, and its offset, go wrong after a `\r\n` followed by a blank line, and at a lone `\r`).
        let (mut seen, mut line) = (0usize, 1u64);
        let mut line_at = |byte: usize| {
            let b = text.as_bytes();
            // A record never starts with a line break: the reader may point at the one before it.
            let byte = (byte.min(b.len())..b.len()).find(|&i| b[i] != b'\r' && b[i] != b'\n').unwrap_or(b.len());
            // A line ends at `\n`, `\r\n` or a lone `\r` (as Excel reads it).
            line += (seen.min(byte)..byte).filter(|&i| b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))).count() as u64;
            seen = seen.max(byte);
            line
        };
        for rec in reader.records() {
            let rec = match rec {
                Ok(rec) => rec,
                Err(e) => {
                    let row = e.position().map_or(0, |p| line_at(p.byte() as usize));
                    return Err(FileError::BadCsv { file: file.clone(), row, reason: e.to_string() });
                }
            };
            let row = rec.position().map_or(0, |p| line_at(p.byte() as usize));
            let mut too_long = None;
            let cells = rec
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    let chars = cell.chars().count();
                    if chars > MAX_CELL_CHARS && too_long.is_none() {
                        too_long = Some((c, chars));
                    }
                    crate::csv_out::unescape_cell(cell.trim()).to_string()
                })
                .collect();
            rows.push(TableRow { row, cells, too_long, ..TableRow::default() });
        }
        let mut table = locate(&file, vec![Grid { sheet: None, rows }], wanted, encoding)?;
        // A row with more or fewer fields than the header is a misplaced comma or quote.
        let expected = table.headers.len();
        if let Some(r) = table.rows.iter().filter(|r| r.cells.iter().any(|c| !c.is_empty())).find(|r| r.cells.len() != expected) {
            return Err(FileError::RaggedRow { file: table.file, row: r.row, found: r.cells.len(), expected, header_row: table.header_row });
        }
        table.rows.retain(|r| r.cells.iter().any(|c| !c.is_empty()));
        table.bounded()
    }

    pub fn from_xlsx_bytes(file: &str, bytes: Vec<u8>, wanted: &[Column]) -> Result<Table, FileError> {
        let file = file.to_string();
        if bytes.is_empty() {
            return Err(FileError::Empty { file });
        }
        if !bytes.starts_with(b"PK\x03\x04") {
            return Err(FileError::NotXlsx { file, looks_like: sniff(&bytes) });
        }
        let sheets = xlsx::read(std::io::Cursor::new(bytes)).map_err(|e| match e {
            xlsx::XlsxError::Broken(reason) => FileError::BadXlsx { file: file.clone(), reason },
            xlsx::XlsxError::TooBig(reason) => FileError::TooBig { file: file.clone(), reason },
        })?;
        let grids = sheets
            .into_iter()
            .map(|sheet| Grid {
                sheet: Some(sheet.name),
                rows: sheet
                    .rows
                    .into_iter()
                    .map(|r| {
                        let numbers = r.cells.iter().enumerate().filter(|(_, c)| c.number).map(|(i, _)| i).collect();
                        let too_long = r.cells.iter().enumerate().find(|(_, c)| c.char_count() > MAX_CELL_CHARS).map(|(i, c)| (i, c.char_count()));
                        TableRow { row: u64::from(r.row), cells: r.cells.into_iter().map(|c| c.text.trim().to_string()).collect(), numbers, too_long }
                    })
                    .collect(),
            })
            .collect();
        let mut table = locate(&file, grids, wanted, "XLSX")?;
        let width = table.headers.len();
        for r in table.rows.iter_mut().filter(|r| r.cells.len() < width) {
            r.cells.resize(width, String::new());
        }
        table.bounded()
    }

    /// The table, or the first cell longer than [`MAX_CELL_CHARS`].
    fn bounded(self) -> Result<Table, FileError> {
        for r in &self.rows {
            if let Some((c, chars)) = r.too_long {
                let column = self.headers.get(c).filter(|h| !h.is_empty()).cloned().unwrap_or_else(|| format!("{} 列", xlsx::column_name(c as u32 + 1)));
                return Err(FileError::CellTooLong { file: self.file, row: r.row, column, chars });
            }
        }
        Ok(self)
    }

    /// Finds each wanted column (by its name or one of its aliases); a missing required column
    /// fails the whole file. Returns the column index for each wanted column.
    pub fn columns(&self, wanted: &[Column]) -> Result<Vec<Option<usize>>, FileError> {
        for (i, h) in self.headers.iter().enumerate() {
            if !h.is_empty() && self.headers[..i].contains(h) {
                return Err(FileError::DuplicateColumn { file: self.file.clone(), column: h.clone() });
            }
        }
        let found = find_columns(&self.headers, wanted);
        let missing: Vec<String> =
            wanted.iter().zip(&found).filter(|(c, f)| c.required && f.is_none()).map(|(c, _)| c.name.to_string()).collect();
        if missing.is_empty() {
            Ok(found)
        } else {
            Err(FileError::MissingColumns { file: self.file.clone(), sheet: self.sheet.clone(), missing, found: self.headers.clone() })
        }
    }
}

fn find_columns(headers: &[String], wanted: &[Column]) -> Vec<Option<usize>> {
    wanted.iter().map(|c| headers.iter().position(|h| h == c.name || c.aliases.contains(&h.as_str()))).collect()
}

/// The header and the rows below it: in the first grid (sheet) that has, within its first
/// [`HEADER_SEARCH_ROWS`] rows, one naming every required column; else the refusal names what the
/// closest row lacks. With no columns wanted, the first row.
fn locate(file: &str, grids: Vec<Grid>, wanted: &[Column], encoding: &'static str) -> Result<Table, FileError> {
    let required = wanted.iter().filter(|c| c.required).count();
    let mut best: Option<(usize, usize, usize)> = None; // (matched, grid, row index)
    let mut chosen = None;
    'grids: for (g, grid) in grids.iter().enumerate() {
        for (i, r) in grid.rows.iter().enumerate().filter(|(_, r)| r.cells.iter().any(|c| !c.is_empty())).take(HEADER_SEARCH_ROWS) {
            let headers: Vec<String> = r.cells.iter().map(|c| clean_header(c)).collect();
            let found = find_columns(&headers, wanted);
            let matched = wanted.iter().zip(&found).filter(|(c, f)| c.required && f.is_some()).count();
            if matched == required {
                chosen = Some((g, i));
                break 'grids;
            }
            if best.is_none_or(|(m, ..)| matched > m) {
                best = Some((matched, g, i));
            }
        }
    }
    let Some((g, i)) = chosen.or(best.map(|(_, g, i)| (g, i))) else {
        return Err(FileError::Empty { file: file.to_string() });
    };
    let mut grid = grids.into_iter().nth(g).expect("found");
    let rest = grid.rows.split_off(i + 1);
    let header = grid.rows.pop().expect("found");
    let table = Table {
        file: file.to_string(),
        sheet: grid.sheet,
        header_row: header.row,
        headers: header.cells.iter().map(|c| clean_header(c)).collect(),
        rows: rest,
        encoding,
    };
    if chosen.is_none() {
        table.columns(wanted)?;
    }
    Ok(table)
}

/// The line where a quoted field opens that never closes (CSV rules: a quote opens a field only
/// at its start, and `""` inside it is a quote), or None.
fn unclosed_quote(text: &str) -> Option<u64> {
    let (mut line, mut opened, mut quoted, mut at_start) = (1u64, 0u64, false, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                }
                '"' => quoted = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                opened = line;
            }
            ',' => {}
            '\n' => line += 1,
            _ => {}
        }
        at_start = matches!(c, ',' | '\n' | '\r');
    }
    quoted.then_some(opened)
}

/// For bytes that are not UTF-8: the line of the first bad byte when most of the file's other
/// non-ASCII text is UTF-8 (a file pasted together from two encodings), else None.
fn mixed_encoding(bytes: &[u8]) -> Option<u64> {
    let (mut utf8, mut bad, mut first_bad) = (0usize, 0usize, None);
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        utf8 += chunk.valid().bytes().filter(|b| !b.is_ascii()).count();
        offset += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            first_bad.get_or_insert(offset);
            bad += chunk.invalid().len();
        }
        offset += chunk.invalid().len();
    }
    let at = first_bad?;
    (utf8 > 3 * bad).then(|| bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1)
}

/// Why an ID number stored as a number in a workbook is refused: Excel keeps 15 significant
/// digits, so the last ones are already gone (and one in eleven still passes the check character,
/// as someone else's number).
pub const ID_STORED_AS_NUMBER: &str = "证件号码被 Excel 存成了数字，末几位已丢失，请把该列设为“文本”后重新导出";

/// An ID number cell, read where its meaning is certain: spaces dropped, full-width digits and
/// Ｘ made ASCII. Refused with [`ID_STORED_AS_NUMBER`] when the workbook stored it as a number
/// or it is written as one (`3.71302E+17`); else as [`IdNumber::parse`] says.
pub fn id_number(text: &str, stored_as_number: bool) -> Result<huimin_domain::IdNumber, String> {
    let plain: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| huimin_domain::halfwidth(c).to_ascii_uppercase())
        .collect();
    let scientific = plain.contains(['E', 'e']) && plain.contains('+') && plain.chars().all(|c| c.is_ascii_digit() || "Ee+.".contains(c));
    if stored_as_number || scientific {
        return Err(ID_STORED_AS_NUMBER.to_string());
    }
    huimin_domain::IdNumber::parse(&plain).map_err(|e| format!("证件号码{e}"))
}

/// A column a file format expects.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

/// A header cell as the column's name: no spaces (姓  名), no required-marks (`*`), no note in
/// brackets after it (证件号码（必填）).
fn clean_header(h: &str) -> String {
    let h: String = h.chars().filter(|c| !c.is_whitespace() && *c != '\u{feff}').collect();
    let h = h.trim_matches(['*', '＊']);
    let name = match h.find(['（', '(', '【', '[']) {
        Some(i) if i > 0 => &h[..i],
        _ => h,
    };
    name.trim_matches(['*', '＊']).to_string()
}

/// What a file that is not a zip archive seems to be, for the error message.
fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "PNG 图片"
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        "JPEG 图片"
    } else if bytes.starts_with(b"%PDF") {
        "PDF 文档"
    } else if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
        "旧版 Excel（.xls）文件，请另存为 .xlsx"
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        "文本文件，若是 CSV 请把扩展名改为 .csv"
    } else {
        "其他类型的文件"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_longer_than_any_form_field_refuses_the_file() {
        let long = "药".repeat(MAX_CELL_CHARS + 1);
        let e = Table::from_csv_bytes("d.csv", format!("证件号码,治疗方案\n1,短\n2,{long}\n").as_bytes(), &[]).unwrap_err();
        assert_eq!(e.to_string(), format!("d.csv：第 3 行「治疗方案」有 {} 个字，超过每格 2000 个字的上限", MAX_CELL_CHARS + 1));
        assert!(Table::from_csv_bytes("d.csv", format!("a\n{}\n", "x".repeat(MAX_CELL_CHARS)).as_bytes(), &[]).is_ok());
    }

    #[test]
    fn gbk_and_utf8_read_the_same() {
        let text = "户编号,姓名\nH1,张三\n\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let a = Table::from_csv_bytes("a.csv", text.as_bytes(), &[]).unwrap();
        let b = Table::from_csv_bytes("b.csv", &gbk, &[]).unwrap();
        assert_eq!((a.encoding, b.encoding), ("UTF-8", "GBK"));
        assert_eq!(a.headers, b.headers);
        assert_eq!(a.rows[0].cells, b.rows[0].cells);
        assert_eq!(b.rows[0].cells, ["H1", "张三"]);
        assert_eq!(a.rows.len(), 1, "blank lines are skipped");
        assert_eq!(a.rows[0].row, 2);
    }

    #[test]
    fn row_numbers_are_the_lines_excel_shows() {
        // After `\r\n` and a blank line, and at a lone `\r` (both read as line breaks).
        let t = Table::from_csv_bytes("r.csv", b"a,b\nc,d\r\n\ne,f\rg,h\n\"x\ny\",z\nk,l\n", &[]).unwrap();
        assert_eq!(t.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 4, 5, 6, 8]);
    }

    #[test]
    fn whole_file_errors() {
        assert!(matches!(Table::from_csv_bytes("e.csv", b"", &[]), Err(FileError::Empty { .. })));
        assert!(matches!(Table::from_csv_bytes("e.csv", b"\xEF\xBB\xBF \n", &[]), Err(FileError::Empty { .. })));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let e = Table::from_xlsx_bytes("roster.xlsx", png, &[]).unwrap_err();
        assert!(e.to_string().contains("PNG"), "{e}");
        assert!(matches!(Table::from_csv_bytes("x.csv", &[0xff, 0xfe, 0x81, 0x00, 0xff], &[]), Err(FileError::Encoding { .. })));
        let t = Table::from_csv_bytes("t.csv", "姓名,姓名\n张三,李四\n".as_bytes(), &[]).unwrap();
        let col = Column { name: "姓名", aliases: &[], required: true };
        assert!(matches!(t.columns(&[col]), Err(FileError::DuplicateColumn { .. })));
        let t = Table::from_csv_bytes("t.csv", "姓名*\n张三\n".as_bytes(), &[]).unwrap();
        assert_eq!(t.columns(&[col]).unwrap(), vec![Some(0)], "a trailing * marks a required column in templates");
        let missing = Column { name: "证件号码", aliases: &["身份证号"], required: true };
        let e = t.columns(&[col, missing]).unwrap_err();
        assert_eq!(e.to_string(), "t.csv：缺少必需的列：证件号码（表头为：姓名）");
    }
}
