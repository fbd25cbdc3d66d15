//! Property tests for the MMIO registers: every raw value round-trips unchanged through
//! every register type, and every getter and helper returns (without panicking) on any
//! raw value, any queue LOG2SIZE and any ID registers.
#![allow(missing_docs)]

use proptest::prelude::*;
use smmu_regs::caps::Capabilities;
use smmu_regs::regs::{
    Aidr, CmdqCons, CmdqProd, CommandError, Cr0, Cr1, Cr2, EventqCons, EventqProd, Gbpa, Gerror,
    Idr0, Idr1, Idr2, Idr3, Idr5, Iidr, IrqCfg0, IrqCfg1, IrqCfg2, IrqCtrl, QueueBase, QueueKind,
    QueueSize, Register, Statusr, StrtabBase, StrtabBaseCfg, StrtabFmt, WriteGuard,
    gbpa_write_accepted,
};
use smmu_regs::{Error, PhysAddr};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 1024 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Round-trips a raw value through a 32-bit field register and calls `getters` on it.
fn rt32<T>(x: u32, getters: impl Fn(T)) -> Result<(), TestCaseError>
where
    T: From<u32> + Copy + core::fmt::Debug,
    u32: From<T>,
{
    let r = T::from(x);
    prop_assert_eq!(u32::from(r), x);
    getters(r);
    let _ = format!("{r:?}");
    Ok(())
}

