//! Every invalid builder input of commands, event records and PRI entries gives the
//! exact typed error (never a panic, never a silent truncation).

use smmu_regs::Error;
use smmu_regs::cmd::{Command, CompletionSignal, Opcode, PriResponse, TlbiGranule, TlbiRange};
use smmu_regs::event::{Event, EventId, FaultClass, TranslationFault, TranslationFaultKind};
use smmu_regs::ids::Ipa;
use smmu_regs::pri::PriEntry;
use smmu_regs::{Asid, Iova, PhysAddr, Shareability, StreamId, SubstreamId, Vmid};

fn overflow(field: &'static str, value: u64, bits: u32) -> Result<[u64; 2], Error> {
    Err(Error::FieldOverflow { field, value, bits })
}

fn misaligned(field: &'static str, value: u64, align: u64) -> Result<[u64; 2], Error> {
    Err(Error::Misaligned {
        field,
        value,
        align,
    })
}

#[test]
fn substream_id_above_20_bits() {
    let c = Command::CfgiCd {
        ssec: false,
        sid: StreamId(1),
        ssid: SubstreamId(0x10_0000),
        leaf: true,
    };
    assert_eq!(c.encode(), overflow("SubstreamID", 0x10_0000, 20));
    for c in [
        Command::PrefetchConfig {
            ssec: false,
            sid: StreamId(0),
            ssv: true,
            ssid: SubstreamId(u32::MAX),
        },
        Command::AtcInv {
            sid: StreamId(0),
            ssv: true,
            ssid: SubstreamId(u32::MAX),
            global: false,
            addr: Iova(0),
            size: 0,
        },
        Command::PriResp {
            sid: StreamId(0),
            ssv: true,
            ssid: SubstreamId(u32::MAX),
            prg_index: 0,
            resp: PriResponse::Success,
        },
    ] {
        assert_eq!(
            c.encode(),
            overflow("SubstreamID", 0xFFFF_FFFF, 20),
            "{c:?}"
        );
    }
}

#[test]
fn cfgi_range_above_31() {
    for range in [32u8, 0x80, 0xFF] {
        let c = Command::CfgiSteRange {
            ssec: false,
            sid: StreamId(0),
            range,
        };
        assert_eq!(c.encode(), overflow("Range", u64::from(range), 5));
    }
}

#[test]
fn tlbi_address_below_4k() {
    for addr in [0x1u64, 0x800, 0xFFF, 0x1234_5678_9ABC_DEF1] {
        let c = Command::TlbiNhVa {
            vmid: Vmid(0),
            asid: Asid(0),
            addr: Iova(addr),
            leaf: false,
            range: TlbiRange::NONE,
        };
        assert_eq!(c.encode(), misaligned("Addr", addr, 4096));
        let c = Command::TlbiEl2Vaa {
            addr: Iova(addr),
            leaf: true,
            range: TlbiRange::NONE,
        };
        assert_eq!(c.encode(), misaligned("Addr", addr, 4096));
    }
}

#[test]
fn tlbi_range_fields() {
    let with = |num, scale| Command::TlbiNhVaa {
        vmid: Vmid(0),
        addr: Iova(0),
        leaf: false,
        range: TlbiRange {
            num,
            scale,
            tg: TlbiGranule::Size4K,
            ..TlbiRange::NONE
        },
    };
    assert_eq!(with(32, 0).encode(), overflow("NUM", 32, 5));
    assert_eq!(with(0, 64).encode(), overflow("SCALE", 64, 6));
    assert_eq!(with(31, 63).encode().map(|_| ()), Ok(()));
}

#[test]
fn tlbi_s2_ipa() {
    let c = |ipa| Command::TlbiS2Ipa {
        vmid: Vmid(1),
        ipa: Ipa(ipa),
        leaf: true,
        range: TlbiRange::NONE,
    };
    assert_eq!(c(0x1234).encode(), misaligned("IPA", 0x1234, 4096));
    assert_eq!(
        c(0x0100_0000_0000_0000).encode(),
        overflow("IPA", 0x0100_0000_0000_0000, 56)
    );
    assert_eq!(
        c(0xF000_0000_0000_0000).encode(),
        overflow("IPA", 0xF000_0000_0000_0000, 56)
    );
    // Both wrong: misalignment is reported first.
    assert_eq!(
        c(0x0100_0000_0000_0800).encode(),
        misaligned("IPA", 0x0100_0000_0000_0800, 4096)
    );
}

