//! `inferd batch` with Parquet files, through the real binary: a file
//! pandas wrote scores as its CSV twin does, a killed job with a Parquet
//! output continues to the byte-identical file, shards of a Parquet job
//! merge into the rows of the unsharded one, and broken or unfitting
//! Parquet files are refused with what is wrong.
//!
//! `examples/batch/rows.parquet` is `examples/batch/rows.csv` as pandas
//! 3.1 with pyarrow 26 writes it (`pd.read_csv(csv, na_values=["n/a"])
//! .to_parquet(path, index=False)`): the bad row's `n/a` is a null.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, TimestampSecondArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use support::batch::{batch, kill_at_first_checkpoint, lines, ok, repo, ridge_job, ridge_row};

/// A Parquet file of `rows` ridge rows (float32 columns a..j), in row
/// groups of `group` rows.
fn ridge_parquet(path: &Path, rows: u64, group: usize) {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let columns: Vec<(&str, ArrayRef)> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let values: Float32Array = (0..rows).map(|r| ridge_row(r)[j] as f32).collect();
            (*name, Arc::new(values) as ArrayRef)
        })
        .collect();
    write_parquet(path, RecordBatch::try_from_iter(columns).unwrap(), group);
}

fn write_parquet(path: &Path, batch: RecordBatch, group: usize) {
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut writer = ArrowWriter::try_new(
        File::create(path).unwrap(),
        batch.schema(),
        Some(properties),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Each row of a Parquet output: its key (`file:row`, or the id) and its
/// float32 `predictions`.
fn answers(path: &Path) -> Vec<(String, f32)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let values = batch.column_by_name("predictions").unwrap();
        let values = values.as_primitive::<Float32Type>();
        for i in 0..batch.num_rows() {
            let key = match (batch.column_by_name("file"), batch.column_by_name("id")) {
                (Some(file), _) => format!(
                    "{}:{}",
                    file.as_string::<i32>().value(i),
                    batch
                        .column_by_name("row")
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .value(i)
                ),
                (None, Some(id)) => id.as_string::<i32>().value(i).to_owned(),
                (None, None) => panic!("no key column"),
            };
            out.push((key, values.value(i)));
        }
    }
    out
}

#[test]
fn a_parquet_file_pandas_wrote_scores_as_its_csv_twin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |input: &str, output: &Path| {
        ok(&batch(&[
            "--model",
            "diabetes-ridge",
            "--input",
            repo().join(input).to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--id-column",
            "id",
            "--batch-size",
            "4",
        ]))
    };
    let from_parquet = dir.path().join("preds.parquet");
    let summary = run("examples/batch/rows.parquet", &from_parquet);
    assert_eq!(summary["rows_scored"], 7);
    assert_eq!(summary["rows_failed"], 1);
    let errors = lines(&dir.path().join("preds.parquet.errors.jsonl"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["id"], "p-005");
    assert_eq!(
        errors[0]["error"],
        "data[0][2]: input 'input' expects float32, received null"
    );

    let from_csv = dir.path().join("preds.csv");
    run("examples/batch/rows.csv", &from_csv);
    let csv_answers: Vec<(String, f32)> = std::fs::read_to_string(&from_csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let (id, value) = line.split_once(',').unwrap();
            (id.to_owned(), value.parse().unwrap())
        })
        .collect();
    assert_eq!(csv_answers.len(), 7);
    assert_eq!(answers(&from_parquet), csv_answers);
}

#[test]
fn a_killed_parquet_job_continues_to_the_same_file_and_its_shards_merge_to_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.parquet");
    let rows = 600_000;
    ridge_parquet(&input, rows, 50_000);
    let args = |output: &Path, extra: &[&str]| {
        let mut args = ridge_job(&input, output, &["--batch-size", "16", "--workers", "1"]);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let run = |args: &[String]| ok(&batch(args));
    let whole = dir.path().join("whole.parquet");
    run(&args(&whole, &[]));

    let resumed = dir.path().join("resumed.parquet");
    kill_at_first_checkpoint(&args(&resumed, &[]), &resumed);
    assert!(dir.path().join("resumed.parquet.partial").exists());

    let summary = run(&args(&resumed, &[]));
    let done_before = summary["resumed_rows"].as_u64().unwrap();
    assert!(
        done_before > 0 && done_before < rows,
        "resumed after {done_before} rows"
    );
    assert_eq!(summary["rows_read"], rows);
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert!(!dir.path().join("resumed.parquet.partial").exists());

    let merged = dir.path().join("merged.parquet");
    for index in 0..2 {
        run(&args(&merged, &["--shard", &format!("{index}/2")]));
    }
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args(["batch", "merge", "--output", merged.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(ok(&output)["rows_scored"], rows);
    let expected = answers(&whole);
    assert_eq!(expected.len(), rows as usize);
    assert_eq!(answers(&merged), expected);
}

#[test]
fn broken_and_unfitting_parquet_files_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |input: &Path| -> String {
        let output = batch(&[
            "--model",
            "diabetes-ridge",
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.path().join("out.parquet").to_str().unwrap(),
        ]);
        assert!(!output.status.success());
        assert!(!dir.path().join("out.parquet").exists());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Cut short: no footer.
    let whole = std::fs::read(repo().join("examples/batch/rows.parquet")).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let stderr = refused(&cut);
    assert!(stderr.contains("cut.parquet"), "{stderr}");
    assert!(stderr.contains("not a readable Parquet file"), "{stderr}");

    // Not Parquet at all, whatever its name says.
    let named = dir.path().join("named.parquet");
    std::fs::copy(repo().join("examples/batch/rows.csv"), &named).unwrap();
    let stderr = refused(&named);
    assert!(stderr.contains("named.parquet"), "{stderr}");
    assert!(stderr.contains("not a readable Parquet file"), "{stderr}");

    // A column short of the model's ten.
    let narrow = dir.path().join("narrow.parquet");
    let columns: Vec<(&str, ArrayRef)> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .map(|name| {
            (
                *name,
                Arc::new(Float32Array::from(vec![0.5f32; 3])) as ArrayRef,
            )
        })
        .collect();
    write_parquet(
        &narrow,
        RecordBatch::try_from_iter(columns.clone()).unwrap(),
        3,
    );
    let stderr = refused(&narrow);
    assert!(stderr.contains("narrow.parquet"), "{stderr}");
    assert!(stderr.contains("9 data columns"), "{stderr}");

    // A column of a type no client sends.
    let timed = dir.path().join("timed.parquet");
    let mut columns = columns;
    columns.push(("when", Arc::new(TimestampSecondArray::from(vec![0i64; 3]))));
    write_parquet(&timed, RecordBatch::try_from_iter(columns).unwrap(), 3);
    let stderr = refused(&timed);
    assert!(stderr.contains("timed.parquet"), "{stderr}");
    assert!(stderr.contains("column 'when' holds Timestamp"), "{stderr}");
}
