//! `is_attach_deferred`: the driver's kdump deferral check (kdump.md §10) for a device
//! with 1 and with 8 StreamIDs on an adopted 2-level stream table, against one
//! stream-table lookup and one dw0 load per StreamID (the baseline), in the same run.
//!
//! One criterion iteration is one call for one device. The 8-StreamID device is decided by
//! its last StreamID, so every subject examines all eight (the check's worst case). See
//! `smmu_benches::deferred` for the setup (kernel 1, crash, adopting kdump driver) and
//! the subjects (`driver`, `core`, `lookup_read8`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use smmu_benches::deferred::{DeferredFixture, Device};

fn is_attach_deferred(c: &mut Criterion) {
    // Runs the handover and checks every subject and the baseline answer `true`.
    let fx = DeferredFixture::new();
    for dev in [Device::One, Device::Eight] {
        let mut g = c.benchmark_group(format!("is_attach_deferred/{}", dev.name()));
        g.bench_function("baseline", |b| b.iter(|| fx.baseline(black_box(dev))));
        g.bench_function("driver", |b| b.iter(|| fx.driver(black_box(dev))));
        g.bench_function("lookup_read8", |b| {
            b.iter(|| fx.lookup_read8(black_box(dev)));
        });
        g.bench_function("core", |b| b.iter(|| fx.core(black_box(dev))));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = is_attach_deferred
}
criterion_main!(benches);