#[test]
fn cmd_sync_msi() {
    let s = |attr, addr| Command::Sync {
        cs: CompletionSignal::SigIrq,
        msh: Shareability::Inner,
        msi_attr: attr,
        msi_data: 0,
        msi_addr: PhysAddr(addr),
    };
    assert_eq!(
        s(0, 0x8000_1002).encode(),
        misaligned("MSIAddr", 0x8000_1002, 4)
    );
    assert_eq!(
        s(0, 0x8000_1001).encode(),
        misaligned("MSIAddr", 0x8000_1001, 4)
    );
    assert_eq!(
        s(0, 0x0100_0000_0000_0000).encode(),
        overflow("MSIAddr", 0x0100_0000_0000_0000, 56)
    );
    assert_eq!(s(16, 0).encode(), overflow("MSIAttr", 16, 4));
    assert_eq!(s(0xFF, 0).encode(), overflow("MSIAttr", 0xFF, 4));
}

#[test]
fn prefetch_addr() {
    let p = |ssid, addr, size, raw| Command::PrefetchAddr {
        ssec: false,
        sid: StreamId(0),
        ssv: true,
        ssid: SubstreamId(ssid),
        addr: Iova(addr),
        size,
        stride_ns_raw: raw,
    };
    assert_eq!(p(0, 0, 32, 0).encode(), overflow("Size", 32, 5));
    assert_eq!(p(0, 0, 0, 0x80).encode(), overflow("Stride/NS", 0x80, 7));
    assert_eq!(p(0, 0x10, 0, 0).encode(), misaligned("Addr", 0x10, 4096));
    // dw0 is checked before dw1.
    assert_eq!(
        p(0x10_0000, 0x10, 32, 0).encode(),
        overflow("SubstreamID", 0x10_0000, 20)
    );
}

#[test]
fn atc_inv_and_pri_resp() {
    let a = |addr, size| Command::AtcInv {
        sid: StreamId(0),
        ssv: false,
        ssid: SubstreamId(0),
        global: false,
        addr: Iova(addr),
        size,
    };
    assert_eq!(a(0, 64).encode(), overflow("Size", 64, 6));
    assert_eq!(a(0xFFF, 0).encode(), misaligned("Addr", 0xFFF, 4096));
    let p = Command::PriResp {
        sid: StreamId(0),
        ssv: false,
        ssid: SubstreamId(0),
        prg_index: 512,
        resp: PriResponse::Success,
    };
    assert_eq!(p.encode(), overflow("PRGIndex", 512, 9));
}

#[test]
fn unknown_with_typed_opcode() {
    let c = Command::Unknown {
        opcode: Opcode::CFGI_STE,
        words: [0x3, 0],
    };
    assert_eq!(
        c.encode(),
        Err(Error::InvalidValue {
            field: "OPCODE",
            value: 3
        })
    );
    // An untyped opcode is fine and overrides the low byte of the words.
    let c = Command::Unknown {
        opcode: Opcode(0x99),
        words: [0xAB03, 1],
    };
    assert_eq!(c.encode(), Ok([0xAB99, 1]));
}

fn evt_overflow(field: &'static str, value: u64, bits: u32) -> Result<[u64; 4], Error> {
    Err(Error::FieldOverflow { field, value, bits })
}

fn evt_misaligned(field: &'static str, value: u64, align: u64) -> Result<[u64; 4], Error> {
    Err(Error::Misaligned {
        field,
        value,
        align,
    })
}

fn fault(ssid: u32, ipa: u64) -> Event {
    Event::TranslationFault(TranslationFault {
        kind: TranslationFaultKind::Translation,
        sid: StreamId(0),
        ssv: true,
        ssid: SubstreamId(ssid),
        stall: false,
        stag: 0,
        pnu: false,
        ind: false,
        rnw: false,
        s2: true,
        class: FaultClass::InputAddr,
        ttrnw: false,
        input_addr: Iova(0),
        ipa: Ipa(ipa),
    })
}

