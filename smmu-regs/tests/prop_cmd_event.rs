//! Property tests for the command, event and PRI codecs, and for TLBI range splitting.
//!
//! Properties checked (for every generated input):
//! * **typed round trip**: for a valid typed value `x` (every field within its width,
//!   addresses aligned), `encode(x)` succeeds and `decode(encode(x)) == x`.
//! * **raw words**: for any words `w`, `decode(w)` does not panic, and
//!   `encode(decode(w)) == Ok(w & field_mask(id))` — every bit that belongs to a field
//!   of that opcode / event ID survives, and the RES0 bits (exactly
//!   `reserved_bits(w) == w & !field_mask(id)`) are dropped. In particular
//!   `encode(decode(w)) == w` whenever no RES0 bit is set, and always for unknown
//!   opcodes / IDs (kept verbatim). `decode_non_secure` never panics and agrees with
//!   `decode` when it accepts.
//! * **bad values**: any SubstreamID ≥ 2^20 and any TLBI address with a bit below 4 KB
//!   give the exact typed error.
//! * **range splitting**: chunks are contiguous, cover exactly the granule-rounded span,
//!   never use the Reserved encoding nor a SCALE above the limit; and (exhaustively for
//!   small spans) the number of commands is the minimum possible.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use smmu_regs::Error;
use smmu_regs::cmd::{
    Command, CompletionSignal, Opcode, PriResponse, TlbiGranule, TlbiRange, TtlHint,
};
use smmu_regs::event::{Event, EventId, FaultClass, TranslationFault, TranslationFaultKind};
use smmu_regs::ids::Ipa;
use smmu_regs::pri::PriEntry;
use smmu_regs::{Asid, Iova, PhysAddr, Shareability, StreamId, SubstreamId, Vmid};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 1024 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn sid() -> impl Strategy<Value = StreamId> {
    any::<u32>().prop_map(StreamId)
}
fn ssid() -> impl Strategy<Value = SubstreamId> {
    (0u32..=0xF_FFFF).prop_map(SubstreamId)
}
fn vmid() -> impl Strategy<Value = Vmid> {
    any::<u16>().prop_map(Vmid)
}
fn asid() -> impl Strategy<Value = Asid> {
    any::<u16>().prop_map(Asid)
}
fn va() -> impl Strategy<Value = Iova> {
    any::<u64>().prop_map(|a| Iova(a & !0xFFF))
}
fn ipa() -> impl Strategy<Value = Ipa> {
    any::<u64>().prop_map(|a| Ipa(a & 0x00FF_FFFF_FFFF_F000))
}
fn fetch() -> impl Strategy<Value = PhysAddr> {
    any::<u64>().prop_map(|a| PhysAddr(a & 0x00FF_FFFF_FFFF_FFF8))
}
fn two_bits() -> impl Strategy<Value = u8> {
    0u8..4
}
fn range() -> impl Strategy<Value = TlbiRange> {
    (0u8..=31, 0u8..=63, two_bits(), any::<bool>(), two_bits()).prop_map(
        |(num, scale, ttl, ttl128, tg)| TlbiRange {
            num,
            scale,
            ttl: TtlHint::from_raw(ttl),
            ttl128,
            tg: TlbiGranule::from_raw(tg),
        },
    )
}
fn shareability() -> impl Strategy<Value = Shareability> {
    prop_oneof![
        Just(Shareability::NonShareable),
        Just(Shareability::Reserved),
        Just(Shareability::Outer),
        Just(Shareability::Inner),
    ]
}
fn untyped_opcode() -> impl Strategy<Value = Opcode> {
    any::<u8>()
        .prop_filter("untyped", |o| !Opcode(*o).is_typed())
        .prop_map(Opcode)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (any::<bool>(), sid(), any::<bool>(), ssid()).prop_map(|(ssec, sid, ssv, ssid)| {
            Command::PrefetchConfig {
                ssec,
                sid,
                ssv,
                ssid,
            }
        }),
        (
            (any::<bool>(), sid(), any::<bool>(), ssid()),
            (va(), 0u8..=31, 0u8..=0x7F)
        )
            .prop_map(|((ssec, sid, ssv, ssid), (addr, size, raw))| {
                Command::PrefetchAddr {
                    ssec,
                    sid,
                    ssv,
                    ssid,
                    addr,
                    size,
                    stride_ns_raw: raw,
                }
            }),
        (any::<bool>(), sid(), any::<bool>()).prop_map(|(ssec, sid, leaf)| Command::CfgiSte {
            ssec,
            sid,
            leaf
        }),
        (any::<bool>(), sid(), 0u8..=31).prop_map(|(ssec, sid, range)| Command::CfgiSteRange {
            ssec,
            sid,
            range
        }),
        (any::<bool>(), sid(), ssid(), any::<bool>()).prop_map(|(ssec, sid, ssid, leaf)| {
            Command::CfgiCd {
                ssec,
                sid,
                ssid,
                leaf,
            }
        }),
        (any::<bool>(), sid()).prop_map(|(ssec, sid)| Command::CfgiCdAll { ssec, sid }),
        (any::<bool>(), vmid()).prop_map(|(ssec, vmid)| Command::CfgiVmsPidm { ssec, vmid }),
        vmid().prop_map(|vmid| Command::TlbiNhAll { vmid }),
        (vmid(), asid()).prop_map(|(vmid, asid)| Command::TlbiNhAsid { vmid, asid }),
        (vmid(), asid(), va(), any::<bool>(), range()).prop_map(
            |(vmid, asid, addr, leaf, range)| Command::TlbiNhVa {
                vmid,
                asid,
                addr,
                leaf,
                range,
            }
        ),
        (vmid(), va(), any::<bool>(), range()).prop_map(|(vmid, addr, leaf, range)| {
            Command::TlbiNhVaa {
                vmid,
                addr,
                leaf,
                range,
            }
        }),
        Just(Command::TlbiEl3All),
        (va(), any::<bool>(), range()).prop_map(|(addr, leaf, range)| Command::TlbiEl3Va {
            addr,
            leaf,
            range
        }),
        Just(Command::TlbiEl2All),
        asid().prop_map(|asid| Command::TlbiEl2Asid { asid }),
        (asid(), va(), any::<bool>(), range()).prop_map(|(asid, addr, leaf, range)| {
            Command::TlbiEl2Va {
                asid,
                addr,
                leaf,
                range,
            }
        }),
        (va(), any::<bool>(), range()).prop_map(|(addr, leaf, range)| Command::TlbiEl2Vaa {
            addr,
            leaf,
            range
        }),
        vmid().prop_map(|vmid| Command::TlbiS12Vmall { vmid }),
        (vmid(), ipa(), any::<bool>(), range()).prop_map(|(vmid, ipa, leaf, range)| {
            Command::TlbiS2Ipa {
                vmid,
                ipa,
                leaf,
                range,
            }
        }),
        Just(Command::TlbiNsnhAll),
        (sid(), any::<bool>(), ssid(), any::<bool>(), va(), 0u8..=63).prop_map(
            |(sid, ssv, ssid, global, addr, size)| Command::AtcInv {
                sid,
                ssv,
                ssid,
                global,
                addr,
                size,
            }
        ),
        (sid(), any::<bool>(), ssid(), 0u16..=0x1FF, two_bits()).prop_map(
            |(sid, ssv, ssid, prg_index, resp)| Command::PriResp {
                sid,
                ssv,
                ssid,
                prg_index,
                resp: PriResponse::from_raw(resp),
            }
        ),
        (
            any::<bool>(),
            sid(),
            any::<bool>(),
            any::<bool>(),
            any::<u16>()
        )
            .prop_map(|(ssec, sid, ac, ab, stag)| Command::Resume {
                ssec,
                sid,
                ac,
                ab,
                stag,
            }),
        (any::<bool>(), sid()).prop_map(|(ssec, sid)| Command::StallTerm { ssec, sid }),
        (
            two_bits(),
            shareability(),
            0u8..=15,
            any::<u32>(),
            any::<u64>()
        )
            .prop_map(|(cs, msh, msi_attr, msi_data, addr)| Command::Sync {
                cs: CompletionSignal::from_raw(cs),
                msh,
                msi_attr,
                msi_data,
                msi_addr: PhysAddr(addr & 0x00FF_FFFF_FFFF_FFFC),
            }),
        (untyped_opcode(), any::<[u64; 2]>()).prop_map(|(opcode, mut words)| {
            words[0] = (words[0] & !0xFF) | u64::from(opcode.0);
            Command::Unknown { opcode, words }
        }),
    ]
}

