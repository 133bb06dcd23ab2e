//! The writer's files: `data-<UTC time>-<n>.jsonl` in one folder, a new one
//! when the current one would pass its size or age, and the oldest deleted
//! first when all of them together would pass the total cap. Names sort by
//! age, so files left by an earlier run count toward the cap and go first.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::macros::format_description;

const PREFIX: &str = "data-";
const SUFFIX: &str = ".jsonl";

/// When to start a new file and how much to keep.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// A file is closed before it would grow past this.
    pub max_file_bytes: u64,
    /// A file is closed once it is this old (at the next record).
    pub max_file_age: Duration,
    /// All files together stay within this; the oldest are deleted first.
    pub max_total_bytes: u64,
}

struct Current {
    file: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    opened: Instant,
}

/// The folder's files, as the writer thread sees them.
pub struct Files {
    dir: PathBuf,
    rotation: Rotation,
    current: Option<Current>,
    /// Closed files, oldest first, with their sizes.
    closed: VecDeque<(PathBuf, u64)>,
    sequence: u64,
}

impl Files {
    /// Opens `dir` (made if missing), counting the files already there.
    pub fn open(dir: &Path, rotation: Rotation) -> io::Result<Files> {
        std::fs::create_dir_all(dir)?;
        let mut closed: Vec<(PathBuf, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
                closed.push((entry.path(), entry.metadata()?.len()));
            }
        }
        closed.sort();
        Ok(Files {
            dir: dir.to_owned(),
            rotation,
            current: None,
            closed: closed.into(),
            sequence: 0,
        })
    }

    /// Appends one line, rotating and deleting first as the limits require.
    /// A line larger than the total cap is refused (`Ok(false)`).
    pub fn append(&mut self, line: &[u8]) -> io::Result<bool> {
        let len = line.len() as u64;
        if len > self.rotation.max_total_bytes {
            return Ok(false);
        }
        if let Some(current) = &self.current {
            let full = current.bytes > 0 && current.bytes + len > self.rotation.max_file_bytes;
            let old = current.opened.elapsed() >= self.rotation.max_file_age;
            if full || old {
                self.rotate()?;
            }
        }
        self.make_room(len)?;
        if self.current.is_none() {
            self.current = Some(self.create()?);
        }
        let current = self.current.as_mut().expect("just made");
        current.file.write_all(line)?;
        current.bytes += len;
        Ok(true)
    }

    /// Writes what is buffered to the current file.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.current {
            Some(current) => current.file.flush(),
            None => Ok(()),
        }
    }

    /// Bytes in every file, the current one included.
    pub fn total_bytes(&self) -> u64 {
        self.closed.iter().map(|(_, n)| n).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.bytes)
    }

    fn make_room(&mut self, len: u64) -> io::Result<()> {
        while self.total_bytes() + len > self.rotation.max_total_bytes {
            if let Some((oldest, _)) = self.closed.pop_front() {
                match std::fs::remove_file(&oldest) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            } else if self.current.is_some() {
                // Only the current file is left and it is too big: it goes too.
                self.rotate()?;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut current) = self.current.take() {
            current.file.flush()?;
            self.closed.push_back((current.path, current.bytes));
        }
        Ok(())
    }

    fn create(&mut self) -> io::Result<Current> {
        let now = OffsetDateTime::now_utc();
        let stamp = now
            .format(format_description!(
                "[year][month][day]T[hour][minute][second][subsecond digits:3]Z"
            ))
            .map_err(io::Error::other)?;
        self.sequence += 1;
        let path = self
            .dir
            .join(format!("{PREFIX}{stamp}-{:06}{SUFFIX}", self.sequence));
        let file = File::options().create_new(true).append(true).open(&path)?;
        Ok(Current {
            file: BufWriter::with_capacity(64 * 1024, file),
            path,
            bytes: 0,
            opened: Instant::now(),
        })
    }
}
