//! CD fetch, stage-1 / stage-2 / nested walks, permissions and fault records (spec §2.5,
//! §2.6, §5, §7.5/§7.6 "spec" column). Every table is written by hand.

mod common;
use common::*;
use smmu_model::{Disposition, DmaError, EventId, Fault, RegionKind, Transaction, TranslationKind};

const SID: u32 = 1;
const VA: u64 = 0x0000_0012_3456_7000;
const ASID: u16 = 5;

struct S1 {
    rig: Rig,
    root: u64,
    cd: u64,
    data: u64,
}

/// Stage-1 stream SID 1 with one CD (ASID 5, R = `record`), `VA` mapped RW to a page.
fn s1(record: bool) -> S1 {
    let mut rig = Rig::new();
    rig.linear_strtab(6);
    let root = rig.page();
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(ASID, root, record));
    rig.write_ste(SID, ste_s1(cd_page));
    let data = rig.page();
    rig.map4k(root, VA, data, S1_RW | S1_NG);
    rig.enable();
    S1 {
        rig,
        root,
        cd: cd_page,
        data,
    }
}

fn rd(addr: u64) -> Transaction {
    Transaction::read(SID, addr, 8)
}

fn wr(addr: u64) -> Transaction {
    Transaction::write(SID, addr, 8)
}

fn id(f: &Fault) -> EventId {
    f.event_id().expect("an event")
}

#[test]
fn stage1_walk_and_tlb_hit() {
    let s = s1(true);
    let t = s.rig.smmu.translate(&rd(VA + 0x123)).unwrap();
    assert_eq!(t.pa, s.data + 0x123);
    assert_eq!(t.kind, TranslationKind::Stage1);
    assert!(!t.tlb_hit);
    let t = s.rig.smmu.translate(&wr(VA + 0x8)).unwrap();
    assert!(t.tlb_hit);
    assert_eq!(s.rig.smmu.stats().tlb_hits, 1);
    // DMA lands in memory.
    s.rig.smmu.dma_write(&wr(VA + 0x10), &[0xAB; 4]).unwrap();
    assert_eq!(s.rig.mem.read_u32(s.data + 0x10).unwrap(), 0xABAB_ABAB);
    let mut buf = [0u8; 4];
    s.rig.smmu.dma_read(&rd(VA + 0x10), &mut buf).unwrap();
    assert_eq!(buf, [0xAB; 4]);
}

#[test]
fn f_translation_records_and_fields() {
    let s = s1(true);
    let f = s.rig.smmu.translate(&wr(VA + 0x1000)).unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    let ev = s.rig.events();
    assert_eq!(ev.len(), 1);
    let e = ev[0];
    assert_eq!(e[0], F_TRANSLATION | u64::from(SID) << 32);
    assert_eq!((e[1] >> 35) & 1, 0, "RnW = 0: a write");
    assert_eq!((e[1] >> 40) & 3, 2, "CLASS = input address");
    assert_eq!((e[1] >> 39) & 1, 0, "stage 1");
    assert_eq!(e[2], VA + 0x1000);
    // VA[55:48] not all equal to VA[55]: outside TTB0's range.
    let f = s.rig.smmu.translate(&rd(1 << 48 | VA)).unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    // VA[55] = 1 selects TTB1, disabled by EPD1.
    let f = s
        .rig
        .smmu
        .translate(&rd(0xFFFF_FFFF_FFFF_F000))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    // Top byte not zero without TBI0.
    let f = s.rig.smmu.translate(&rd(0x5A << 56 | VA)).unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    assert_eq!(s.rig.event_ids(), vec![F_TRANSLATION; 3]);
}