fn rt64<T>(x: u64, getters: impl Fn(T)) -> Result<(), TestCaseError>
where
    T: From<u64> + Copy + core::fmt::Debug,
    u64: From<T>,
{
    let r = T::from(x);
    prop_assert_eq!(u64::from(r), x);
    getters(r);
    let _ = format!("{r:?}");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn id_registers_round_trip(x: u32) {
        rt32(x, |r: Idr0| {
            let _ = (r.s2p(), r.s1p(), r.ttf().aarch32(), r.ttf().aarch64(), r.cohacc(), r.btm());
            let _ = (r.httu(), r.dormhint(), r.hyp(), r.ats(), r.ns1ats(), r.asid16(), r.msi());
            let _ = (r.sev(), r.atos(), r.pri(), r.vmw(), r.vmid16(), r.cd2l(), r.vatos());
            let _ = (r.ttendian(), r.atsrecerr(), r.stall_model(), r.term_model(), r.st_level());
            let _ = r.rme_impl();
        })?;
        rt32(x, |r: Idr1| {
            let _ = (r.sidsize(), r.ssidsize(), r.priqs(), r.eventqs(), r.cmdqs());
            let _ = (r.attr_perms_ovr(), r.attr_types_ovr(), r.rel(), r.queues_preset());
            let _ = (r.tables_preset(), r.ecmdq());
            let _ = (QueueKind::Cmdq.max_log2size(r), QueueKind::Priq.max_log2size(r));
        })?;
        rt32(x, |r: Idr2| {
            let _ = r.ba_vatos();
        })?;
        rt32(x, |r: Idr3| {
            let _ = (r.had(), r.pbha(), r.xnx(), r.pps(), r.mpam(), r.fwb(), r.stt(), r.ril());
            let _ = (r.bbml(), r.e0pd(), r.ptwnnc(), r.dpt(), r.pasidtt(), r.epan(), r.s1pi());
            let _ = (r.s2pi(), r.s2po(), r.the(), r.mteperm(), r.aie());
        })?;
        rt32(x, |r: Idr5| {
            let _ = (r.oas().bits(), r.gran4k(), r.gran16k(), r.gran64k(), r.ds(), r.d128());
            let _ = (r.vax().va_bits(), r.stall_max());
        })?;
        rt32(x, |r: Iidr| {
            let _ = (r.implementer(), r.revision(), r.variant(), r.product_id());
        })?;
        rt32(x, |r: Aidr| {
            let v = r.version();
            let _ = (v.is_v3(), v.at_least(smmu_regs::regs::ArchVersion::V3_2), v.to_string());
        })?;
    }

    #[test]
    fn control_field_registers_round_trip(x: u32) {
        rt32(x, |r: Cr1| {
            let _ = (r.queue_ic(), r.queue_oc(), r.queue_sh(), r.table_ic(), r.table_oc());
            let _ = r.table_sh();
        })?;
        rt32(x, |r: Gbpa| {
            let a = r.alloccfg();
            let _ = (r.memattr(), r.mtcfg(), a.transient(), a.write_alloc(), a.read_alloc());
            let _ = (a.override_hints(), r.shcfg(), r.privcfg(), r.instcfg(), r.abort());
            let _ = r.update();
        })?;
        rt32(x, |r: IrqCfg1| {
            let _ = r.data();
        })?;
        rt32(x, |r: IrqCfg2| {
            let _ = (r.memattr(), r.sh());
        })?;
        rt32(x, |r: StrtabBaseCfg| {
            let _ = (r.log2size(), r.split(), r.fmt(), r.effective_fmt());
            let s = r.effective_split();
            assert!(matches!(s, 6 | 8 | 10));
            assert!(r.effective_log2size(32) <= 32);
            assert!(matches!(r.effective_fmt(), StrtabFmt::Linear | StrtabFmt::TwoLevel));
        })?;
    }

    #[test]
    fn flag_registers_round_trip(x: u32, y: u32, v: u8) {
        let cr0 = Cr0::from_bits_retain(x);
        prop_assert_eq!(cr0.bits(), x);
        prop_assert!(cr0.vmw() <= 7);
        prop_assert_eq!(cr0.with_vmw(cr0.vmw()), Ok(cr0));
        match cr0.with_vmw(v) {
            Ok(c) => {
                prop_assert!(v <= 7);
                prop_assert_eq!(c.vmw(), v);
                prop_assert_eq!(c.bits() & !Cr0::VMW_MASK, x & !Cr0::VMW_MASK);
            }
            Err(e) => {
                prop_assert!(v > 7);
                prop_assert_eq!(e, Error::FieldOverflow { field: "CR0.VMW", value: u64::from(v), bits: 3 });
            }
        }
        prop_assert!(cr0.is_acknowledged_by(cr0));
        let _ = cr0.is_acknowledged_by(Cr0::from_bits_retain(y));
        prop_assert_eq!(Cr2::from_bits_retain(x).bits(), x);
        prop_assert_eq!(Statusr::from_bits_retain(x).bits(), x);
        let irq = IrqCtrl::from_bits_retain(x);
        prop_assert_eq!(irq.bits(), x);
        prop_assert!(irq.is_acknowledged_by(irq));
        let (ge, gn) = (Gerror::from_bits_retain(x), Gerror::from_bits_retain(y));
        prop_assert_eq!(ge.bits(), x);
        prop_assert_eq!(ge.active(gn).bits() & !Gerror::FIELDS_MASK, 0);
        // Acknowledging every error leaves none active, and touches only active bits.
        let acked = ge.acknowledge(gn, Gerror::all());
        prop_assert!(ge.active(acked).is_empty());
        prop_assert_eq!(acked.bits() & !Gerror::FIELDS_MASK, y & !Gerror::FIELDS_MASK);
        let _ = format!("{cr0:?} {irq:?} {ge:?}");
    }

    #[test]
    fn queue_pointer_registers_round_trip(x: u32, log2 in 0u8..=31, k: u32) {
        let q = QueueSize::new(log2);
        rt32(x, |r: CmdqProd| {
            let _ = (r.wr(), r.index(q), r.wrap(q), r.incremented(q), r.advanced(q, k));
        })?;
        rt32(x, |r: CmdqCons| {
            let _ = (r.rd(), r.err(), r.error(), r.index(q), r.wrap(q), r.incremented(q));
            assert_eq!(r.error().raw(), r.err());
            assert_eq!(r.with_error(r.error()), r);
        })?;
        rt32(x, |r: EventqProd| {
            let _ = (r.wr(), r.ovflg(), r.index(q), r.wrap(q), r.incremented(q));
            let _ = r.overflow_pending(EventqCons::from(x.rotate_left(7)));
        })?;
        rt32(x, |r: EventqCons| {
            let _ = (r.rd(), r.ovackflg(), r.index(q), r.wrap(q), r.incremented(q));
            let _ = r.with_overflow_acknowledged(EventqProd::from(x.rotate_left(3)));
        })?;
        // Incrementing keeps every non-pointer bit of the register.
        let p = CmdqCons::from(x).incremented(q);
        prop_assert_eq!(u32::from(p) & 0xFFF0_0000, x & 0xFFF0_0000);
        prop_assert!(p.rd() <= q.pointer_mask());
    }

    #[test]
    fn queue_size_helpers_total(log2: u8, prod: u32, cons: u32, k: u32) {
        let q = QueueSize::new(log2);
        prop_assert!(q.log2size() <= 19);
        prop_assert_eq!(q.log2size(), log2.min(19));
        let n = q.entries();
        prop_assert!(q.index(prod) < n);
        prop_assert!(q.inc(prod) <= q.pointer_mask());
        prop_assert_eq!(q.advance(prod, k), q.advance(q.advance(prod, k / 2), k - k / 2));
        prop_assert_eq!(q.advance(prod, 2 * n), prod & q.pointer_mask());
        let (empty, full) = (q.is_empty(prod, cons), q.is_full(prod, cons));
        prop_assert!(!(empty && full));
        prop_assert_eq!(q.has_space(prod, cons), !full);
        prop_assert!(q.free(prod, cons) <= n);
        prop_assert_eq!(q.free(prod, cons) + q.used(prod, cons), n);
        if empty {
            prop_assert_eq!(q.used(prod, cons), 0);
        }
        if full {
            prop_assert_eq!(q.free(prod, cons), 0);
        }
        // In a consistent state PROD is `used` entries after CONS; in the CONSTRAINED
        // UNPREDICTABLE states (PROD behind CONS) there is no free space.
        let distance = prod.wrapping_sub(cons) & q.pointer_mask();
        if distance <= n {
            prop_assert_eq!(q.used(prod, cons), distance);
            prop_assert_eq!(q.advance(cons, distance), prod & q.pointer_mask());
        } else {
            prop_assert_eq!(q.free(prod, cons), 0);
        }
        let _ = QueueSize::effective(log2, (k & 0xFF) as u8);
    }

    #[test]
    fn wide_registers_round_trip(x: u64) {
        rt64(x, |r: StrtabBase| {
            let _ = (r.addr(), r.ra());
            assert_eq!(r.address().get() & !0x00FF_FFFF_FFFF_FFC0, 0);
        })?;
        rt64(x, |r: QueueBase| {
            let _ = (r.log2size(), r.addr(), r.alloc_hint(), r.size(31), r.size(0));
            assert_eq!(r.address().get() & !0x00FF_FFFF_FFFF_FFE0, 0);
        })?;
        rt64(x, |r: IrqCfg0| {
            let _ = r.addr();
            assert_eq!(r.address().get() & !0x00FF_FFFF_FFFF_FFFC, 0);
        })?;
    }

    #[test]
    fn builders_never_panic(addr: u64, log2: u8, split: u8, ra: bool, fmt in 0u8..4) {
        let fmt = match fmt { 0 => StrtabFmt::Linear, 1 => StrtabFmt::TwoLevel, 2 => StrtabFmt::Reserved2, _ => StrtabFmt::Reserved3 };
        if let Ok(b) = StrtabBase::try_new(PhysAddr(addr), ra) {
            prop_assert_eq!(b.address(), PhysAddr(addr));
            prop_assert_eq!(b.ra(), ra);
        }
        if let Ok(c) = StrtabBaseCfg::try_new(fmt, log2, split) {
            prop_assert_eq!((c.fmt(), c.log2size(), c.split()), (fmt, log2, split));
        }
        for kind in [QueueKind::Cmdq, QueueKind::Eventq, QueueKind::Priq] {
            if let Ok(b) = QueueBase::try_new(kind, PhysAddr(addr), log2) {
                prop_assert_eq!(b.address(), PhysAddr(addr));
                prop_assert_eq!(b.log2size(), log2);
            }
        }
        if let Ok(c) = IrqCfg0::try_new(PhysAddr(addr)) {
            prop_assert_eq!(c.address(), PhysAddr(addr));
        }
        // Aligned addresses inside 56 bits are always accepted.
        let a = addr & 0x00FF_FFFF_FFFF_FFC0;
        prop_assert!(StrtabBase::try_new(PhysAddr(a), ra).is_ok());
        prop_assert!(IrqCfg0::try_new(PhysAddr(a)).is_ok());
        let _ = CommandError::from_raw(split);
    }

    #[test]
    fn capabilities_total(i0: u32, i1: u32, i3: u32, i5: u32, ai: u32) {
        let caps = Capabilities::from_raw(i0, i1, i3, i5, ai);
        prop_assert_eq!(
            caps,
            Capabilities::from_idrs(Idr0::from(i0), Idr1::from(i1), Idr3::from(i3), Idr5::from(i5), Aidr::from(ai))
        );
        prop_assert!(caps.sid_bits_clamped() <= 32);
        prop_assert!(caps.ssid_bits_clamped() <= 20);
        prop_assert!((32..=56).contains(&caps.oas_bits()));
        prop_assert!(caps.asid_bits == 8 || caps.asid_bits == 16);
        prop_assert!(caps.vmid_bits == 8 || caps.vmid_bits == 16);
        for kind in [QueueKind::Cmdq, QueueKind::Eventq, QueueKind::Priq] {
            prop_assert!(caps.queue_max_size(kind).log2size() <= 19);
        }
        let _ = (caps.aarch32_tables(), caps.aarch64_tables(), caps.stalls_supported());
        let _ = format!("{caps:?}");
    }

    #[test]
    fn write_guard_total(cr0: u32, ack: u32, irq: u32, idr0: u32, idr1: u32, off in 0usize..0x2_0000, g0: u32, g1: u32) {
        let g = WriteGuard {
            cr0: Cr0::from_bits_retain(cr0),
            cr0ack: Cr0::from_bits_retain(ack),
            irq_ctrl: IrqCtrl::from_bits_retain(irq),
            idr0: Idr0::from(idr0),
            idr1: Idr1::from(idr1),
        };
        let _ = g.permits_offset(off);
        if let Some(reg) = Register::find(off) {
            prop_assert!(reg.contains(off));
            prop_assert_eq!(g.permits(reg), g.permits_offset(off));
        }
        let _ = gbpa_write_accepted(Gbpa::from(g0), Gbpa::from(g1));
    }
}
