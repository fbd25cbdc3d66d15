//! cargo-fuzz target: arbitrary STRTAB_BASE / STRTAB_BASE_CFG values, capabilities, policy
//! and memory contents go through `StreamTable::adopt`, then `ensure_sid`, lookups and the
//! scan on arbitrary StreamIDs. The test memory (shared with the integration tests) panics
//! on any cache-maintenance or release call outside a live region; the run also checks that
//! dropping the table releases every region. Run with `cargo +nightly fuzz run adopt`.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{RAM_BASE, TestMem};
use libfuzzer_sys::fuzz_target;
use smmu_regs::StreamId;
use smmu_strtab::{AdoptPolicy, Coherency, DefaultSte, StreamTable, StreamTableCaps, Strictness};

#[derive(Debug, Arbitrary)]
struct Input {
    sid_bits: u8,
    two_level: bool,
    /// `Some(offset)`: base inside the RAM; `None`: `raw_base`.
    base_offset: Option<u16>,
    raw_base: u64,
    cfg: u32,
    linux: bool,
    max_l1: u32,
    coherent: bool,
    bypass: bool,
    sids: Vec<u32>,
    /// RAM contents (at most 64 KB are used).
    ram: Vec<u64>,
}

fuzz_target!(|inp: Input| {
    let mem = TestMem::new(inp.coherent);
    let words: Vec<u64> = inp.ram.iter().copied().take(8192).collect();
    let ram = mem.add_ram(words.len().max(1) * 8, 1 << 16);
    assert_eq!(ram, RAM_BASE);
    mem.poke_words(ram, &words);
    let base = match inp.base_offset {
        Some(off) => RAM_BASE + u64::from(off) * 8,
        None => inp.raw_base,
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
        for &sid in inp.sids.iter().take(64) {
            let _ = t.ensure_sid(StreamId(sid));
            if let Ok(slot) = t.ste(StreamId(sid)) {
                let _ = slot.read().expect("in-bounds slot");
            }
        }
        let mut n = 0u32;
        let _ = t.for_each_valid_ste(|_, _| {
            n += 1;
            if n > 4096 { Err(()) } else { Ok(()) }
        });
    }
    assert_eq!(mem.live(), (0, 0), "regions left behind");
});
