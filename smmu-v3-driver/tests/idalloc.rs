//! ASID / VMID allocator tests: 0 is never handed out, reserved identifiers are never
//! handed out, exhaustion, adoption reservations and their rollback (kdump.md §6), and a
//! random sequence against a set model.

use std::collections::BTreeSet;

use proptest::prelude::*;
use smmu_v3_driver::idalloc::{IdAllocator, IdError, Reservation};

#[test]
fn widths() {
    for bits in [0u8, 17, 32] {
        assert_eq!(IdAllocator::new(bits), Err(IdError::InvalidWidth { bits }));
    }
    for (bits, cap) in [(1u8, 1u32), (3, 7), (8, 255), (16, 65535)] {
        let a = IdAllocator::new(bits).unwrap();
        assert_eq!((a.bits(), a.capacity(), a.allocated()), (bits, cap, 0));
        assert!(a.is_allocated(0));
        assert!(!a.is_allocated(1));
        assert!(!a.is_allocated(1 << bits));
    }
}

fn exhaust(bits: u8) {
    let mut a = IdAllocator::new(bits).unwrap();
    let mut seen = BTreeSet::new();
    while let Some(id) = a.alloc() {
        assert_ne!(id, 0);
        assert!(u32::from(id) < 1 << bits);
        assert!(seen.insert(id), "{id} handed out twice");
    }
    assert_eq!(seen.len() as u32, (1 << bits) - 1);
    assert_eq!(a.allocated(), (1 << bits) - 1);
    assert_eq!(a.alloc(), None);
    // Free one in the middle: it is the only one left.
    a.free(77.min((1 << bits) - 1) as u16).unwrap();
    assert_eq!(a.alloc(), Some(77.min((1 << bits) - 1) as u16));
    assert_eq!(a.alloc(), None);
}

#[test]
fn eight_bit_ids_exhaust_after_255() {
    exhaust(8);
}

#[test]
fn sixteen_bit_ids_exhaust_after_65535() {
    if cfg!(miri) {
        exhaust(10);
    } else {
        exhaust(16);
    }
}

