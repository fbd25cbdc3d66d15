//! `entry_writer`: STE installs through `SteSlot::write` with a no-op sync hook
//! (abort → S2, S1 CD table → S2, bypass → CD table), against a baseline that stores the
//! 8 target words (`Release` atomic stores) into the same slots.
//!
//! One criterion iteration is one install. Installs run in batches of
//! `SLOTS` (1024) distinct slots: before each batch, *outside* the timed section, the
//! batch is reset to the source entry with raw stores; the timed section then installs
//! the target once into each slot of the batch (`iter_custom` sums the timed sections).
//! The baseline uses the same slots, reset and batching.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use smmu_benches::hostmem::HostMem;
use smmu_benches::writer::{SLOTS, TRANSITIONS, WriterFixture};

fn entry_writer(c: &mut Criterion) {
    let mem = HostMem::new(1 << 20);
    let fx = WriterFixture::new(&mem);
    let slots = fx.slots();
    for t in &TRANSITIONS {
        // Checks the install (target reached, sync count) and the baseline.
        let report = fx.check(t);
        eprintln!(
            "entry_writer/{}: {} syncs per install (critical words {:#010b}, breaking: {})",
            t.name, report.syncs, report.critical, report.breaking
        );
        let mut g = c.benchmark_group(format!("entry_writer/{}", t.name));
        g.bench_function("baseline", |b| {
            b.iter_custom(|iters| {
                batched(iters, |n| {
                    fx.raw_store(n, &t.source);
                    let start = Instant::now();
                    fx.raw_store(n, black_box(&t.target));
                    start.elapsed()
                })
            });
        });
        g.bench_function("subject", |b| {
            b.iter_custom(|iters| {
                batched(iters, |n| {
                    fx.raw_store(n, &t.source);
                    let start = Instant::now();
                    black_box(WriterFixture::install(&slots, n, black_box(&t.target)));
                    start.elapsed()
                })
            });
        });
        g.finish();
    }
}

/// Runs `batch(n)` for batches of at most `SLOTS` until `iters` installs are done, and
/// returns the sum of the timed sections.
fn batched(iters: u64, mut batch: impl FnMut(usize) -> Duration) -> Duration {
    let mut left = iters;
    let mut total = Duration::ZERO;
    while left > 0 {
        let n = left.min(SLOTS as u64);
        total += batch(n as usize);
        left -= n;
    }
    total
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = entry_writer
}
criterion_main!(benches);
