//! Every file Huimin writes (exports, error workbooks, reports, bills, generated data) is written
//! whole or not at all: into a temporary file beside it, synced to disk, then renamed over the
//! name (and the folder synced). A reader, or a crash in the middle, sees the previous file or
//! the new one, never a part of it; a killed run leaves at most a hidden `.NAME.*.part` file.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written; it appears under its name on [`AtomicFile::commit`] and not before.
pub struct AtomicFile {
    temp: io::BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let dir = folder(path);
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let temp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".part").tempfile_in(dir)?;
        Ok(AtomicFile { temp: io::BufWriter::with_capacity(1 << 20, temp), path: path.to_path_buf() })
    }

    /// Syncs the content and puts it in place of whatever the name held.
    pub fn commit(self) -> io::Result<()> {
        let temp = self.temp.into_inner().map_err(io::IntoInnerError::into_error)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        // The rename itself is durable once the folder is.
        File::open(folder(&self.path))?.sync_all()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `bytes` as the whole content of `path`.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Saves a workbook as `path`.
pub fn save_workbook(book: &mut rust_xlsxwriter::Workbook, path: &Path) -> Result<(), rust_xlsxwriter::XlsxError> {
    let bytes = book.save_to_buffer()?;
    write(path, &bytes).map_err(rust_xlsxwriter::XlsxError::IoError)
}

fn folder(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
