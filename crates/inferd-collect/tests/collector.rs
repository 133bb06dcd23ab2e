//! The collector on a real folder: every accepted record written once,
//! rotation by size and by age, the total cap, a slow writer that drops
//! instead of blocking, and close writing out what was accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use inferd_collect::files::Rotation;
use inferd_collect::{CollectOptions, Collector, Input, Record};

fn record(n: usize) -> Record {
    Record {
        time: SystemTime::now(),
        request_id: format!("req-{n}"),
        model: Arc::from("ridge"),
        version: 1,
        input: Input::Json(Bytes::from(format!("{{\"data\": [[{n}, 1, 2]]}}"))),
        output: Bytes::from(format!("[{n}.5]")),
    }
}

fn options(dir: &Path, max_file_bytes: u64, max_total_bytes: u64) -> CollectOptions {
    CollectOptions {
        rotation: Rotation {
            max_file_bytes,
            max_file_age: Duration::from_secs(3600),
            max_total_bytes,
        },
        ..CollectOptions::new(dir.to_owned())
    }
}

/// The data files, oldest first.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Every line of every file, oldest first, parsed.
fn lines(dir: &Path) -> Vec<serde_json::Value> {
    files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn total_size(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn every_accepted_record_is_written_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(CollectOptions::new(dir.path().to_owned())).unwrap();
    for n in 0..500 {
        assert!(collector.record(record(n)));
    }
    assert!(collector.close(Duration::from_secs(10)));
    let lines = lines(dir.path());
    assert_eq!(lines.len(), 500);
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line["request_id"], format!("req-{n}"));
        assert_eq!(line["model"], "ridge");
        assert_eq!(line["version"], 1);
        assert_eq!(line["input"]["data"][0][0], n);
        assert_eq!(line["output"][0], n as f64 + 0.5);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!((collector.written(), collector.dropped()), (500, 0));
    assert!(!collector.record(record(500)), "closed: dropped");
}

#[test]
fn files_rotate_by_size_and_the_total_cap_deletes_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let line_len = record(100).to_line().len() as u64;
    // Ten lines per file, at most three files' worth in all.
    let (file, cap) = (10 * line_len, 30 * line_len);
    let collector = Collector::start(options(dir.path(), file, cap)).unwrap();
    for n in 100..200 {
        assert!(collector.record(record(n)));
    }
    assert!(collector.close(Duration::from_secs(10)));
    let files = files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= file);
    }
    assert!(total_size(dir.path()) <= cap);
    let kept: Vec<String> = lines(dir.path())
        .iter()
        .map(|l| l["request_id"].as_str().unwrap().to_owned())
        .collect();
    let newest: Vec<String> = (170..200).map(|n| format!("req-{n}")).collect();
    assert_eq!(kept, newest, "the newest 30 records are kept, in order");
}

#[test]
fn files_rotate_by_age_and_a_restart_counts_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let aged = CollectOptions {
        rotation: Rotation {
            max_file_bytes: 1 << 20,
            max_file_age: Duration::from_millis(100),
            max_total_bytes: 1 << 30,
        },
        ..CollectOptions::new(dir.path().to_owned())
    };
    let collector = Collector::start(aged.clone()).unwrap();
    assert!(collector.record(record(1)));
    // The first record is in its file before the file's age is counted
    // (the writer could otherwise take both records together).
    let start = Instant::now();
    while collector.written() < 1 {
        assert!(start.elapsed() < Duration::from_secs(30), "never written");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Past the age the file may reach (the wait under test).
    std::thread::sleep(Duration::from_millis(250));
    assert!(collector.record(record(2)));
    assert!(collector.close(Duration::from_secs(10)));
    assert_eq!(
        files(dir.path()).len(),
        2,
        "the second record found the first file too old"
    );

    // A restart with a cap of one record's size: the old files go first.
    // Slack for the timestamp, whose text length varies with its fraction:
    // room for one line, never for two.
    let line_len = record(3).to_line().len() as u64 + 16;
    let collector = Collector::start(options(dir.path(), line_len, line_len)).unwrap();
    assert!(collector.record(record(3)));
    assert!(collector.close(Duration::from_secs(10)));
    let kept = lines(dir.path());
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["request_id"], "req-3");
}

#[test]
fn a_slow_writer_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let slow = CollectOptions {
        queue: 8,
        write_delay: Duration::from_millis(20),
        ..CollectOptions::new(dir.path().to_owned())
    };
    let collector = Collector::start(slow).unwrap();
    let started = Instant::now();
    let accepted = (0..200).filter(|n| collector.record(record(*n))).count();
    let took = started.elapsed();
    // 200 records at 20 ms each would take 4 s to write; offering them must not wait.
    // Waiting for the writer would take about 4 s.
    assert!(
        took < Duration::from_secs(2),
        "offering never waits: {took:?}"
    );
    assert!(accepted < 50, "most were dropped: {accepted} accepted");
    assert_eq!(collector.dropped() as usize, 200 - accepted);
    assert_eq!(collector.accepted() as usize, accepted);
    assert!(collector.close(Duration::from_secs(10)));
    assert_eq!(
        lines(dir.path()).len(),
        accepted,
        "every accepted one written"
    );
}

#[test]
fn close_is_bounded_when_the_writer_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let stuck = CollectOptions {
        queue: 4,
        write_delay: Duration::from_secs(2),
        ..CollectOptions::new(dir.path().to_owned())
    };
    let collector = Collector::start(stuck).unwrap();
    for n in 0..4 {
        collector.record(record(n));
    }
    let started = Instant::now();
    assert!(!collector.close(Duration::from_millis(200)));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_cap_smaller_than_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = Collector::start(options(dir.path(), 1000, 999))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("must be at least one file"),
        "{error}"
    );
}