#[test]
fn cd_r_gates_recording_of_translation_faults() {
    let s = s1(false);
    match s.rig.smmu.translate(&rd(VA + 0x1000)).unwrap_err() {
        Fault::Event {
            record,
            disposition,
            ..
        } => {
            assert_eq!(record.id, EventId::F_TRANSLATION);
            assert_eq!(disposition, Disposition::NotRecorded);
        }
        f => panic!("{f:?}"),
    }
    assert!(s.rig.events().is_empty());
    assert_eq!(s.rig.smmu.fault_count(EventId::F_TRANSLATION), 1);
    // F_WALK_EABT is recorded whatever CD.R says: a level-1 table outside RAM.
    let l0 = s
        .rig
        .mem
        .read_u64(s.root + ((VA >> 39) & 0x1FF) * 8)
        .unwrap();
    let l1 = l0 & 0x0000_FFFF_FFFF_F000;
    s.rig
        .mem
        .write_u64(l1 + ((VA >> 30) & 0x1FF) * 8, 0x3000_0000 | 3)
        .unwrap();
    s.rig.tlbi_nh_asid(0, ASID);
    let f = s.rig.smmu.translate(&rd(VA)).unwrap_err();
    assert_eq!(id(&f), EventId::F_WALK_EABT);
    let ev = s.rig.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0][0] & 0xFF, F_WALK_EABT);
    assert_eq!(
        ev[0][3],
        0x3000_0000 + ((VA >> 21) & 0x1FF) * 8,
        "FetchAddr"
    );
    assert_eq!((ev[0][1] >> 40) & 3, 1, "CLASS = translation table");
}

#[test]
fn f_permission_and_f_access() {
    let s = s1(true);
    let ro = VA + 0x1000;
    let kernel = VA + 0x2000;
    let no_af = VA + 0x3000;
    s.rig.map4k(s.root, ro, s.data, S1_RO | S1_NG);
    s.rig
        .map4k(s.root, kernel, s.data, S1_AF | S1_SH_IS | S1_NG); // AP = 0b00
    s.rig
        .map4k(s.root, no_af, s.data, S1_SH_IS | 1 << 6 | S1_NG); // AF = 0
    assert!(s.rig.smmu.translate(&rd(ro)).is_ok());
    // The write hits the TLB entry filled by the read: the permission fault comes
    // from the cached attributes.
    let hits = s.rig.smmu.stats().tlb_hits;
    assert_eq!(
        id(&s.rig.smmu.translate(&wr(ro)).unwrap_err()),
        EventId::F_PERMISSION
    );
    assert_eq!(s.rig.smmu.stats().tlb_hits, hits + 1);
    // AP = 0b00: privileged only.
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(kernel)).unwrap_err()),
        EventId::F_PERMISSION
    );
    assert!(s.rig.smmu.translate(&rd(kernel).privileged()).is_ok());
    // Privileged execute of EL0-writable memory is never allowed.
    assert_eq!(
        id(&s
            .rig
            .smmu
            .translate(&rd(VA).privileged().instruction())
            .unwrap_err()),
        EventId::F_PERMISSION
    );
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(no_af)).unwrap_err()),
        EventId::F_ACCESS
    );
    let ev = s.rig.events();
    assert_eq!(
        ev.iter().map(|e| e[0] & 0xFF).collect::<Vec<_>>(),
        vec![F_PERMISSION, F_PERMISSION, F_PERMISSION, F_ACCESS]
    );
    assert_eq!((ev[1][1] >> 33) & 1, 0, "PnU = 0: unprivileged");
    assert_eq!((ev[2][1] >> 33) & 7, 0b111, "PnU, InD, RnW");
}

#[test]
fn f_addr_size_when_output_exceeds_ips() {
    let mut rig = Rig::new();
    rig.linear_strtab(2);
    let root = rig.page();
    let cd_page = rig.page();
    let mut c = cd(ASID, root, true);
    c[0] &= !(7 << 32); // IPS = 0: 32 bits
    write_words(&rig.mem, cd_page, &c);
    rig.write_ste(SID, ste_s1(cd_page));
    rig.map4k(root, VA, 0x1_0000_0000, S1_RW); // output at 4 GiB
    rig.enable();
    assert_eq!(
        id(&rig.smmu.translate(&rd(VA)).unwrap_err()),
        EventId::F_ADDR_SIZE
    );
    assert_eq!(rig.event_ids(), vec![F_ADDR_SIZE]);
}

#[test]
fn razwi_when_cd_a_is_zero() {
    let s = s1(true);
    let mut c = cd(ASID, s.root, true);
    c[0] &= !(1 << 46); // A = 0: terminate with RAZ/WI
    write_words(&s.rig.mem, s.cd, &c);
    s.rig.cfgi_cd(SID, 0);
    let mut buf = [0xFFu8; 8];
    match s.rig.smmu.dma_read(&rd(VA + 0x1000), &mut buf) {
        Err(DmaError::Fault(Fault::Event { razwi: true, .. })) => {}
        r => panic!("{r:?}"),
    }
    assert_eq!(buf, [0; 8]);
}

