//! What a batch job is asked to do: its inputs and output, its chunk size,
//! how many failed rows it tolerates, how often a chunk is retried, and
//! which share of the input it takes (`--shard I/N`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One batch job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Files, folders (every file of a known format in them) and globs
    /// (`data/*.csv`), in the order given.
    pub inputs: Vec<PathBuf>,
    /// The output file; its extension says the format (`.csv`, `.jsonl`).
    /// With a shard, the shard's own file is named from it ([`Shard::output`]).
    pub output: PathBuf,
    /// A column (a record's key) carried beside the answers instead of the
    /// source file and row number.
    pub id_column: Option<String>,
    /// Rows per chunk: a chunk is what one engine run scores.
    pub batch_size: usize,
    pub error_threshold: Threshold,
    /// Runs of a chunk after an engine error before it is split to find
    /// the rows at fault.
    pub retries: u32,
    pub shard: Shard,
    /// Chunks read ahead of the writer; with the chunk size, this bounds
    /// the job's memory whatever the input's size.
    pub in_flight: usize,
    /// Replace an output that already exists (else the job refuses to
    /// start: a finished job's output is never replaced silently).
    pub overwrite: bool,
}

/// How many failed rows stop the job (`--error-threshold`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// `-1`: never.
    Ignore,
    /// `N`: once more than N rows have failed.
    Rows(u64),
    /// `P%`: once more than P percent of the rows read so far have failed
    /// (counted from 1,000 rows on, and over all rows at the end).
    Percent(f64),
}

/// Rows read before a percentage threshold is applied: a few bad rows at
/// the start of a file are not yet a rate.
pub(crate) const PERCENT_FROM_ROWS: u64 = 1000;

impl Threshold {
    /// Whether `failed` of `read` rows passes the threshold; `end` when
    /// every row has been read.
    pub(crate) fn passed(self, failed: u64, read: u64, end: bool) -> bool {
        match self {
            Threshold::Ignore => false,
            Threshold::Rows(limit) => failed > limit,
            Threshold::Percent(percent) => {
                (end || read >= PERCENT_FROM_ROWS)
                    && read > 0
                    && failed as f64 * 100.0 > percent * read as f64
            }
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let text = text.trim();
        if text == "-1" {
            return Ok(Threshold::Ignore);
        }
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(Threshold::Percent(p)),
                _ => Err(format!(
                    "'{text}' is not a percentage from 0% to 100% (or a row count, or -1)"
                )),
            };
        }
        text.parse::<u64>().map(Threshold::Rows).map_err(|_| {
            format!("'{text}' is not a row count, a percentage such as 5%, or -1 (no threshold)")
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Ignore => write!(f, "-1"),
            Threshold::Rows(n) => write!(f, "{n} rows"),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Which share of the input a process takes: chunk `k` of the whole input
/// (every file, in order) belongs to shard `k % count`, so shards are
/// deterministic, balanced, and merged back in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole input.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub(crate) fn takes(self, chunk: u64) -> bool {
        chunk % u64::from(self.count) == u64::from(self.index)
    }

    /// The file a shard writes: `out.csv` is `out.shard-2-of-8.csv` for
    /// shard 2 of 8, and itself for the whole input.
    pub fn output(self, output: &std::path::Path) -> PathBuf {
        if self.count == 1 {
            return output.to_path_buf();
        }
        let stem = output.file_stem().unwrap_or_default().to_string_lossy();
        let name = match output.extension() {
            Some(ext) => format!(
                "{stem}.shard-{}-of-{}.{}",
                self.index,
                self.count,
                ext.to_string_lossy()
            ),
            None => format!("{stem}.shard-{}-of-{}", self.index, self.count),
        };
        output.with_file_name(name)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, with `0 <= I < N`.
    fn from_str(text: &str) -> Result<Shard, String> {
        let wrong = || format!("'{text}' is not a shard: give I/N with 0 <= I < N, such as 0/4");
        let (index, count) = text.trim().split_once('/').ok_or_else(wrong)?;
        let index: u32 = index.trim().parse().map_err(|_| wrong())?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        if count == 0 || index >= count {
            return Err(wrong());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn thresholds_read_as_azure_writes_them() {
        assert_eq!("-1".parse(), Ok(Threshold::Ignore));
        assert_eq!("10".parse(), Ok(Threshold::Rows(10)));
        assert_eq!("2.5%".parse(), Ok(Threshold::Percent(2.5)));
        assert!("-2".parse::<Threshold>().is_err());
        assert!("101%".parse::<Threshold>().is_err());
        assert!("ten".parse::<Threshold>().is_err());
    }

    #[test]
    fn a_threshold_is_passed_only_beyond_it() {
        assert!(!Threshold::Rows(2).passed(2, 10, false));
        assert!(Threshold::Rows(2).passed(3, 10, false));
        assert!(!Threshold::Ignore.passed(1_000_000, 1_000_000, true));
        // 50% of 10 rows: not yet a rate, until the end.
        assert!(!Threshold::Percent(10.0).passed(5, 10, false));
        assert!(Threshold::Percent(10.0).passed(5, 10, true));
        assert!(Threshold::Percent(10.0).passed(101, 1000, false));
        assert!(!Threshold::Percent(10.0).passed(100, 1000, false));
    }

    #[test]
    fn shards_split_chunks_round_robin_and_name_their_files() {
        let shard: Shard = "1/3".parse().unwrap();
        let taken: Vec<u64> = (0..9).filter(|&k| shard.takes(k)).collect();
        assert_eq!(taken, vec![1, 4, 7]);
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!(
            shard.output(Path::new("out/preds.csv")),
            Path::new("out/preds.shard-1-of-3.csv")
        );
        assert_eq!(
            Shard::WHOLE.output(Path::new("preds.csv")),
            Path::new("preds.csv")
        );
    }
}