#[test]
fn small_widths() {
    let mut a = IdAllocator::new(1).unwrap();
    assert_eq!(a.alloc(), Some(1));
    assert_eq!(a.alloc(), None);
    let mut a = IdAllocator::new(3).unwrap();
    let ids: Vec<u16> = std::iter::from_fn(|| a.alloc()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn next_fit_does_not_reuse_a_freed_id_at_once() {
    let mut a = IdAllocator::new(8).unwrap();
    assert_eq!(
        (a.alloc(), a.alloc(), a.alloc()),
        (Some(1), Some(2), Some(3))
    );
    a.free(2).unwrap();
    assert_eq!(a.alloc(), Some(4));
    // ... until the search wraps.
    for id in 5..=255 {
        assert_eq!(a.alloc(), Some(id));
    }
    assert_eq!(a.alloc(), Some(2));
    assert_eq!(a.alloc(), None);
}

#[test]
fn free_errors_change_nothing() {
    let mut a = IdAllocator::new(8).unwrap();
    let id = a.alloc().unwrap();
    let before = a.clone();
    assert_eq!(a.free(0), Err(IdError::Zero));
    assert_eq!(a.free(id + 1), Err(IdError::NotAllocated(id + 1)));
    assert_eq!(a.free(256), Err(IdError::OutOfRange { id: 256, bits: 8 }));
    assert_eq!(a, before);
    a.free(id).unwrap();
    assert_eq!(a.free(id), Err(IdError::NotAllocated(id)));
    assert_eq!(a.allocated(), 0);
}

#[test]
fn reserved_ids_are_never_handed_out() {
    let mut a = IdAllocator::new(8).unwrap();
    for id in [1u32, 2, 100, 255] {
        assert_eq!(a.reserve(id), Ok(Reservation::New));
        assert!(a.is_allocated(id) && a.is_reserved_by_adoption(id));
    }
    // Already reserved (two adopted STEs with the same VMID) is fine.
    assert_eq!(a.reserve(100), Ok(Reservation::AlreadyReserved));
    // 0 and out of range are errors (kdump.md §6: non-zero and < 2^bits).
    assert_eq!(a.reserve(0), Err(IdError::Zero));
    assert_eq!(
        a.reserve(256),
        Err(IdError::OutOfRange { id: 256, bits: 8 })
    );
    assert_eq!(
        a.reserve(0x1_0000),
        Err(IdError::OutOfRange {
            id: 0x1_0000,
            bits: 8
        })
    );
    let handed: Vec<u16> = std::iter::from_fn(|| a.alloc()).collect();
    assert_eq!(handed.len(), 255 - 4);
    for id in handed {
        assert!(![0, 1, 2, 100, 255].contains(&id));
    }
}

#[test]
fn rollback_frees_exactly_the_new_reservations() {
    let mut a = IdAllocator::new(16).unwrap();
    let mine = a.alloc().unwrap(); // a domain that exists before the scan
    assert_eq!(mine, 1);
    assert_eq!(a.reserve(u32::from(mine)), Ok(Reservation::AlreadyReserved));
    assert_eq!(a.reserve(0x1234), Ok(Reservation::New));
    assert_eq!(a.reserve(0xffff), Ok(Reservation::New));
    assert_eq!(a.reserve(0x1234), Ok(Reservation::AlreadyReserved));
    assert_eq!(a.allocated(), 3);
    assert_eq!(a.rollback_reservations(), 2);
    assert_eq!(a.allocated(), 1);
    assert!(a.is_allocated(u32::from(mine)));
    assert!(!a.is_allocated(0x1234) && !a.is_allocated(0xffff));
    assert!(!a.is_reserved_by_adoption(0x1234));
    // A second scan that succeeds: committed reservations survive a later rollback.
    assert_eq!(a.reserve(0x42), Ok(Reservation::New));
    a.commit_reservations();
    assert!(!a.is_reserved_by_adoption(0x42));
    assert_eq!(a.reserve(0x43), Ok(Reservation::New));
    assert_eq!(a.rollback_reservations(), 1);
    assert!(a.is_allocated(0x42) && !a.is_allocated(0x43));
    // A reservation can be freed when its adopted users are gone.
    a.free(0x42).unwrap();
    assert_eq!(a.rollback_reservations(), 0);
    assert_eq!(a.allocated(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Alloc,
    Free(u16),
    Reserve(u32),
    Rollback,
    Commit,
}

fn op(bits: u8) -> impl Strategy<Value = Op> {
    let max = 1u32 << bits;
    prop_oneof![
        4 => Just(Op::Alloc),
        2 => (0..max as u16).prop_map(Op::Free),
        2 => (0..max + 2).prop_map(Op::Reserve),
        1 => Just(Op::Rollback),
        1 => Just(Op::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn agrees_with_a_set_model(ops in prop::collection::vec(op(4), 1..if cfg!(miri) { 40 } else { 200 })) {
        let mut a = IdAllocator::new(4).unwrap();
        let mut used = BTreeSet::new();
        let mut adopted = BTreeSet::new();
        for op in ops {
            match op {
                Op::Alloc => match a.alloc() {
                    Some(id) => {
                        prop_assert!(id != 0 && id < 16);
                        prop_assert!(used.insert(u32::from(id)), "{} was in use", id);
                    }
                    None => prop_assert_eq!(used.len(), 15),
                },
                Op::Free(id) => {
                    let expect = if id == 0 {
                        Err(IdError::Zero)
                    } else if used.remove(&u32::from(id)) {
                        adopted.remove(&u32::from(id));
                        Ok(())
                    } else {
                        Err(IdError::NotAllocated(id))
                    };
                    prop_assert_eq!(a.free(id), expect);
                }
                Op::Reserve(id) => {
                    let expect = if id == 0 {
                        Err(IdError::Zero)
                    } else if id >= 16 {
                        Err(IdError::OutOfRange { id, bits: 4 })
                    } else if used.insert(id) {
                        adopted.insert(id);
                        Ok(Reservation::New)
                    } else {
                        Ok(Reservation::AlreadyReserved)
                    };
                    prop_assert_eq!(a.reserve(id), expect);
                }
                Op::Rollback => {
                    prop_assert_eq!(a.rollback_reservations(), adopted.len() as u32);
                    for id in std::mem::take(&mut adopted) {
                        used.remove(&id);
                    }
                }
                Op::Commit => {
                    a.commit_reservations();
                    adopted.clear();
                }
            }
            prop_assert_eq!(a.allocated(), used.len() as u32);
            for id in 1..16u32 {
                prop_assert_eq!(a.is_allocated(id), used.contains(&id));
                prop_assert_eq!(a.is_reserved_by_adoption(id), adopted.contains(&id));
            }
        }
    }
}