fn header() -> impl Strategy<Value = (StreamId, bool, SubstreamId)> {
    (sid(), any::<bool>(), ssid())
}
fn attrs() -> impl Strategy<Value = (bool, bool, bool)> {
    (any::<bool>(), any::<bool>(), any::<bool>())
}
fn class() -> impl Strategy<Value = FaultClass> {
    two_bits().prop_map(FaultClass::from_raw)
}

fn translation_fault() -> impl Strategy<Value = TranslationFault> {
    (
        (0u8..4, header(), any::<bool>(), any::<u16>()),
        (attrs(), any::<bool>(), class(), any::<bool>()),
        (any::<u64>(), ipa()),
    )
        .prop_map(
            |(
                (kind, (sid, ssv, ssid), stall, stag),
                ((pnu, ind, rnw), s2, class, ttrnw),
                (input, ipa),
            )| TranslationFault {
                kind: TranslationFaultKind::from_id(EventId(0x10 + kind)).unwrap(),
                sid,
                ssv,
                ssid,
                stall,
                stag,
                pnu,
                ind,
                rnw,
                s2,
                class,
                ttrnw,
                input_addr: Iova(input),
                ipa,
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (header(), any::<u16>(), attrs(), any::<u64>()).prop_map(
            |((sid, ssv, ssid), reason, (pnu, ind, rnw), a)| Event::Uut {
                sid,
                ssv,
                ssid,
                reason,
                pnu,
                ind,
                rnw,
                input_addr: Iova(a),
            }
        ),
        header().prop_map(|(sid, ssv, ssid)| Event::BadStreamId { sid, ssv, ssid }),
        (header(), any::<u16>(), any::<bool>(), fetch()).prop_map(
            |((sid, ssv, ssid), reason, gpcf, fetch_addr)| Event::SteFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            }
        ),
        header().prop_map(|(sid, ssv, ssid)| Event::BadSte { sid, ssv, ssid }),
        (header(), any::<u64>(), any::<u64>()).prop_map(|((sid, ssv, ssid), raw, a)| {
            Event::BadAtsTreq {
                sid,
                ssv,
                ssid,
                raw_dw1: raw,
                input_addr: Iova(a),
            }
        }),
        sid().prop_map(|sid| Event::StreamDisabled { sid }),
        (sid(), any::<bool>(), any::<u64>()).prop_map(|(sid, rnw, a)| {
            Event::TranslForbidden {
                sid,
                rnw,
                input_addr: Iova(a),
            }
        }),
        (sid(), ssid()).prop_map(|(sid, ssid)| Event::BadSubstreamId { sid, ssid }),
        (header(), any::<u16>(), any::<bool>(), fetch()).prop_map(
            |((sid, ssv, ssid), reason, gpcf, fetch_addr)| Event::CdFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            }
        ),
        header().prop_map(|(sid, ssv, ssid)| Event::BadCd { sid, ssv, ssid }),
        (
            (header(), any::<u16>(), attrs()),
            (any::<bool>(), class(), any::<u64>(), fetch())
        )
            .prop_map(
                |(((sid, ssv, ssid), reason, (pnu, ind, rnw)), (s2, class, a, fetch_addr))| {
                    Event::WalkEabt {
                        sid,
                        ssv,
                        ssid,
                        reason,
                        pnu,
                        ind,
                        rnw,
                        s2,
                        class,
                        input_addr: Iova(a),
                        fetch_addr,
                    }
                }
            ),
        translation_fault().prop_map(Event::TranslationFault),
        (header(), attrs(), any::<bool>(), any::<u64>(), ipa()).prop_map(
            |((sid, ssv, ssid), (pnu, ind, rnw), s2, a, ipa)| Event::TlbConflict {
                sid,
                ssv,
                ssid,
                pnu,
                ind,
                rnw,
                s2,
                input_addr: Iova(a),
                ipa,
            }
        ),
        (header(), any::<u32>()).prop_map(|((sid, ssv, ssid), reason)| {
            Event::CfgConflict {
                sid,
                ssv,
                ssid,
                reason,
            }
        }),
        (header(), any::<u64>(), va()).prop_map(|((sid, ssv, ssid), raw, input_addr)| {
            Event::PageRequest {
                sid,
                ssv,
                ssid,
                raw_dw1: raw,
                input_addr,
            }
        }),
        (header(), any::<u16>(), any::<bool>(), fetch()).prop_map(
            |((sid, ssv, ssid), reason, gpcf, fetch_addr)| Event::VmsFetch {
                sid,
                ssv,
                ssid,
                reason,
                gpcf,
                fetch_addr,
            }
        ),
        (0xE0u8..=0xEF, any::<[u64; 4]>()).prop_map(|(id, mut words)| {
            words[0] = (words[0] & !0xFF) | u64::from(id);
            Event::Impdef {
                id: EventId(id),
                words,
            }
        }),
        any::<u8>()
            .prop_filter("reserved", |i| {
                !EventId(*i).is_architected() && !EventId(*i).is_impdef()
            })
            .prop_flat_map(|id| (Just(id), any::<[u64; 4]>()))
            .prop_map(|(id, mut words)| {
                words[0] = (words[0] & !0xFF) | u64::from(id);
                Event::Unknown {
                    id: EventId(id),
                    words,
                }
            }),
    ]
}

