//! Every CSV the system writes goes through here: written atomically, in UTF-8 with a BOM (so
//! Excel opens it right) or in GBK for Excel on Chinese Windows, and safe to open in a spreadsheet:
//! a cell that would be evaluated as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return
//! first, and not a plain number) is written with a leading `'`, as OWASP recommends, and the
//! table reader takes that quote off again, so our own exports import unchanged.

use std::io::Write;
use std::path::Path;

use crate::files::AtomicFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    #[default]
    Utf8,
    /// GBK as Excel on Chinese Windows reads it (encoded as GB18030, its superset, so that no
    /// character of a name is lost).
    Gbk,
}

impl CsvEncoding {
    pub fn parse(s: &str) -> Option<CsvEncoding> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(CsvEncoding::Utf8),
            "gbk" | "gb18030" | "gb2312" => Some(CsvEncoding::Gbk),
            _ => None,
        }
    }
}

/// Whether a spreadsheet would evaluate the cell: it starts with a formula character and is not
/// a plain (signed) number such as a reversal's `-12.50`.
pub fn is_formula_like(cell: &str) -> bool {
    let Some(first) = cell.chars().next() else { return false };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') {
        return false;
    }
    let number = cell.strip_prefix(['+', '-']).is_some_and(|rest| {
        let (int, frac) = rest.split_once('.').unwrap_or((rest, "0"));
        !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
    });
    !number
}

/// The cell as written to a CSV file.
pub fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if is_formula_like(cell) { format!("'{cell}").into() } else { cell.into() }
}

/// The cell as read back: a leading `'` that [`safe_cell`] put before a formula character goes.
pub fn unescape_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula_like(rest) => rest,
        _ => cell,
    }
}

/// A CSV file being written; nothing is at `path` until [`CsvFile::commit`].
pub struct CsvFile {
    writer: csv::Writer<Transcode>,
}

impl CsvFile {
    pub fn create(path: &Path, encoding: CsvEncoding) -> std::io::Result<CsvFile> {
        let mut file = AtomicFile::create(path)?;
        if encoding == CsvEncoding::Utf8 {
            file.write_all(b"\xEF\xBB\xBF")?;
        }
        let sink = Transcode { file, gbk: (encoding == CsvEncoding::Gbk).then(|| encoding_rs::GB18030.new_encoder()), pending: Vec::new() };
        Ok(CsvFile { writer: csv::Writer::from_writer(sink) })
    }

    pub fn row<I, S>(&mut self, cells: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<S> = cells.into_iter().collect();
        self.writer.write_record(cells.iter().map(|c| safe_cell(c.as_ref()).into_owned())).map_err(std::io::Error::other)
    }

    /// Writes what is left and puts the file in place.
    pub fn commit(self) -> std::io::Result<()> {
        let mut sink = self.writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        sink.finish()?;
        sink.file.commit()
    }
}

/// UTF-8 in; UTF-8 or GB18030 out (a character cut between two writes waits for its rest).
struct Transcode {
    file: AtomicFile,
    gbk: Option<encoding_rs::Encoder>,
    pending: Vec<u8>,
}

impl Transcode {
    fn encode(&mut self, text: &str, last: bool) -> std::io::Result<()> {
        let Some(encoder) = &mut self.gbk else { return self.file.write_all(text.as_bytes()) };
        let mut out = vec![0u8; encoder.max_buffer_length_from_utf8_without_replacement(text.len()).unwrap_or(text.len() * 4 + 16)];
        let (result, _, written) = encoder.encode_from_utf8_without_replacement(text, &mut out, last);
        if let encoding_rs::EncoderResult::Unmappable(c) = result {
            return Err(std::io::Error::other(format!("字符「{c}」无法用 GBK 表示")));
        }
        self.file.write_all(&out[..written])
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        let text = std::str::from_utf8(&rest).map_err(std::io::Error::other)?;
        self.encode(text, true)
    }
}

impl Write for Transcode {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let rest = self.pending.split_off(valid);
        let done = std::mem::replace(&mut self.pending, rest);
        self.encode(std::str::from_utf8(&done).map_err(std::io::Error::other)?, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped_and_numbers_are_not() {
        for cell in ["=HYPERLINK(\"http://x\",\"点此\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "=1", "-", "+"] {
            assert!(is_formula_like(cell), "{cell}");
            assert_eq!(unescape_cell(&safe_cell(cell)), cell);
        }
        for cell in ["-12.50", "+86", "12", "张三", "", "'quoted", "a=b"] {
            assert!(!is_formula_like(cell), "{cell}");
            assert_eq!(safe_cell(cell), cell);
        }
    }

    #[test]
    fn gbk_and_utf8_files() {
        let dir = tempfile::tempdir().unwrap();
        for (encoding, name) in [(CsvEncoding::Utf8, "u.csv"), (CsvEncoding::Gbk, "g.csv")] {
            let path = dir.path().join(name);
            let mut f = CsvFile::create(&path, encoding).unwrap();
            f.row(["姓名", "随访指导"]).unwrap();
            // Long enough that the csv writer's buffer cuts characters in two.
            let long = "郭敏明䶮".repeat(5000);
            f.row([long.as_str(), "=HYPERLINK(\"http://evil\")"]).unwrap();
            f.commit().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let text = match encoding {
                CsvEncoding::Utf8 => String::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap().to_vec()).unwrap(),
                CsvEncoding::Gbk => encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(&bytes).unwrap().into_owned(),
            };
            assert_eq!(text, format!("姓名,随访指导\n{long},\"'=HYPERLINK(\"\"http://evil\"\")\"\n"));
        }
    }
}
