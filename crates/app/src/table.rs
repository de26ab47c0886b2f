//! Reading a table (CSV in UTF-8 or GBK, or the first sheet of an XLSX) into rows of text, with
//! the row numbers a user sees in Excel (the header is row 1).

use std::path::Path;

use calamine::{Data, Reader, Xlsx};

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
    #[error("{file}：文件编码既不是 UTF-8 也不是 GBK，请另存为 UTF-8 CSV 或 XLSX")]
    Encoding { file: String },
    #[error("{file}：第 {row} 行无法解析为 CSV（{reason}）")]
    BadCsv { file: String, row: u64, reason: String },
    #[error("{file}：缺少必需的列：{}（表头为：{}）", missing.join("、"), found.join("、"))]
    MissingColumns { file: String, missing: Vec<String>, found: Vec<String> },
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

/// One data row: its row number in the file and its cells.
#[derive(Debug)]
pub struct TableRow {
    pub row: u64,
    pub cells: Vec<String>,
}

#[derive(Debug)]
pub struct Table {
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
    /// "UTF-8", "GBK" or "XLSX".
    pub encoding: &'static str,
}

impl Table {
    /// Reads `path`, choosing the format from its extension.
    pub fn read(path: &Path) -> Result<Table, FileError> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(path).map_err(|e| FileError::Io { file: file.clone(), reason: e.to_string() })?;
        Self::from_bytes(&file, bytes)
    }

    /// Reads an uploaded file, choosing the format from the name's extension.
    pub fn from_bytes(file: &str, bytes: Vec<u8>) -> Result<Table, FileError> {
        let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "csv" | "txt" => Self::from_csv_bytes(file, &bytes),
            "xlsx" | "xlsm" => Self::from_xlsx_bytes(file, bytes),
            _ => Err(FileError::UnknownFormat { file: file.to_string() }),
        }
    }

    pub fn from_csv_bytes(file: &str, bytes: &[u8]) -> Result<Table, FileError> {
        let file = file.to_string();
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(FileError::Empty { file });
        }
        let (text, encoding) = match std::str::from_utf8(bytes) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), "UTF-8"),
            Err(_) => match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(s) => (s, "GBK"),
                None => return Err(FileError::Encoding { file }),
            },
        };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut records = reader.records();
        let headers: Vec<String> = match records.next() {
            Some(Ok(r)) => r.iter().map(clean_header).collect(),
            Some(Err(e)) => return Err(FileError::BadCsv { file, row: 1, reason: e.to_string() }),
            None => return Err(FileError::Empty { file }),
        };
        let mut rows = Vec::new();
        for (i, rec) in records.enumerate() {
            let row = i as u64 + 2;
            let rec = rec.map_err(|e| FileError::BadCsv { file: file.clone(), row, reason: e.to_string() })?;
            if rec.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            rows.push(TableRow { row, cells: rec.iter().map(|c| c.trim().to_string()).collect() });
        }
        Table { file, headers, rows, encoding }.bounded()
    }

    pub fn from_xlsx_bytes(file: &str, bytes: Vec<u8>) -> Result<Table, FileError> {
        let file = file.to_string();
        if bytes.is_empty() {
            return Err(FileError::Empty { file });
        }
        if !bytes.starts_with(b"PK\x03\x04") {
            return Err(FileError::NotXlsx { file, looks_like: sniff(&bytes) });
        }
        let bad = |e: &dyn std::fmt::Display| FileError::BadXlsx { file: file.clone(), reason: e.to_string() };
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
        let range = match book.worksheet_range_at(0) {
            Some(r) => r.map_err(|e| bad(&e))?,
            None => return Err(FileError::Empty { file }),
        };
        let (first_row, _) = range.start().unwrap_or((0, 0));
        let mut rows_iter = range.rows();
        let headers: Vec<String> = match rows_iter.next() {
            Some(r) => r.iter().map(|c| clean_header(&cell_text(c))).collect(),
            None => return Err(FileError::Empty { file }),
        };
        let mut rows = Vec::new();
        for (i, r) in rows_iter.enumerate() {
            let cells: Vec<String> = r.iter().map(cell_text).collect();
            if cells.iter().all(|c| c.is_empty()) {
                continue;
            }
            rows.push(TableRow { row: u64::from(first_row) + i as u64 + 2, cells });
        }
        Table { file, headers, rows, encoding: "XLSX" }.bounded()
    }

    /// The table, or the first cell longer than [`MAX_CELL_CHARS`].
    fn bounded(self) -> Result<Table, FileError> {
        for r in &self.rows {
            for (c, cell) in r.cells.iter().enumerate() {
                let chars = cell.chars().count();
                if chars > MAX_CELL_CHARS {
                    let column = self.headers.get(c).cloned().unwrap_or_else(|| format!("第 {} 列", c + 1));
                    return Err(FileError::CellTooLong { file: self.file, row: r.row, column, chars });
                }
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
        let found: Vec<Option<usize>> = wanted
            .iter()
            .map(|c| self.headers.iter().position(|h| h == c.name || c.aliases.contains(&h.as_str())))
            .collect();
        let missing: Vec<String> =
            wanted.iter().zip(&found).filter(|(c, f)| c.required && f.is_none()).map(|(c, _)| c.name.to_string()).collect();
        if missing.is_empty() {
            Ok(found)
        } else {
            Err(FileError::MissingColumns { file: self.file.clone(), missing, found: self.headers.clone() })
        }
    }
}

/// A column a file format expects.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

fn clean_header(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').trim_end_matches(['*', '＊']).trim().to_string()
}

/// Spreadsheet cells as the text a user typed: integers without ".0", long ID numbers intact.
fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        // Excel's serial day numbers count from 1899-12-30.
        Data::DateTime(d) => chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
            .and_then(|base| base.checked_add_signed(chrono::Duration::days(d.as_f64() as i64)))
            .map(|date| date.to_string())
            .unwrap_or_default(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
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
        let e = Table::from_csv_bytes("d.csv", format!("证件号码,治疗方案\n1,短\n2,{long}\n").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), format!("d.csv：第 3 行「治疗方案」有 {} 个字，超过每格 2000 个字的上限", MAX_CELL_CHARS + 1));
        assert!(Table::from_csv_bytes("d.csv", format!("a\n{}\n", "x".repeat(MAX_CELL_CHARS)).as_bytes()).is_ok());
    }

    #[test]
    fn gbk_and_utf8_read_the_same() {
        let text = "户编号,姓名\nH1,张三\n\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let a = Table::from_csv_bytes("a.csv", text.as_bytes()).unwrap();
        let b = Table::from_csv_bytes("b.csv", &gbk).unwrap();
        assert_eq!((a.encoding, b.encoding), ("UTF-8", "GBK"));
        assert_eq!(a.headers, b.headers);
        assert_eq!(a.rows[0].cells, b.rows[0].cells);
        assert_eq!(b.rows[0].cells, ["H1", "张三"]);
        assert_eq!(a.rows.len(), 1, "blank lines are skipped");
        assert_eq!(a.rows[0].row, 2);
    }

    #[test]
    fn whole_file_errors() {
        assert!(matches!(Table::from_csv_bytes("e.csv", b""), Err(FileError::Empty { .. })));
        assert!(matches!(Table::from_csv_bytes("e.csv", b"\xEF\xBB\xBF \n"), Err(FileError::Empty { .. })));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let e = Table::from_xlsx_bytes("roster.xlsx", png).unwrap_err();
        assert!(e.to_string().contains("PNG"), "{e}");
        assert!(matches!(Table::from_csv_bytes("x.csv", &[0xff, 0xfe, 0x81, 0x00, 0xff]), Err(FileError::Encoding { .. })));
        let t = Table::from_csv_bytes("t.csv", "姓名,姓名\n张三,李四\n".as_bytes()).unwrap();
        let col = Column { name: "姓名", aliases: &[], required: true };
        assert!(matches!(t.columns(&[col]), Err(FileError::DuplicateColumn { .. })));
        let t = Table::from_csv_bytes("t.csv", "姓名*\n张三\n".as_bytes()).unwrap();
        assert_eq!(t.columns(&[col]).unwrap(), vec![Some(0)], "a trailing * marks a required column in templates");
        let missing = Column { name: "证件号码", aliases: &["身份证号"], required: true };
        let e = t.columns(&[col, missing]).unwrap_err();
        assert_eq!(e.to_string(), "t.csv：缺少必需的列：证件号码（表头为：姓名）");
    }
}