#[test]
fn bad_cd_and_cd_fetch() {
    let s = s1(true);
    // V = 0.
    write_words(&s.rig.mem, s.cd, &[0; 8]);
    s.rig.cfgi_cd(SID, 0);
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(VA)).unwrap_err()),
        EventId::C_BAD_CD
    );
    // TG0 = 3 (reserved) is ILLEGAL.
    let mut c = cd(ASID, s.root, true);
    c[0] |= 3 << 6;
    write_words(&s.rig.mem, s.cd, &c);
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(VA)).unwrap_err()),
        EventId::C_BAD_CD
    );
    // An invalid CD is not cached: fixing it works without CFGI_CD.
    write_words(&s.rig.mem, s.cd, &cd(ASID, s.root, true));
    assert!(s.rig.smmu.translate(&rd(VA)).is_ok());
    assert_eq!(s.rig.event_ids(), vec![C_BAD_CD, C_BAD_CD]);

    // S1ContextPtr outside RAM: F_CD_FETCH with the fetch address in dw3.
    s.rig.write_ste(2, ste_s1(0x3000_0040));
    let f = s
        .rig
        .smmu
        .translate(&Transaction::read(2, VA, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_CD_FETCH);
    let ev = s.rig.events();
    assert_eq!(ev[0][0], F_CD_FETCH | 2 << 32);
    assert_eq!(ev[0][3], 0x3000_0040);
}

#[test]
fn substreams_linear_cd_table() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    let root0 = rig.page();
    let root1 = rig.page();
    let (p0, p1) = (rig.page(), rig.page());
    rig.map4k(root0, VA, p0, S1_RW | S1_NG);
    rig.map4k(root1, VA, p1, S1_RW | S1_NG);
    // 4 CDs (S1CDMax = 2), linear (S1Fmt = 0).
    let table = rig.alloc(4 * 64, 4096);
    write_words(&rig.mem, table, &cd(10, root0, true));
    write_words(&rig.mem, table + 64, &cd(11, root1, true));
    rig.write_ste(1, ste_s1_table(table, 0, 2, 0)); // S1DSS = terminate
    rig.write_ste(2, ste_s1_table(table, 0, 2, 1)); // S1DSS = bypass
    rig.write_ste(3, ste_s1_table(table, 0, 2, 2)); // S1DSS = use CD 0
    rig.write_ste(4, STE_BYPASS);
    rig.enable();
    let t = |sid, ssid: Option<u32>| {
        let mut t = Transaction::read(sid, VA, 8);
        t.ssid = ssid;
        rig.smmu.translate(&t)
    };
    assert_eq!(t(1, Some(1)).unwrap().pa, p1);
    assert_eq!(t(1, Some(0)).unwrap().pa, p0);
    assert_eq!(id(&t(1, None).unwrap_err()), EventId::F_STREAM_DISABLED);
    assert_eq!(id(&t(1, Some(4)).unwrap_err()), EventId::C_BAD_SUBSTREAMID);
    assert_eq!(id(&t(1, Some(2)).unwrap_err()), EventId::C_BAD_CD);
    let b = t(2, None).unwrap();
    assert_eq!((b.pa, b.kind), (VA, TranslationKind::Stage1Bypass));
    assert_eq!(t(3, None).unwrap().pa, p0);
    assert_eq!(id(&t(3, Some(0)).unwrap_err()), EventId::F_STREAM_DISABLED);
    assert_eq!(id(&t(4, Some(1)).unwrap_err()), EventId::C_BAD_SUBSTREAMID);
    let ev = rig.events();
    assert_eq!(
        ev.iter().map(|e| e[0] & 0xFF).collect::<Vec<_>>(),
        vec![
            F_STREAM_DISABLED,
            C_BAD_SUBSTREAMID,
            C_BAD_CD,
            F_STREAM_DISABLED,
            C_BAD_SUBSTREAMID
        ]
    );
    // C_BAD_SUBSTREAMID carries the SubstreamID without SSV.
    assert_eq!(ev[1][0], C_BAD_SUBSTREAMID | 4 << 12 | 1 << 32);
    // C_BAD_CD carries SSV and the SubstreamID.
    assert_eq!(ev[2][0], C_BAD_CD | 1 << 11 | 2 << 12 | 1 << 32);
}