fn pri_entry() -> impl Strategy<Value = PriEntry> {
    (
        (sid(), ssid(), any::<bool>(), any::<bool>(), any::<bool>()),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u16..=0x1FF,
            va(),
        ),
    )
        .prop_map(
            |(
                (sid, ssid, ssid_valid, perm_priv, perm_exec),
                (perm_read, perm_write, last, prg_index, addr),
            )| {
                PriEntry {
                    sid,
                    ssid,
                    ssid_valid,
                    perm_priv,
                    perm_exec,
                    perm_read,
                    perm_write,
                    last,
                    prg_index,
                    addr,
                }
            },
        )
}

/// Raw command words whose opcode is a typed one half of the time.
fn raw_command() -> impl Strategy<Value = [u64; 2]> {
    let typed: Vec<u8> = (0..=255u8).filter(|o| Opcode(*o).is_typed()).collect();
    (
        prop_oneof![any::<u8>(), prop::sample::select(typed)],
        any::<[u64; 2]>(),
    )
        .prop_map(|(op, mut w)| {
            w[0] = (w[0] & !0xFF) | u64::from(op);
            w
        })
}

/// Raw event words whose ID is an architected one half of the time.
fn raw_event() -> impl Strategy<Value = [u64; 4]> {
    let named: Vec<u8> = (0..=255u8)
        .filter(|i| EventId(*i).is_architected())
        .collect();
    (
        prop_oneof![any::<u8>(), prop::sample::select(named)],
        any::<[u64; 4]>(),
    )
        .prop_map(|(id, mut w)| {
            w[0] = (w[0] & !0xFF) | u64::from(id);
            w
        })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn command_typed_round_trip(c in command()) {
        let w = c.encode();
        prop_assert!(w.is_ok(), "{c:?}: {w:?}");
        let w = w.unwrap();
        prop_assert_eq!(Command::decode(w), c);
        prop_assert_eq!(Command::reserved_bits(w), [0, 0]);
        prop_assert_eq!(c.opcode(), Opcode(w[0] as u8));
    }

    #[test]
    fn command_raw_words(w in raw_command()) {
        let c = Command::decode(w);
        let m = Opcode(w[0] as u8).field_mask();
        prop_assert_eq!(c.encode(), Ok([w[0] & m[0], w[1] & m[1]]));
        prop_assert_eq!(Command::reserved_bits(w), [w[0] & !m[0], w[1] & !m[1]]);
        if Command::reserved_bits(w) == [0, 0] {
            prop_assert_eq!(c.encode(), Ok(w));
        }
        prop_assert_eq!(Command::decode(c.encode().unwrap()), c);
        for strict in [false, true] {
            if let Ok(ns) = Command::decode_non_secure(w, strict) {
                prop_assert_eq!(ns, c);
                prop_assert!(!ns.ssec());
            }
        }
    }

    #[test]
    fn event_typed_round_trip(e in event()) {
        let w = e.encode();
        prop_assert!(w.is_ok(), "{e:?}: {w:?}");
        let w = w.unwrap();
        prop_assert_eq!(Event::decode(w), e);
        prop_assert_eq!(Event::reserved_bits(w), [0; 4]);
        prop_assert_eq!(e.id(), EventId(w[0] as u8));
    }

    #[test]
    fn event_raw_words(w in raw_event()) {
        let e = Event::decode(w);
        let m = EventId(w[0] as u8).field_mask();
        let masked = [w[0] & m[0], w[1] & m[1], w[2] & m[2], w[3] & m[3]];
        prop_assert_eq!(e.encode(), Ok(masked));
        prop_assert_eq!(
            Event::reserved_bits(w),
            [w[0] & !m[0], w[1] & !m[1], w[2] & !m[2], w[3] & !m[3]]
        );
        if Event::reserved_bits(w) == [0; 4] {
            prop_assert_eq!(e.encode(), Ok(w));
        }
        prop_assert_eq!(Event::decode(masked), e);
        // Accessors are total too.
        let _ = (e.stream_id(), e.substream(), e.stall_tag());
    }

    #[test]
    fn pri_typed_round_trip(p in pri_entry()) {
        let w = p.encode();
        prop_assert!(w.is_ok());
        let w = w.unwrap();
        prop_assert_eq!(PriEntry::decode(w), p);
        prop_assert_eq!(PriEntry::reserved_bits(w), [0, 0]);
    }

    #[test]
    fn pri_raw_words(w in any::<[u64; 2]>()) {
        let p = PriEntry::decode(w);
        let m = PriEntry::FIELD_MASK;
        prop_assert_eq!(p.encode(), Ok([w[0] & m[0], w[1] & m[1]]));
        prop_assert_eq!(PriEntry::reserved_bits(w), [w[0] & !m[0], w[1] & !m[1]]);
    }

    #[test]
    fn bad_substream_id_is_reported(s in 0x10_0000u32..) {
        let c = Command::CfgiCd { ssec: false, sid: StreamId(0), ssid: SubstreamId(s), leaf: false };
        prop_assert_eq!(
            c.encode(),
            Err(Error::FieldOverflow { field: "SubstreamID", value: u64::from(s), bits: 20 })
        );
        let e = Event::BadCd { sid: StreamId(0), ssv: true, ssid: SubstreamId(s) };
        prop_assert_eq!(
            e.encode(),
            Err(Error::FieldOverflow { field: "SubstreamID", value: u64::from(s), bits: 20 })
        );
    }

    #[test]
    fn misaligned_tlbi_address_is_reported(a in any::<u64>().prop_filter("low bits", |a| a & 0xFFF != 0)) {
        let c = Command::TlbiNhVa {
            vmid: Vmid(0),
            asid: Asid(0),
            addr: Iova(a),
            leaf: false,
            range: TlbiRange::NONE,
        };
        prop_assert_eq!(c.encode(), Err(Error::Misaligned { field: "Addr", value: a, align: 4096 }));
    }

    #[test]
    fn tlbi_split_covers_span_exactly(
        start in any::<u64>(),
        size in prop_oneof![0u64..0x100_0000, any::<u64>()],
        g in 1u8..4,
        ttl in two_bits(),
        max_scale in prop_oneof![Just(31u8), Just(63u8), 0u8..=70],
    ) {
        let granule = TlbiGranule::from_raw(g);
        let shift = granule.shift().unwrap();
        let ttl = TtlHint::from_raw(ttl);
        let it = TlbiRange::split(start, size, granule, ttl, max_scale).unwrap();
        let gmask = (1u128 << shift) - 1;
        let first = u128::from(start) & !gmask;
        let end = if size == 0 {
            first
        } else {
            ((u128::from(start) + u128::from(size) + gmask) & !gmask).min(1 << 64)
        };
        let mut next = first;
        let mut count = 0u64;
        for (addr, r) in it.take(100_000) {
            prop_assert_eq!(u128::from(addr), next);
            prop_assert!(!r.is_reserved());
            prop_assert!(u32::from(r.scale) <= u32::from(max_scale.min(63)));
            let pages = if r == TlbiRange::NONE {
                prop_assert_eq!(ttl, TtlHint::Any);
                1
            } else {
                prop_assert_eq!(r.tg, granule);
                prop_assert_eq!(r.ttl, ttl);
                r.granules().unwrap()
            };
            next += u128::from(pages) << shift;
            count += 1;
        }
        if count < 100_000 {
            prop_assert_eq!(next, end);
        }
        if max_scale >= 52 && size != 0 {
            // With an unlimited SCALE, at most one command per 5-bit window.
            let pages = ((end - first) >> shift) as u64;
            let bits = 64 - pages.leading_zeros() - pages.trailing_zeros();
            prop_assert!(count <= u64::from(bits.div_ceil(5)));
        }
    }
}

