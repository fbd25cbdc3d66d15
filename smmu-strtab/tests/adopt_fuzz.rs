//! Bounded, in-CI version of the `fuzz/fuzz_targets/adopt.rs` target: arbitrary register
//! values and memory contents go through `adopt`, `ensure_sid`, lookups and the scan.
//! Nothing may panic, every cache-maintenance call must stay inside a live region (the test
//! memory panics otherwise), and dropping the table must release everything.

mod common;

use common::{RAM_BASE, TestMem};
use proptest::prelude::*;
use smmu_regs::StreamId;
use smmu_strtab::{AdoptPolicy, Coherency, DefaultSte, StreamTable, StreamTableCaps, Strictness};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words of fake RAM filled by the test (64 KB natively, 4 KB under Miri).
const RAM_WORDS: u64 = if cfg!(miri) { 512 } else { 8192 };

#[derive(Debug, Clone)]
struct Input {
    sid_bits: u8,
    two_level: bool,
    base_sel: (bool, u64),
    cfg: u32,
    linux: bool,
    max_l1: u32,
    coherent: bool,
    bypass: bool,
    seed: u64,
    desc_bias: u8,
    sids: Vec<u32>,
}

fn input() -> impl Strategy<Value = Input> {
    // Mostly plausible register values (so that adoption often succeeds and the lazy path
    // runs), sometimes anything at all.
    let cfg = prop_oneof![
        1 => any::<u32>(),
        4 => (prop_oneof![4 => 0u32..2, 1 => 0u32..4], prop_oneof![3 => prop::sample::select(vec![6u32, 8, 10]), 1 => 0u32..32], 0u32..4)
            .prop_map(|(f, s, extra)| (f << 16) | (s << 6) | if f == 1 { s + extra } else { 2 + 2 * extra }),
    ];
    let base = prop_oneof![
        1 => (Just(false), any::<u64>()),
        1 => (Just(true), 0u64..RAM_WORDS).prop_map(|(t, o)| (t, o * 8)),
        4 => (Just(true), 0u64..RAM_WORDS / 512).prop_map(|(t, o)| (t, o * 4096)),
    ];
    (
        (
            prop_oneof![1 => 0u8..40, 4 => 10u8..=16],
            prop::bool::weighted(0.9),
            base,
        ),
        (
            cfg,
            any::<bool>(),
            prop_oneof![4 => Just(1u32 << 17), 1 => 0u32..64],
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            prop_oneof![1 => any::<u8>(), 2 => 200u8..=255],
        ),
        prop::collection::vec(any::<u32>(), 0..8),
    )
        .prop_map(
            |(
                (sid_bits, two_level, base_sel),
                (cfg, linux, max_l1),
                (coherent, bypass, seed, desc_bias),
                sids,
            )| Input {
                sid_bits,
                two_level,
                base_sel,
                cfg,
                linux,
                max_l1,
                coherent,
                bypass,
                seed,
                desc_bias,
                sids,
            },
        )
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs one input; shared with the cargo-fuzz target.
fn run(inp: &Input) {
    let mem = TestMem::new(inp.coherent);
    let ram = mem.add_ram((RAM_WORDS * 8) as usize, 1 << 16);
    assert_eq!(ram, RAM_BASE);
    let mut x = inp.seed | 1;
    let mut words = Vec::with_capacity(RAM_WORDS as usize);
    for _ in 0..RAM_WORDS {
        let r = xorshift(&mut x);
        // Often make words look like L1 descriptors (Span 0, or a Span with an aligned
        // pointer into the RAM), otherwise leave them random.
        let v = match r & 0xff {
            b if b < u64::from(inp.desc_bias) / 2 => 0,
            b if b < u64::from(inp.desc_bias) => {
                let span = [7, 9, 11, 1 + (r >> 12) % 11][((r >> 8) % 4) as usize];
                let size = 64u64 << (span - 1);
                let off = ((r >> 16) % (RAM_WORDS * 8)) & !(size - 1);
                (RAM_BASE + off) | span
            }
            _ => r,
        };
        words.push(v);
    }
    mem.poke_words(ram, &words);
    let base = if inp.base_sel.0 {
        RAM_BASE + inp.base_sel.1 % (RAM_WORDS * 8)
    } else {
        inp.base_sel.1
    };
    let policy = AdoptPolicy {
        strictness: if inp.linux {
            Strictness::Linux
        } else {
            Strictness::Spec
        },
        max_l1: inp.max_l1,
        coherency: if inp.coherent {
            Coherency::Coherent
        } else {
            Coherency::NonCoherent
        },
        default_ste: if inp.bypass {
            DefaultSte::Bypass
        } else {
            DefaultSte::Abort
        },
    };
    let caps = StreamTableCaps {
        sid_bits: inp.sid_bits,
        two_level: inp.two_level,
        attr_types_ovr: true,
    };
    if let Ok(mut t) = StreamTable::adopt(&mem, caps, base, inp.cfg, &policy) {
        let num = t.geometry().num_sids();
        for &raw in &inp.sids {
            // Half the SIDs inside the table.
            let sid = if raw & 1 == 0 {
                (u64::from(raw) % num) as u32
            } else {
                raw
            };
            let _ = t.ensure_sid(StreamId(sid));
            if let Ok(slot) = t.ste(StreamId(sid)) {
                let _ = slot.read().unwrap();
            }
        }
        let mut n = 0u32;
        let _ = t.for_each_valid_ste(|_, _| {
            n += 1;
            if n > 4096 { Err(()) } else { Ok(()) }
        });
    }
    assert_eq!(
        mem.live(),
        (0, 0),
        "adoption (or the dropped table) left regions behind"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn adoption_never_panics_and_never_leaks(inp in input()) {
        run(&inp);
    }
}
