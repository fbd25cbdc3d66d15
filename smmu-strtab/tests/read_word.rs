//! `EntrySlot::read_word`: one word of an STE through the normal lookup, on new and on
//! adopted tables, coherent and not. The previous kernel's table is built by hand in the
//! test memory (`TestMem::add_ram` and `poke`), not with this crate; expected words are
//! the hand-written ones (smmuv3.md §2.1).

mod common;

use common::{Event, POISON, TestMem};
use smmu_regs::StreamId;
use smmu_strtab::{
    AccessError, AdoptPolicy, Coherency, Ensured, StreamTable, StreamTableCaps, TablePolicy,
    WriteStep,
};

const RA: u64 = 1 << 62;

/// A stage-2 STE (V = 1, Config = S2_TRANS 0b110; S2VMID, S2T0SZ = 25, S2AA64, S2TTB)
/// with a recognisable VMID.
fn s2_ste(vmid: u64) -> [u64; 8] {
    [
        0xd,
        0,
        vmid | (25 << 32) | (1 << 51),
        0x0002_0000_1000,
        0,
        0,
        0,
        0,
    ]
}

fn caps() -> StreamTableCaps {
    StreamTableCaps {
        sid_bits: 16,
        two_level: true,
        attr_types_ovr: true,
    }
}

/// A previous kernel's 2-level table (SPLIT 8, LOG2SIZE 11: 8 L1 descriptors) with one
/// L2 table (Span 9) at L1 index 1, whose STE `i` is `s2_ste(0x100 + i)`. Returns
/// (STRTAB_BASE, STRTAB_BASE_CFG, L2 address).
fn previous_kernel(mem: &TestMem) -> (u64, u32, u64) {
    let l1 = mem.add_ram(8 * 8, 64);
    let l2 = mem.add_ram(16384, 16384);
    let words: Vec<u64> = (0..256).flat_map(|i| s2_ste(0x100 + i)).collect();
    mem.poke_words(l2, &words);
    mem.poke(l1 + 8, l2 | 9);
    (l1 | RA, (1 << 16) | (8 << 6) | 11, l2)
}

#[test]
fn read_word_on_an_adopted_non_coherent_table_sees_the_invalidated_entry() {
    let mem = TestMem::new(false);
    let (base, cfg, l2) = previous_kernel(&mem);
    let policy = AdoptPolicy {
        coherency: Coherency::NonCoherent,
        ..AdoptPolicy::default()
    };
    let mut table = StreamTable::adopt(&mem, caps(), base, cfg, &policy).unwrap();
    mem.clear_events();
    // SID 0x123: L1 index 1, L2 index 0x23. Lazy adoption maps and invalidates the L2
    // before anything of it is read.
    assert_eq!(table.ensure_sid(StreamId(0x123)), Ok(Ensured::AdoptedL2));
    let ev = mem.events();
    let map = ev
        .iter()
        .position(|e| *e == Event::Map { pa: l2, len: 16384 })
        .expect("L2 mapped");
    assert_eq!(
        ev.get(map + 1),
        Some(&Event::Invalidate { pa: l2, len: 16384 })
    );

    mem.clear_events();
    let slot = table.ste(StreamId(0x123)).unwrap();
    let expected = s2_ste(0x123);
    for (w, &word) in expected.iter().enumerate() {
        assert_eq!(slot.read_word(w), Ok(word), "word {w}");
        assert_ne!(slot.read_word(w), Ok(POISON), "stale line read");
    }
    assert_eq!(slot.read_word(8), Err(AccessError { index: 8, len: 64 }));
    // Like `read`: no cache maintenance per read (the mapping was invalidated once).
    assert_eq!(mem.events(), []);
    assert_eq!(slot.read(), Ok(expected));
    assert_eq!(mem.events(), []);
}

#[test]
fn read_word_sees_the_cpus_own_writes_and_matches_the_device_view() {
    for coherent in [true, false] {
        let mem = TestMem::new(coherent);
        let policy = TablePolicy {
            coherency: if coherent {
                Coherency::Coherent
            } else {
                Coherency::NonCoherent
            },
            ..TablePolicy::default()
        };
        let mut table = StreamTable::new(&mem, caps(), &policy).unwrap();
        let sid = StreamId(0x4321);
        table.ensure_sid(sid).unwrap();
        let slot = table.ste(sid).unwrap();
        // The default STE of a new table: abort (V = 1, Config = 0).
        assert_eq!(slot.read_word(0), Ok(1));
        let target = s2_ste(0x77);
        let mut hook = |_: WriteStep| Ok::<(), ()>(());
        slot.write(&target, &mut hook).unwrap();
        mem.clear_events();
        let words: Vec<u64> = (0..8).map(|w| slot.read_word(w).unwrap()).collect();
        assert_eq!(words, target);
        assert_eq!(mem.events(), [], "coherent = {coherent}");
        // The SMMU reads the same words (cleaned after each write step when
        // non-coherent).
        assert_eq!(mem.peek_entry(slot.pa().0), target);
    }
}