/// The greedy split is optimal: for every page count up to 4096, the number of commands
/// equals the minimum number of terms `m × 2^s` (1 ≤ m ≤ 32) summing to the count,
/// found by dynamic programming.
#[test]
fn tlbi_split_is_minimal_for_small_spans() {
    const N: usize = if cfg!(miri) { 64 } else { 4096 };
    let mut terms = Vec::new();
    for s in 0..13 {
        for m in 1..=32usize {
            terms.push(m << s);
        }
    }
    let mut best = vec![usize::MAX; N + 1];
    best[0] = 0;
    for n in 1..=N {
        for &t in &terms {
            if t <= n && best[n - t] != usize::MAX {
                best[n] = best[n].min(best[n - t] + 1);
            }
        }
    }
    for (n, &b) in best.iter().enumerate().skip(1) {
        let got = TlbiRange::split(
            0,
            (n as u64) << 12,
            TlbiGranule::Size4K,
            TtlHint::Level3,
            63,
        )
        .unwrap()
        .count();
        assert_eq!(got, b, "{n} pages");
    }
}

#[test]
fn decode_never_panics_on_extremes() {
    for w0 in [0u64, u64::MAX, 0x8000_0000_0000_0000, 0xFF] {
        for w1 in [0u64, u64::MAX] {
            for op in 0..=255u64 {
                let w = [(w0 & !0xFF) | op, w1];
                let _ = Command::decode(w);
                let _ = Command::decode_non_secure(w, true);
                let _ = Event::decode([w[0], w1, w0, w1]);
                let _ = PriEntry::decode(w);
            }
        }
    }
}
