//! `model_translate`: `Smmu::translate` of the host model, against a plain
//! `PhysMemory::read_u64` of the translated address (what the DMA access costs without
//! translation). One criterion iteration is one transaction.
//!
//! * `tlb_hit`: the same transaction again and again (STE, CD and TLB cached).
//! * `tlb_miss`: one stream, 256 distinct pages after `CMD_TLBI_NSNH_ALL` (STE and CD
//!   cached, a 4-level stage-1 walk each).
//! * `full_walk`: 256 distinct streams (distinct L1 descriptors, STEs, CDs, ASIDs) and
//!   pages after `CMD_CFGI_ALL` + `CMD_TLBI_NSNH_ALL`: L1STD + STE + CD fetch and decode,
//!   4-level walk, cache fills.
//!
//! For the two cold workloads, the invalidation commands run before each batch of 256
//! transactions *outside* the timed section (`iter_custom`); the baseline reads the same
//! 256 addresses with the same untimed preparation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use smmu_benches::model::{ModelFixture, Workload};

fn model_translate(c: &mut Criterion) {
    // Builds the tables by hand and checks every workload against the model's counters.
    let fx = ModelFixture::new();
    let (smmu, mem) = (&fx.smmu, &fx.mem);

    let mut g = c.benchmark_group("model_translate/tlb_hit");
    let &[(hot, hot_pa)] = fx.transactions(Workload::TlbHit) else {
        unreachable!("one hot transaction")
    };
    fx.prepare(Workload::TlbHit);
    g.bench_function("baseline", |b| b.iter(|| mem.read_u64(black_box(hot_pa))));
    g.bench_function("subject", |b| b.iter(|| smmu.translate(black_box(&hot))));
    g.finish();

    for (w, name) in [
        (Workload::TlbMiss, "tlb_miss"),
        (Workload::FullWalk, "full_walk"),
    ] {
        let txs = fx.transactions(w);
        let mut g = c.benchmark_group(format!("model_translate/{name}"));
        g.bench_function("baseline", |b| {
            b.iter_custom(|iters| {
                batched(iters, txs.len(), |n| {
                    fx.prepare(w);
                    let start = Instant::now();
                    for (_, pa) in &txs[..n] {
                        let _ = black_box(mem.read_u64(black_box(*pa)));
                    }
                    start.elapsed()
                })
            });
        });
        g.bench_function("subject", |b| {
            b.iter_custom(|iters| {
                batched(iters, txs.len(), |n| {
                    fx.prepare(w);
                    let start = Instant::now();
                    for (t, _) in &txs[..n] {
                        let _ = black_box(smmu.translate(black_box(t)));
                    }
                    start.elapsed()
                })
            });
        });
        g.finish();
    }
}

/// Runs `batch(n)` for batches of at most `max` until `iters` transactions are done, and
/// returns the sum of the timed sections.
fn batched(iters: u64, max: usize, mut batch: impl FnMut(usize) -> Duration) -> Duration {
    let mut left = iters;
    let mut total = Duration::ZERO;
    while left > 0 {
        let n = left.min(max as u64);
        total += batch(n as usize);
        left -= n;
    }
    total
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = model_translate
}
criterion_main!(benches);