#[test]
fn event_errors() {
    assert_eq!(
        Event::BadSte {
            sid: StreamId(0),
            ssv: true,
            ssid: SubstreamId(0x10_0000)
        }
        .encode(),
        evt_overflow("SubstreamID", 0x10_0000, 20)
    );
    assert_eq!(
        Event::BadSubstreamId {
            sid: StreamId(0),
            ssid: SubstreamId(0x20_0000)
        }
        .encode(),
        evt_overflow("SubstreamID", 0x20_0000, 20)
    );
    assert_eq!(
        fault(0x10_0000, 0).encode(),
        evt_overflow("SubstreamID", 0x10_0000, 20)
    );
    assert_eq!(fault(0, 0x800).encode(), evt_misaligned("IPA", 0x800, 4096));
    assert_eq!(fault(0, 1 << 56).encode(), evt_overflow("IPA", 1 << 56, 56));
    assert_eq!(
        Event::TlbConflict {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            pnu: false,
            ind: false,
            rnw: false,
            s2: true,
            input_addr: Iova(0),
            ipa: Ipa(0x1),
        }
        .encode(),
        evt_misaligned("IPA", 0x1, 4096)
    );
    for fetch in [0x1004u64, 0x7, 0x1_0000_0001] {
        let e = Event::SteFetch {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            reason: 0,
            gpcf: false,
            fetch_addr: PhysAddr(fetch),
        };
        assert_eq!(e.encode(), evt_misaligned("FetchAddr", fetch, 8));
    }
    assert_eq!(
        Event::CdFetch {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            reason: 0,
            gpcf: false,
            fetch_addr: PhysAddr(1 << 56),
        }
        .encode(),
        evt_overflow("FetchAddr", 1 << 56, 56)
    );
    assert_eq!(
        Event::WalkEabt {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            reason: 0,
            pnu: false,
            ind: false,
            rnw: false,
            s2: false,
            class: FaultClass::TranslationTable,
            input_addr: Iova(0),
            fetch_addr: PhysAddr(0xFFFF_FFFF_FFFF_FFF8),
        }
        .encode(),
        evt_overflow("FetchAddr", 0xFFFF_FFFF_FFFF_FFF8, 56)
    );
    assert_eq!(
        Event::VmsFetch {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            reason: 0,
            gpcf: false,
            fetch_addr: PhysAddr(0x4),
        }
        .encode(),
        evt_misaligned("FetchAddr", 0x4, 8)
    );
    assert_eq!(
        Event::PageRequest {
            sid: StreamId(0),
            ssv: false,
            ssid: SubstreamId(0),
            raw_dw1: 0,
            input_addr: Iova(0x1001),
        }
        .encode(),
        evt_misaligned("InputAddr", 0x1001, 4096)
    );
}

#[test]
fn event_impdef_and_unknown_ids() {
    let bad = |value| {
        Err::<[u64; 4], _>(Error::InvalidValue {
            field: "EventID",
            value,
        })
    };
    let words = [0; 4];
    assert_eq!(
        Event::Impdef {
            id: EventId(0x10),
            words
        }
        .encode(),
        bad(0x10)
    );
    assert_eq!(
        Event::Impdef {
            id: EventId(0xF0),
            words
        }
        .encode(),
        bad(0xF0)
    );
    assert_eq!(
        Event::Unknown {
            id: EventId(0xE0),
            words
        }
        .encode(),
        bad(0xE0)
    );
    assert_eq!(
        Event::Unknown {
            id: EventId::F_PERMISSION,
            words
        }
        .encode(),
        bad(0x13)
    );
    assert_eq!(
        Event::Unknown {
            id: EventId(0x30),
            words: [0xFF05, 1, 2, 3]
        }
        .encode(),
        Ok([0xFF30, 1, 2, 3])
    );
}

#[test]
fn pri_entry_errors() {
    let e = PriEntry::default();
    assert_eq!(
        PriEntry {
            ssid: SubstreamId(0x10_0000),
            ..e
        }
        .encode(),
        overflow("SSID", 0x10_0000, 20)
    );
    assert_eq!(
        PriEntry {
            prg_index: 0x200,
            ..e
        }
        .encode(),
        overflow("PRG_IDX", 0x200, 9)
    );
    assert_eq!(
        PriEntry {
            addr: Iova(0x10),
            ..e
        }
        .encode(),
        misaligned("ADDR", 0x10, 4096)
    );
}
