//! `adopt`: `StreamTable::adopt` of a 2-level table with 2^17 valid L1 descriptors
//! (Span 9, distinct 16 KiB aligned L2 pointers; no L2 is mapped by adoption), against a
//! linear read of the same 1 MiB (sum of 2^17 `Acquire` u64 loads).
//!
//! The timed section is the `adopt` call only: dropping the adopted table (which frees
//! its slot-record directory) happens after the timer stops (`iter_custom`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smmu_benches::adopt::{AdoptFixture, L1_BYTES};
use smmu_benches::hostmem::HostMem;

fn adopt(c: &mut Criterion) {
    let mem = HostMem::new(8 << 20);
    // Writes the L1 table and checks adoption (including a corrupt last descriptor).
    let fx = AdoptFixture::new(&mem);
    let mut g = c.benchmark_group("adopt/2level_2p17_l1");
    g.throughput(Throughput::Bytes(L1_BYTES as u64));
    g.bench_function("baseline", |b| b.iter(|| fx.read_all()));
    g.bench_function("subject", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let table = black_box(fx.adopt());
                total += start.elapsed();
                drop(table);
            }
            total
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = adopt
}
criterion_main!(benches);
