//! `probe_scaling`: per-device cost of `IommuCore::probe_device` (driver probe, group,
//! deferral check, DMA default domain allocation and attach) through `smmu-v3-driver` on
//! `smmu-model`, in a system of 4096 devices (subject `n4096`) against one of 256 devices
//! (the baseline), in the same run. One criterion iteration is one device's probe.
//!
//! * `probe_scaling/fill`: probes devices 0..n into a fresh system; the time of the
//!   whole fill divided by n. Each fill builds a new testbed, driver and core outside the
//!   timed section; `iter_custom` runs whole fills (at least one) and scales their time to
//!   the requested iteration count. Every 16th probe creates an L2 table (`sid(i)`).
//! * `probe_scaling/fill_prefaulted`: the same, but before the timed section the model
//!   RAM that 4096 probes use (65 MiB) is made resident (`ProbeSystem::prefault`), for
//!   both sizes: no first-touch page faults, and the same memory footprint, so the two
//!   sizes differ only in the number of devices.
//! * `probe_scaling/marginal`: in a system already holding n devices, probes one more
//!   device (its L2 table exists); its release (group and default domain freed) is
//!   outside the timed section.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use smmu_benches::probe::{MAX_DEVICES, ProbeSystem};

/// The baseline system size.
const SMALL: u32 = 256;

/// Runs whole fills of `n` devices until at least `iters` probes are timed, and returns
/// the timed sum scaled to `iters` probes. With `prefault`, each fill goes into model RAM
/// made resident first, as much as [`MAX_DEVICES`] probes use.
fn fills(iters: u64, n: u32, prefault: bool) -> Duration {
    let mut probes = 0u64;
    let mut total = Duration::ZERO;
    while probes < iters {
        let mut sys = ProbeSystem::new();
        if prefault {
            sys.prefault(MAX_DEVICES);
        }
        let start = Instant::now();
        sys.fill(black_box(n));
        total += start.elapsed();
        probes += u64::from(n);
        // Teardown (drop of the system) is untimed.
        drop(black_box(sys));
    }
    Duration::from_secs_f64(total.as_secs_f64() * iters as f64 / probes as f64)
}

/// Times `iters` probes of one extra device in a system of `n` devices.
fn marginal(sys: &mut ProbeSystem, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        sys.probe_extra();
        total += start.elapsed();
        sys.release_extra();
    }
    total
}

fn probe_scaling(c: &mut Criterion) {
    let sizes = [("baseline", SMALL), ("n4096", MAX_DEVICES)];
    for (group, prefault) in [("fill", false), ("fill_prefaulted", true)] {
        let mut g = c.benchmark_group(format!("probe_scaling/{group}"));
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
        for (name, n) in sizes {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| fills(iters, n, prefault));
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("probe_scaling/marginal");
        g.sampling_mode(SamplingMode::Flat);
        for (name, n) in sizes {
            let mut sys = ProbeSystem::new();
            sys.fill(n);
            g.bench_function(name, |b| b.iter_custom(|iters| marginal(&mut sys, iters)));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = smmu_benches::config();
    targets = probe_scaling
}
criterion_main!(benches);