#[test]
fn two_level_cd_table() {
    let mut rig = Rig::new();
    rig.linear_strtab(2);
    let root = rig.page();
    let data = rig.page();
    rig.map4k(root, VA, data, S1_RW | S1_NG);
    // S1Fmt = 1: 4 KiB leaves of 64 CDs; S1CDMax = 8: L1CD table of 4 descriptors.
    let l1 = rig.alloc(64, 4096);
    let leaf = rig.page();
    // §2.6 L1CD: V[0] | L2Ptr[55:12].
    rig.mem.write_u64(l1 + 8, leaf | 1).unwrap();
    write_words(&rig.mem, leaf + 3 * 64, &cd(9, root, true));
    rig.write_ste(1, ste_s1_table(l1, 1, 8, 0));
    rig.enable();
    let t = |ssid| {
        rig.smmu
            .translate(&Transaction::read(1, VA, 8).with_ssid(ssid))
    };
    assert_eq!(t(64 + 3).unwrap().pa, data);
    assert_eq!(id(&t(64 + 4).unwrap_err()), EventId::C_BAD_CD);
    assert_eq!(
        id(&t(130).unwrap_err()),
        EventId::C_BAD_SUBSTREAMID,
        "L1CD.V = 0"
    );
    // L1CD pointing outside RAM: F_CD_FETCH.
    rig.mem.write_u64(l1 + 16, 0x3000_0000 | 1).unwrap();
    assert_eq!(id(&t(128).unwrap_err()), EventId::F_CD_FETCH);
}

#[test]
fn stale_tlb_until_the_right_tlbi() {
    let s = s1(true);
    let new = s.rig.page();
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, s.data);
    // Re-map without invalidation: the TLB still gives the old page.
    s.rig.map4k(s.root, VA, new, S1_RW | S1_NG);
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, s.data);
    s.rig.tlbi_nh_va(0, ASID + 1, VA); // wrong ASID
    s.rig.tlbi_nh_va(1, ASID, VA); // wrong VMID
    s.rig.tlbi_nh_va(0, ASID, VA + 0x1000); // wrong page
    s.rig.cfgi_ste(SID); // configuration invalidation does not touch the TLB
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, s.data);
    s.rig.tlbi_nh_va(0, ASID, VA);
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, new);
    // Unmap without invalidation: the device still reaches the old page.
    s.rig.mem.write_u64(s.rig.pte_addr(s.root, VA), 0).unwrap();
    assert!(s.rig.smmu.translate(&rd(VA)).is_ok());
    s.rig.tlbi_nh_asid(0, ASID);
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(VA)).unwrap_err()),
        EventId::F_TRANSLATION
    );
}

#[test]
fn global_entries_survive_asid_invalidation() {
    let s = s1(true);
    let g = VA + 0x5000;
    s.rig.map4k(s.root, g, s.data, S1_RW); // nG = 0: global
    assert!(s.rig.smmu.translate(&rd(g)).is_ok());
    s.rig.mem.write_u64(s.rig.pte_addr(s.root, g), 0).unwrap();
    s.rig.tlbi_nh_asid(0, ASID);
    assert!(s.rig.smmu.translate(&rd(g)).is_ok(), "global entry kept");
    s.rig.tlbi_nh_va(0, ASID + 7, g); // by VA: any ASID matches a global entry
    assert!(s.rig.smmu.translate(&rd(g)).is_err());
}

