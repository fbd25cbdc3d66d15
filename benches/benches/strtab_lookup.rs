//! `strtab_lookup`: StreamID → STE lookup and read through `StreamTable::ste` +
//! `SteSlot::read`, linear and 2-level, sequential and random StreamIDs (4096 per
//! iteration), against a raw-pointer baseline doing the same index arithmetic and the
//! same 8 `Acquire` loads on the same table memory. See `smmu_benches::lookup`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smmu_benches::Pattern;
use smmu_benches::hostmem::HostMem;
use smmu_benches::lookup::{Layout, LookupFixture, SIDS_PER_ITER};

fn strtab_lookup(c: &mut Criterion) {
    let mem = HostMem::new(32 << 20);
    for (layout, name) in [(Layout::Linear, "linear"), (Layout::TwoLevel, "2level")] {
        // Builds the table and checks that subject and baseline read the same STEs.
        let fx = LookupFixture::new(&mem, layout);
        for pattern in [Pattern::Sequential, Pattern::Random] {
            let mut g = c.benchmark_group(format!("strtab_lookup/{name}/{}", pattern.name()));
            g.throughput(Throughput::Elements(SIDS_PER_ITER as u64));
            g.bench_function("baseline", |b| b.iter(|| fx.baseline(black_box(pattern))));
            g.bench_function("subject", |b| b.iter(|| fx.subject(black_box(pattern))));
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = strtab_lookup
}
criterion_main!(benches);
