//! `inferd batch` through the real binary, on real files: answers equal to
//! the server's for the same rows, bad rows in the errors file with the
//! server's message, a killed job continued to the byte-identical output,
//! shards merged back into the unsharded output, JSON Lines and `.npy`
//! inputs, an id column, the error threshold, and each refusal.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::batch::{
    batch, batch_env, kill_at_first_checkpoint, lines, ok, repo, ridge_job, ridge_row,
};
use support::{http, start};

/// A CSV file of `rows` ridge rows; the rows in `bad` are broken in turn:
/// too short, a word, too long.
fn ridge_csv(path: &Path, rows: u64, bad: &[u64]) {
    let mut text = String::from("a,b,c,d,e,f,g,h,i,j\n");
    for r in 0..rows {
        let cells: Vec<String> = ridge_row(r).iter().map(|x| x.to_string()).collect();
        let line = match bad.iter().position(|b| *b == r) {
            Some(k) if k % 3 == 0 => cells[..3].join(","),
            Some(k) if k % 3 == 1 => format!("oops,{}", cells[1..].join(",")),
            Some(_) => format!("{},1", cells.join(",")),
            None => cells.join(","),
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn score(port: u16, data: &Value) -> (u16, Value) {
    let body = json!({ "data": data }).to_string();
    let answer = http(
        port,
        &format!(
            "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[test]
fn csv_rows_score_as_the_server_answers_them_and_bad_rows_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    let bad = [5, 70, 71];
    ridge_csv(&input, 300, &bad);
    let output = dir.path().join("preds.csv");
    let summary = ok(&batch(&[
        "--model",
        "diabetes-ridge",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--batch-size",
        "64",
    ]));
    assert_eq!(summary["rows_read"], 300);
    assert_eq!(summary["rows_scored"], 297);
    assert_eq!(summary["rows_failed"], 3);

    let text = std::fs::read_to_string(&output).unwrap();
    let mut records = text.lines();
    assert_eq!(records.next(), Some("file,row,predictions"));
    let records: Vec<Vec<&str>> = records.map(|l| l.split(',').collect()).collect();
    assert_eq!(records.len(), 297);
    let good: Vec<u64> = (0..300).filter(|r| !bad.contains(r)).collect();
    let numbers: Vec<u64> = records.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(numbers, good, "one row per good input row, in input order");
    assert!(records.iter().all(|r| r[0] == input.to_str().unwrap()));

    // The server's answers for the same rows, to the digit.
    let server = start(&[]);
    let data = Value::Array(good.iter().map(|r| json!(ridge_row(*r))).collect());
    let (status, answer) = score(server.port, &data);
    assert_eq!(status, 200);
    let served: Vec<String> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    let batched: Vec<String> = records.iter().map(|r| r[2].to_owned()).collect();
    assert_eq!(batched, served);

    // Each failed row: its file, its number, and the server's message for
    // that row sent alone.
    let errors = lines(&dir.path().join("preds.csv.errors.jsonl"));
    assert_eq!(errors.len(), 3);
    let raw = std::fs::read_to_string(&input).unwrap();
    for (error, row) in errors.iter().zip(bad) {
        assert_eq!(error["row"], row);
        assert_eq!(error["file"], input.to_str().unwrap());
        let line = raw.lines().nth(row as usize + 1).unwrap();
        let cells: Vec<Value> = line
            .split(',')
            .map(|c| serde_json::from_str(c).unwrap_or(json!(c)))
            .collect();
        let (status, answer) = score(server.port, &json!([cells]));
        assert_eq!(status, 400);
        assert_eq!(error["error"], answer["message"], "row {row}");
    }
    // Nothing is left beside the output.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["preds.csv", "preds.csv.errors.jsonl", "rows.csv"]);
}

#[test]
fn a_killed_job_continues_to_the_output_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.csv");
    ridge_csv(&input, 400_000, &[10, 250_001]);
    let args = |output: &Path| ridge_job(&input, output, &["--batch-size", "32", "--workers", "1"]);
    let whole = dir.path().join("whole.csv");
    ok(&batch(&args(&whole)));

    let resumed = dir.path().join("resumed.csv");
    let args_resumed = args(&resumed);
    kill_at_first_checkpoint(&args_resumed, &resumed);
    let checkpoint = dir.path().join("resumed.csv.checkpoint");

    let summary = ok(&batch(&args_resumed));
    let done_before = summary["resumed_rows"].as_u64().unwrap();
    assert!(
        done_before > 0 && done_before < 400_000,
        "resumed after {done_before} rows"
    );
    assert_eq!(summary["rows_read"], 400_000);
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.path().join("resumed.csv.errors.jsonl")).unwrap(),
        std::fs::read(dir.path().join("whole.csv.errors.jsonl")).unwrap()
    );
    assert!(!checkpoint.exists());
}

#[test]
fn shards_merge_into_the_unsharded_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    ridge_csv(&a, 1000, &[3, 600]);
    ridge_csv(&b, 77, &[76]);
    let run = |output: &Path, extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec![
            "--model",
            "diabetes-ridge",
            "--input",
            dir.path().to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--batch-size",
            "50",
        ];
        args.extend(extra);
        ok(&batch_env(&args, envs))
    };
    let whole = dir.path().join("out/whole.jsonl");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let all = run(&whole, &[], &[]);
    assert_eq!(all["rows_read"], 1077);

    let merged = dir.path().join("out/merged.jsonl");
    let mut scored = 0;
    for index in 0..3 {
        let shard = if index == 1 {
            // As a Kubernetes Indexed Job's pod runs it.
            run(
                &merged,
                &["--shards", "3"],
                &[("JOB_COMPLETION_INDEX", "1")],
            )
        } else {
            run(&merged, &["--shard", &format!("{index}/3")], &[])
        };
        scored += shard["rows_scored"].as_u64().unwrap();
    }
    assert_eq!(scored, all["rows_scored"].as_u64().unwrap());
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args(["batch", "merge", "--output", merged.to_str().unwrap()])
        .output()
        .unwrap();
    let summary = ok(&output);
    assert_eq!(summary["rows_failed"], 3);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/merged.jsonl.errors.jsonl")).unwrap(),
        std::fs::read(dir.path().join("out/whole.jsonl.errors.jsonl")).unwrap()
    );
    let first = lines(&whole)[0].clone();
    assert_eq!(first["file"], dir.path().join("a.csv").to_str().unwrap());
    assert_eq!(first["row"], 0);
    assert!(first["predictions"].is_number());

    // A missing shard is named.
    std::fs::remove_file(dir.path().join("out/merged.shard-2-of-3.jsonl.done.json")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args([
            "batch",
            "merge",
            "--overwrite",
            "--output",
            merged.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("shards 2 of 3 have not finished"),
        "{stderr}"
    );
}

/// A `.npy` file of `values` as float32 rows of 10, written as NumPy does.
fn npy_f32(path: &Path, rows: usize, values: &[f32]) {
    npy_f32_shaped(path, rows, 10, values);
}

/// A `.npy` file of `values` as float32 rows of `width`.
fn npy_f32_shaped(path: &Path, rows: usize, width: usize, values: &[f32]) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {width}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn jsonl_records_npy_arrays_and_an_id_column_score_alike() {
    let dir = tempfile::tempdir().unwrap();
    let columns = [
        "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
    ];
    // The pandas sample's integer columns (age, sex, s1, s6) take integers.
    let integer = [0, 1, 4, 9];
    let rows: Vec<Vec<f64>> = (0..40)
        .map(|r| {
            let mut row = ridge_row(r);
            for j in integer {
                row[j] = ((r as usize + j) % 5) as f64;
            }
            row
        })
        .collect();
    // Records, as the pandas contract of examples/inference/pandas.json
    // takes them, each with an id; one without its id, one not JSON.
    let mut text = String::new();
    for (r, row) in rows.iter().enumerate() {
        let mut record = serde_json::Map::new();
        record.insert("key".into(), json!(format!("k{r}")));
        for (j, (name, x)) in columns.iter().zip(row).enumerate() {
            let value = if integer.contains(&j) {
                json!(*x as i64)
            } else {
                json!(x)
            };
            record.insert((*name).into(), value);
        }
        text.push_str(&Value::Object(record).to_string());
        text.push('\n');
    }
    text.push_str("{\"age\": 1}\n\nnot json\n");
    let records = dir.path().join("records.jsonl");
    std::fs::write(&records, text).unwrap();
    let config = repo().join("examples/inference/pandas.json");
    let by_id = dir.path().join("by-id.csv");
    let summary = ok(&batch(&[
        "--model",
        "diabetes-ridge",
        "--inference-config",
        config.to_str().unwrap(),
        "--input",
        records.to_str().unwrap(),
        "--output",
        by_id.to_str().unwrap(),
        "--id-column",
        "key",
    ]));
    assert_eq!(summary["rows_scored"], 40);
    assert_eq!(summary["rows_failed"], 2);
    let errors = lines(&dir.path().join("by-id.csv.errors.jsonl"));
    assert_eq!(errors[0]["row"], 40);
    assert!(errors[0]["error"].as_str().unwrap().contains("'key'"));
    assert_eq!(errors[1]["row"], 41, "a blank line is not a row");
    assert!(
        errors[1]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let by_id = std::fs::read_to_string(&by_id).unwrap();
    assert!(by_id.starts_with("key,predictions\nk0,"), "{by_id}");

    // The same values as float32 in a .npy file.
    let flat: Vec<f32> = rows.iter().flatten().map(|x| *x as f32).collect();
    let array = dir.path().join("rows.npy");
    npy_f32(&array, 40, &flat);
    let from_npy = dir.path().join("from-npy.jsonl");
    ok(&batch(&[
        "--model",
        "diabetes-ridge",
        "--input",
        array.to_str().unwrap(),
        "--output",
        from_npy.to_str().unwrap(),
    ]));
    let npy_answers: Vec<String> = lines(&from_npy)
        .iter()
        .map(|l| l["predictions"].to_string())
        .collect();
    let id_answers: Vec<String> = by_id
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(npy_answers, id_answers);

    // A .npy whose header claims more rows than it holds.
    let lying = dir.path().join("lying.npy");
    npy_f32(&lying, 41, &flat);
    let output = batch(&[
        "--model",
        "diabetes-ridge",
        "--input",
        lying.to_str().unwrap(),
        "--output",
        dir.path().join("x.csv").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lying.npy"), "{stderr}");
}

#[test]
fn past_the_error_threshold_the_job_stops_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    ridge_csv(&input, 200, &[1, 2, 3, 4, 5, 6, 150]);
    let output = dir.path().join("out.csv");
    let run = |threshold: &str| {
        batch(&[
            "--model",
            "diabetes-ridge",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--batch-size",
            "10",
            "--error-threshold",
            threshold,
            "--overwrite",
        ])
    };
    let stopped = run("5");
    assert!(!stopped.status.success());
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        stderr.contains("6 rows failed, past the error threshold (5 rows)"),
        "{stderr}"
    );
    // A higher threshold continues the same job to its end.
    ok(&run("7"));
    assert_eq!(lines(&dir.path().join("out.csv.errors.jsonl")).len(), 7);
    // 7 of 200 is 3.5%: judged at the end, over every row.
    assert!(!run("3%").status.success());
    ok(&run("4%"));
}

#[test]
fn bad_jobs_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    ridge_csv(&input, 20, &[]);
    let narrow = dir.path().join("narrow.csv");
    std::fs::write(&narrow, "a,b\n1,2\n").unwrap();
    let out = dir.path().join("out.csv");
    let refused = |args: &[&str], says: &str| {
        let output = batch(args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    let model = ["--model", "diabetes-ridge"];
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    refused(
        &[
            &model[..],
            &["--input", narrow.to_str().unwrap(), "--output", o],
        ]
        .concat(),
        "header: input 'input' expects shape [N, 10] (float32), received shape [N, 2] (2 data columns in the header)",
    );
    refused(
        &[&model[..], &["--input", i, "--output", "out.xlsx"]].concat(),
        "name the output .csv, .jsonl or .parquet",
    );
    refused(
        &[&model[..], &["--input", "nowhere.csv", "--output", o]].concat(),
        "nowhere.csv: no such file",
    );
    refused(
        &[&model[..], &["--input", i, "--output", i]].concat(),
        "is also an input",
    );
    refused(
        &["--model", "no-such-model", "--input", i, "--output", o],
        "no-such-model",
    );
    refused(
        &[&model[..], &["--input", i, "--output", o, "--shard", "3/3"]].concat(),
        "is not a shard",
    );
    refused(
        &[&model[..], &["--input", i, "--output", o, "--shards", "2"]].concat(),
        "JOB_COMPLETION_INDEX",
    );
    // A finished job's output is replaced only when asked.
    ok(&batch(
        &[&model[..], &["--input", i, "--output", o]].concat(),
    ));
    refused(
        &[&model[..], &["--input", i, "--output", o]].concat(),
        "already exists; give --overwrite to replace it",
    );
    ok(&batch(
        &[&model[..], &["--input", i, "--output", o, "--overwrite"]].concat(),
    ));
    // An empty file; a file that is not what its name says; an output
    // folder that does not exist.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    refused(
        &[
            &model[..],
            &["--input", empty.to_str().unwrap(), "--output", "x.csv"],
        ]
        .concat(),
        "empty.csv: the file is empty: no header row",
    );
    let fake = dir.path().join("fake.npy");
    std::fs::write(&fake, "a,b\n1,2\n").unwrap();
    refused(
        &[
            &model[..],
            &["--input", fake.to_str().unwrap(), "--output", "x.csv"],
        ]
        .concat(),
        "fake.npy: not a .npy file",
    );
    refused(
        &[
            &model[..],
            &["--input", i, "--output", "/no/such/folder/out.csv"],
        ]
        .concat(),
        "/no/such/folder/out.csv.partial",
    );
    // Another job's checkpoint is never continued.
    std::fs::remove_file(&out).unwrap();
    std::fs::write(
        dir.path().join("out.csv.checkpoint"),
        r#"{"version":1,"job":"another","next_chunk":3,"file":0,"position":{"byte":10,"line":2,"row":1},"output_bytes":0,"errors_bytes":0,"read":1,"scored":1,"failed":0,"columns":null,"file_rows":[1]}"#,
    )
    .unwrap();
    refused(
        &[&model[..], &["--input", i, "--output", o]].concat(),
        "was left by a different job",
    );
}

#[test]
fn quoted_fields_header_only_files_and_arrays_that_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    // A quoted id holding a comma and a newline, a quoted number: one
    // record each, numbered as records, not lines.
    let quoted = dir.path().join("quoted.csv");
    let row = "1,2,3,4,5,6,7,8,9";
    std::fs::write(
        &quoted,
        format!(
            "id,a,b,c,d,e,f,g,h,i,j\n\"x, \"\"1\"\"\nsecond line\",\"0.5\",{row}\nplain,0.5,{row}\n"
        ),
    )
    .unwrap();
    let output = dir.path().join("quoted-out.csv");
    let summary = ok(&batch(&[
        "--model",
        "diabetes-ridge",
        "--input",
        quoted.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--id-column",
        "id",
    ]));
    assert_eq!(summary["rows_scored"], 2);
    let text = std::fs::read_to_string(&output).unwrap();
    let mut reader = csv_records(&text);
    assert_eq!(reader.remove(0), ["id", "predictions"]);
    assert_eq!(reader[0][0], "x, \"1\"\nsecond line");
    assert_eq!(reader[1][0], "plain");
    assert_eq!(
        reader[0][1], reader[1][1],
        "the same values, the same answer"
    );

    // A header and no rows: an empty output, exit 0.
    let header_only = dir.path().join("header.csv");
    std::fs::write(&header_only, "a,b,c,d,e,f,g,h,i,j\n").unwrap();
    let summary = ok(&batch(&[
        "--model",
        "diabetes-ridge",
        "--input",
        header_only.to_str().unwrap(),
        "--output",
        dir.path().join("none.csv").to_str().unwrap(),
    ]));
    assert_eq!(summary["rows_read"], 0);

    // Arrays refused at open, naming the file: booleans for a float
    // input, and rows of 3 for rows of 10.
    let booleans = dir.path().join("flags.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 10), }";
    let header = format!("{header:<117}\n");
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([1u8; 20]);
    std::fs::write(&booleans, bytes).unwrap();
    let narrow = dir.path().join("narrow.npy");
    npy_f32_shaped(&narrow, 2, 3, &[0.5; 6]);
    for (file, says) in [
        (
            &booleans,
            "the array holds booleans ('|b1'), and input 'input' takes float32",
        ),
        (
            &narrow,
            "rows of shape [3] do not fit input 'input' of shape [N, 10]",
        ),
    ] {
        let output = batch(&[
            "--model",
            "diabetes-ridge",
            "--input",
            file.to_str().unwrap(),
            "--output",
            dir.path().join("x.csv").to_str().unwrap(),
        ]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(file.to_str().unwrap()) && stderr.contains(says),
            "{stderr}"
        );
    }
}

/// A CSV text's records, as a reader would see them (quotes undone).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    records
}