#[test]
fn block_mapping_and_range_invalidation() {
    let s = s1(true);
    // A 2 MiB block at level 2 for VA2.
    let va2 = 0x0000_0040_0000_0000u64;
    let block = 0x4020_0000u64; // 2 MiB aligned, inside RAM
    let l0 = s.rig.page();
    let l1 = s.rig.page();
    s.rig
        .mem
        .write_u64(s.root + ((va2 >> 39) & 0x1FF) * 8, l0 | 3)
        .unwrap();
    s.rig
        .mem
        .write_u64(l0 + ((va2 >> 30) & 0x1FF) * 8, l1 | 3)
        .unwrap();
    s.rig.mem.write_u64(l1, block | S1_RW | S1_NG | 1).unwrap(); // block: bits[1:0] = 01
    let t = s.rig.smmu.translate(&rd(va2 + 0x12_3456)).unwrap();
    assert_eq!(t.pa, block + 0x12_3456);
    let other = s.rig.smmu.translate(&rd(va2 + 0x1F_F000)).unwrap();
    assert_eq!(other.pa, block + 0x1F_F000);
    // Move the block; a TLBI of one address inside it drops the whole block.
    s.rig
        .mem
        .write_u64(l1, (block + 0x20_0000) | S1_RW | S1_NG | 1)
        .unwrap();
    s.rig.tlbi_nh_va(0, ASID, va2 + 0x1000);
    assert_eq!(
        s.rig.smmu.translate(&rd(va2 + 0x1F_F000)).unwrap().pa,
        block + 0x20_0000 + 0x1F_F000
    );

    // Range TLBI (IDR3.RIL): TG = 4K, NUM = 3, SCALE = 0 → 4 pages from VA.
    let pages: Vec<u64> = (0..6).map(|i| VA + i * 0x1000).collect();
    for &p in &pages {
        s.rig.map4k(s.root, p, s.data, S1_RW | S1_NG);
        s.rig.smmu.translate(&rd(p)).unwrap();
        s.rig.mem.write_u64(s.rig.pte_addr(s.root, p), 0).unwrap();
    }
    s.rig.submit(
        0x12 | 3 << 12 | u64::from(ASID) << 48, // NUM = 3, SCALE = 0, VMID 0
        VA | 1 << 10,                           // TG = 1 (4K)
    );
    s.rig.sync();
    for (i, &p) in pages.iter().enumerate() {
        assert_eq!(s.rig.smmu.translate(&rd(p)).is_err(), i < 4, "page {i}");
    }
}

#[test]
fn stale_cd_until_cfgi_cd() {
    let s = s1(true);
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, s.data);
    // New CD: another ASID and another table.
    let root2 = s.rig.page();
    let other = s.rig.page();
    s.rig.map4k(root2, VA, other, S1_RW | S1_NG);
    write_words(&s.rig.mem, s.cd, &cd(ASID + 1, root2, true));
    assert_eq!(
        s.rig.smmu.translate(&rd(VA)).unwrap().pa,
        s.data,
        "stale CD"
    );
    s.rig.cfgi_cd(SID, 1); // wrong SubstreamID
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, s.data);
    s.rig.cfgi_cd(SID, 0);
    assert_eq!(s.rig.smmu.translate(&rd(VA)).unwrap().pa, other);
}

// ------------------------------------------------------------------------ stage 2

const VMID: u16 = 3;
const IPA: u64 = 0x0000_0001_2345_6000;

