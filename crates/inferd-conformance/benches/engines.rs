//! In-process latency per model, per engine, per batch size (1, 8, 32, 64):
//! one session on one thread, the way one inferd worker runs it. Criterion
//! reports time per run and rows per second, so a user can pick an engine
//! per model. `scripts/bench-engines.sh` runs it and prints the table.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use inferd_conformance::bundled::{self, rows};
use inferd_conformance::engines;

const BATCHES: [usize; 4] = [1, 8, 32, 64];

fn engines_per_model(c: &mut Criterion) {
    let models = bundled::models(&engines::repo_root().join("models")).expect("bundled models");
    // INFERD_BENCH_CUDA=1 adds ONNX Runtime on CUDA device 0 (benches/cuda.sh).
    let cuda = std::env::var_os("INFERD_BENCH_CUDA").is_some_and(|v| v == "1");
    let engines =
        engines::all_with(cuda).expect("the engines (ONNX Runtime: scripts/onnxruntime.sh)");
    for model in &models {
        let mut group = c.benchmark_group(&model.name);
        for named in &engines {
            let loaded = named
                .engine
                .load(&model.files.join("model.onnx"))
                .expect("model loads");
            let dtype = loaded.signature().inputs[0].dtype;
            let input = bundled::recorded_input(model, dtype).expect("recorded input");
            let mut session = loaded.new_session().expect("session");
            for batch in BATCHES {
                let batch_input = rows(&input, batch);
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_with_input(
                    BenchmarkId::new(named.name, batch),
                    &batch_input,
                    |b, input| b.iter(|| session.run(vec![input.clone()]).expect("run")),
                );
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = engines_per_model
}
criterion_main!(benches);