#[test]
fn stage2_walk_faults_and_invalidation() {
    let mut rig = Rig::new();
    rig.linear_strtab(3);
    let root = rig.page();
    let data = rig.page();
    // Stage-2 leaves: S2AP = RW / RO.
    rig.map4k(root, IPA, data, S2_RW);
    rig.map4k(root, IPA + 0x1000, data, S2_RO);
    rig.write_ste(1, ste_s2(VMID, root, true));
    rig.write_ste(2, ste_s2(VMID, root, false)); // S2R = 0
    rig.enable();
    let t = rig
        .smmu
        .translate(&Transaction::write(1, IPA + 8, 8))
        .unwrap();
    assert_eq!((t.pa, t.kind), (data + 8, TranslationKind::Stage2));
    let f = rig
        .smmu
        .translate(&Transaction::write(1, IPA + 0x1000, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_PERMISSION);
    let f = rig
        .smmu
        .translate(&Transaction::read(1, IPA + 0x2000, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    let ev = rig.events();
    assert_eq!(ev.len(), 2);
    assert_eq!((ev[0][1] >> 39) & 1, 1, "S2 = 1");
    assert_eq!(ev[1][3], IPA + 0x2000, "IPA in dw3");
    assert_eq!(ev[1][2], IPA + 0x2000, "InputAddr");
    // S2R = 0: not recorded.
    assert!(
        rig.smmu
            .translate(&Transaction::read(2, IPA + 0x2000, 8))
            .is_err()
    );
    assert!(rig.events().is_empty());
    // An input above the IAS (48 bits) with stage 1 bypassed: stage-1 F_ADDR_SIZE.
    let f = rig
        .smmu
        .translate(&Transaction::read(1, 1 << 48, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_ADDR_SIZE);
    assert_eq!((rig.events()[0][1] >> 39) & 1, 0, "S2 = 0");
    // Stale until TLBI_S2_IPA with the right VMID.
    let new = rig.page();
    rig.map4k(root, IPA, new, S2_RW);
    rig.tlbi_s2_ipa(VMID + 1, IPA);
    assert_eq!(
        rig.smmu
            .translate(&Transaction::read(1, IPA, 8))
            .unwrap()
            .pa,
        data
    );
    rig.tlbi_s2_ipa(VMID, IPA);
    assert_eq!(
        rig.smmu
            .translate(&Transaction::read(1, IPA, 8))
            .unwrap()
            .pa,
        new
    );
    // AF = 0 at stage 2.
    rig.map4k(root, IPA + 0x3000, data, S2_RW & !(1 << 10));
    let f = rig
        .smmu
        .translate(&Transaction::read(1, IPA + 0x3000, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_ACCESS);
}

#[test]
fn nested_translation() {
    // IPA = PA + OFF for all of RAM, through a 1 GiB stage-2 block.
    const OFF: u64 = 0x1_0000_0000;
    let mut rig = Rig::new();
    rig.linear_strtab(3);
    let s2_root = rig.page();
    let s2_l1 = rig.page();
    rig.mem.write_u64(s2_root, s2_l1 | 3).unwrap(); // L0[0]
    let ipa_ram = RAM + OFF; // 0x1_4000_0000
    rig.mem
        .write_u64(s2_l1 + ((ipa_ram >> 30) & 0x1FF) * 8, RAM | S2_RW | 1)
        .unwrap(); // L1 block: bits[1:0] = 01
    let s1_root = rig.page();
    let data = rig.page();
    rig.map4k_ipa(s1_root, VA, data + OFF, S1_RW | S1_NG, OFF);
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(ASID, s1_root + OFF, true));
    rig.write_ste(1, ste_nested(cd_page + OFF, VMID, s2_root, true));
    // SID 2: the CD's IPA is not mapped at stage 2.
    rig.write_ste(2, ste_nested(0x2_0000_0000, VMID, s2_root, true));
    rig.enable();
    let t = rig
        .smmu
        .translate(&Transaction::read(1, VA + 0x40, 8))
        .unwrap();
    assert_eq!((t.pa, t.kind), (data + 0x40, TranslationKind::Nested));
    assert!(
        rig.smmu
            .translate(&Transaction::read(1, VA, 8))
            .unwrap()
            .tlb_hit
    );

    // Stage-2 fault on the CD fetch: CLASS = CD, S2 = 1.
    let f = rig
        .smmu
        .translate(&Transaction::read(2, VA, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    let e = rig.events()[0];
    assert_eq!(((e[1] >> 39) & 1, (e[1] >> 40) & 3), (1, 0));
    assert_eq!(e[3], 0x2_0000_0000);

    // Stage-2 fault on a stage-1 table fetch: CLASS = TT.
    let va3 = VA + (1 << 39);
    rig.mem
        .write_u64(s1_root + ((va3 >> 39) & 0x1FF) * 8, 0x2_0000_0000 | 3)
        .unwrap();
    let f = rig
        .smmu
        .translate(&Transaction::read(1, va3, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    let e = rig.events()[0];
    assert_eq!(((e[1] >> 39) & 1, (e[1] >> 40) & 3), (1, 1));

    // Stage-1 output IPA outside stage 2: CLASS = input address, IPA reported.
    let va4 = VA + 0x1000;
    rig.map4k_ipa(s1_root, va4, 0x3_0000_0000, S1_RW | S1_NG, OFF);
    let f = rig
        .smmu
        .translate(&Transaction::read(1, va4, 8))
        .unwrap_err();
    assert_eq!(id(&f), EventId::F_TRANSLATION);
    let e = rig.events()[0];
    assert_eq!(((e[1] >> 39) & 1, (e[1] >> 40) & 3), (1, 2));
    assert_eq!(e[3], 0x3_0000_0000);

    // Change the stage-2 block; combined entries stay until TLBI_S12_VMALL.
    let ram2 = rig.mem.alloc(RegionKind::CrashKernel, 4096, 4096).unwrap();
    assert!(ram2 >= CRASH);
    rig.mem
        .write_u64(
            s2_l1 + ((ipa_ram >> 30) & 0x1FF) * 8,
            0x8000_0000 | S2_RW | 1,
        )
        .unwrap();
    assert_eq!(
        rig.smmu.translate(&Transaction::read(1, VA, 8)).unwrap().pa,
        data
    );
    rig.tlbi_s2_ipa(VMID, data + OFF);
    assert_eq!(
        rig.smmu.translate(&Transaction::read(1, VA, 8)).unwrap().pa,
        data,
        "combined entry not dropped by TLBI_S2_IPA"
    );
    rig.tlbi_s12_vmall(VMID);
    rig.cfgi_all();
    // Now the stage-1 tables are read through the new block (garbage there): a fault.
    assert!(rig.smmu.translate(&Transaction::read(1, VA, 8)).is_err());
}

#[test]
fn el2_stream_world_and_its_invalidations() {
    let mut rig = Rig::new();
    rig.linear_strtab(2);
    let root = rig.page();
    let (a, b) = (rig.page(), rig.page());
    rig.map4k(root, VA, a, S1_RW);
    let cd_page = rig.page();
    write_words(&rig.mem, cd_page, &cd(0, root, true));
    let mut ste = ste_s1(cd_page);
    ste[1] = 0b10 << 30; // STRW = NS-EL2 (CR2.E2H = 0)
    rig.write_ste(1, ste);
    rig.enable();
    assert_eq!(rig.smmu.translate(&rd(VA)).unwrap().pa, a);
    rig.map4k(root, VA, b, S1_RW);
    // Non-EL2 invalidations leave EL2 entries alone.
    rig.submit(0x30, 0); // TLBI_NSNH_ALL
    rig.submit(0x10, 0); // TLBI_NH_ALL, VMID 0
    rig.sync();
    assert_eq!(rig.smmu.translate(&rd(VA)).unwrap().pa, a);
    rig.submit(0x20, 0); // TLBI_EL2_ALL
    rig.sync();
    assert_eq!(rig.smmu.translate(&rd(VA)).unwrap().pa, b);
}

#[test]
fn cfgi_cd_all_and_tlbi_nh_all() {
    let s = s1(true);
    assert!(s.rig.smmu.translate(&rd(VA)).is_ok());
    write_words(&s.rig.mem, s.cd, &[0; 8]);
    s.rig.submit(0x06 | u64::from(SID + 1) << 32, 0); // CFGI_CD_ALL, other SID
    s.rig.sync();
    assert!(s.rig.smmu.translate(&rd(VA)).is_ok());
    s.rig.submit(0x06 | u64::from(SID) << 32, 0); // CFGI_CD_ALL
    s.rig.sync();
    assert_eq!(
        id(&s.rig.smmu.translate(&rd(VA)).unwrap_err()),
        EventId::C_BAD_CD
    );
    // Restore the CD; unmap the page; TLBI_NH_ALL for VMID 0 drops the entry.
    write_words(&s.rig.mem, s.cd, &cd(ASID, s.root, true));
    s.rig.smmu.translate(&rd(VA)).unwrap();
    s.rig.mem.write_u64(s.rig.pte_addr(s.root, VA), 0).unwrap();
    s.rig.submit(0x10 | 1 << 32, 0); // TLBI_NH_ALL, VMID 1: no effect
    s.rig.sync();
    assert!(s.rig.smmu.translate(&rd(VA)).is_ok());
    s.rig.submit(0x10, 0); // TLBI_NH_ALL, VMID 0
    s.rig.sync();
    assert!(s.rig.smmu.translate(&rd(VA)).is_err());
}
