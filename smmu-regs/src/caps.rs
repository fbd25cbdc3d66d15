//! The capability summary decoded from the ID registers.
//!
//! [`Capabilities::from_idrs`] turns IDR0, IDR1, IDR3, IDR5 and AIDR into a plain struct
//! that the driver (to choose formats and sizes) and the model (to describe the hardware
//! it emulates) both use. It accepts any bit pattern and never panics:
//!
//! * sizes are reported **as read**, even beyond the architected maximum (SIDSIZE up to
//!   63, SSIDSIZE up to 31, queue sizes up to 31); the `*_clamped` helpers cap them at
//!   the architected limits (32, 20, 19);
//! * reserved encodings are kept in the enumerated fields ([`Ttf::Reserved0`],
//!   [`StLevel::Reserved2`], …) and the `bool` summaries treat them as "not supported",
//!   except OAS, whose 3-bit field has no reserved encoding here (7 = 56 bits).
//!
//! ```
//! use smmu_regs::caps::Capabilities;
//! use smmu_regs::regs::ArchVersion;
//!
//! // IDR0: S1P, S2P, AArch64, COHACC, ASID16, VMID16, 2-level stream tables.
//! // IDR1: SIDSIZE 16, CMDQS/EVENTQS 19. IDR5: OAS 44 bits, 4K and 64K granules. v3.1.
//! let caps = Capabilities::from_raw(0x0804_101B, 0x0273_0010, 0, 0x0000_0054, 0x1);
//! assert!(caps.stage1 && caps.stage2 && caps.two_level_strtab);
//! assert_eq!((caps.sid_bits, caps.asid_bits, caps.vmid_bits), (16, 16, 16));
//! assert_eq!((caps.cmdq_max_log2size, caps.eventq_max_log2size), (19, 19));
//! assert_eq!(caps.oas_bits(), 44);
//! assert!(caps.gran4k && !caps.gran16k && caps.gran64k);
//! assert_eq!(caps.version, ArchVersion::V3_1);
//! ```

use crate::fields::AddressSize;
use crate::regs::{
    Aidr, ArchVersion, Bbml, Httu, Idr0, Idr1, Idr3, Idr5, QueueKind, QueueSize, StLevel,
    StallModel, TermModel, TtEndian, Ttf, Vax,
};

/// Largest architected StreamID width.
pub const MAX_SID_BITS: u8 = 32;
/// Largest architected SubstreamID width.
pub const MAX_SSID_BITS: u8 = 20;

/// What an SMMU implements, decoded from its ID registers.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities {
    /// Architecture version (AIDR).
    pub version: ArchVersion,

    // IDR0.
    /// Stage 1 translation (IDR0.S1P).
    pub stage1: bool,
    /// Stage 2 translation (IDR0.S2P).
    pub stage2: bool,
    /// Translation table formats (IDR0.TTF); see [`Ttf::aarch32`] / [`Ttf::aarch64`].
    pub ttf: Ttf,
    /// Coherent access to tables and queues (IDR0.COHACC).
    pub coherent: bool,
    /// Broadcast TLB maintenance (IDR0.BTM).
    pub btm: bool,
    /// Hardware translation table update (IDR0.HTTU).
    pub httu: Httu,
    /// STATUSR.DORMANT is implemented (IDR0.DORMHINT).
    pub dormhint: bool,
    /// EL2 StreamWorld (IDR0.HYP).
    pub hyp: bool,
    /// PCIe ATS (IDR0.ATS).
    pub ats: bool,
    /// Split-stage ATS is **not** supported (IDR0.NS1ATS).
    pub ns1ats: bool,
    /// ASID width: 16 with IDR0.ASID16, else 8.
    pub asid_bits: u8,
    /// VMID width: 16 with IDR0.VMID16, else 8.
    pub vmid_bits: u8,
    /// MSIs (IDR0.MSI).
    pub msi: bool,
    /// WFE wake-up events (IDR0.SEV).
    pub sev: bool,
    /// Address translation operations (IDR0.ATOS).
    pub atos: bool,
    /// PCIe PRI (IDR0.PRI).
    pub pri: bool,
    /// VMID wildcard (IDR0.VMW).
    pub vmw: bool,
    /// 2-level context descriptor tables (IDR0.CD2L).
    pub two_level_cd: bool,
    /// Virtual ATOS page (IDR0.VATOS).
    pub vatos: bool,
    /// Translation table endianness (IDR0.TTENDIAN).
    pub ttendian: TtEndian,
    /// ATS errors are recorded (IDR0.ATSRECERR).
    pub atsrecerr: bool,
    /// Stall model (IDR0.STALL_MODEL).
    pub stall_model: StallModel,
    /// Terminate model (IDR0.TERM_MODEL).
    pub term_model: TermModel,
    /// Stream table formats, as read (IDR0.ST_LEVEL).
    pub st_level: StLevel,
    /// 2-level stream tables supported: ST_LEVEL = 1 (the reserved 0b1x encodings give
    /// `false`).
    pub two_level_strtab: bool,
    /// Realm Management Extension (IDR0.RME_IMPL).
    pub rme: bool,

    // IDR1.
    /// StreamID width, as read (IDR1.SIDSIZE, 0..=63; architected ≤ 32).
    pub sid_bits: u8,
    /// SubstreamID width, as read (IDR1.SSIDSIZE, 0..=31; architected ≤ 20; 0 = no
    /// substreams).
    pub ssid_bits: u8,
    /// log2 of the maximum command queue entries, as read (IDR1.CMDQS).
    pub cmdq_max_log2size: u8,
    /// log2 of the maximum event queue entries, as read (IDR1.EVENTQS).
    pub eventq_max_log2size: u8,
    /// log2 of the maximum PRI queue entries, as read (IDR1.PRIQS).
    pub priq_max_log2size: u8,
    /// IDR1.ATTR_PERMS_OVR.
    pub attr_perms_ovr: bool,
    /// IDR1.ATTR_TYPES_OVR.
    pub attr_types_ovr: bool,
    /// Preset base pointers are relative (IDR1.REL).
    pub rel: bool,
    /// Queue base registers are fixed (IDR1.QUEUES_PRESET).
    pub queues_preset: bool,
    /// STRTAB_BASE / STRTAB_BASE_CFG are fixed (IDR1.TABLES_PRESET).
    pub tables_preset: bool,
    /// Enhanced command queues (IDR1.ECMDQ).
    pub ecmdq: bool,

    // IDR3.
    /// IDR3.HAD.
    pub had: bool,
    /// IDR3.PBHA.
    pub pbha: bool,
    /// IDR3.XNX.
    pub xnx: bool,
    /// IDR3.PPS.
    pub pps: bool,
    /// IDR3.MPAM.
    pub mpam: bool,
    /// IDR3.FWB.
    pub fwb: bool,
    /// Small translation tables (IDR3.STT).
    pub stt: bool,
    /// Range invalidation and TTL hints (IDR3.RIL).
    pub ril: bool,
    /// Break-before-make level (IDR3.BBML).
    pub bbml: Bbml,
    /// IDR3.E0PD.
    pub e0pd: bool,
    /// IDR3.PTWNNC.
    pub ptwnnc: bool,
    /// Device permission table (IDR3.DPT).
    pub dpt: bool,
    /// IDR3.PASIDTT.
    pub pasidtt: bool,
    /// IDR3.EPAN.
    pub epan: bool,
    /// IDR3.S1PI.
    pub s1pi: bool,
    /// IDR3.S2PI.
    pub s2pi: bool,
    /// IDR3.S2PO.
    pub s2po: bool,
    /// IDR3.THE.
    pub the: bool,
    /// IDR3.MTEPERM.
    pub mteperm: bool,
    /// IDR3.AIE.
    pub aie: bool,

    // IDR5.
    /// Output address size (IDR5.OAS); [`Capabilities::oas_bits`] gives the width.
    pub oas: AddressSize,
    /// 4 KB granule (IDR5.GRAN4K).
    pub gran4k: bool,
    /// 16 KB granule (IDR5.GRAN16K).
    pub gran16k: bool,
    /// 64 KB granule (IDR5.GRAN64K).
    pub gran64k: bool,
    /// 52-bit addressing with 4 KB / 16 KB granules (IDR5.DS).
    pub ds: bool,
    /// 128-bit descriptors (IDR5.D128).
    pub d128: bool,
    /// Virtual address extension (IDR5.VAX).
    pub vax: Vax,
    /// Maximum outstanding stalled transactions (IDR5.STALL_MAX).
    pub stall_max: u16,
}

impl Capabilities {
    /// Decodes the typed ID registers. Total: any bit patterns give a value.
    #[must_use]
    pub fn from_idrs(idr0: Idr0, idr1: Idr1, idr3: Idr3, idr5: Idr5, aidr: Aidr) -> Self {
        Self {
            version: aidr.version(),

            stage1: idr0.s1p(),
            stage2: idr0.s2p(),
            ttf: idr0.ttf(),
            coherent: idr0.cohacc(),
            btm: idr0.btm(),
            httu: idr0.httu(),
            dormhint: idr0.dormhint(),
            hyp: idr0.hyp(),
            ats: idr0.ats(),
            ns1ats: idr0.ns1ats(),
            asid_bits: if idr0.asid16() { 16 } else { 8 },
            vmid_bits: if idr0.vmid16() { 16 } else { 8 },
            msi: idr0.msi(),
            sev: idr0.sev(),
            atos: idr0.atos(),
            pri: idr0.pri(),
            vmw: idr0.vmw(),
            two_level_cd: idr0.cd2l(),
            vatos: idr0.vatos(),
            ttendian: idr0.ttendian(),
            atsrecerr: idr0.atsrecerr(),
            stall_model: idr0.stall_model(),
            term_model: idr0.term_model(),
            st_level: idr0.st_level(),
            two_level_strtab: matches!(idr0.st_level(), StLevel::TwoLevel),
            rme: idr0.rme_impl(),

            sid_bits: idr1.sidsize(),
            ssid_bits: idr1.ssidsize(),
            cmdq_max_log2size: idr1.cmdqs(),
            eventq_max_log2size: idr1.eventqs(),
            priq_max_log2size: idr1.priqs(),
            attr_perms_ovr: idr1.attr_perms_ovr(),
            attr_types_ovr: idr1.attr_types_ovr(),
            rel: idr1.rel(),
            queues_preset: idr1.queues_preset(),
            tables_preset: idr1.tables_preset(),
            ecmdq: idr1.ecmdq(),

            had: idr3.had(),
            pbha: idr3.pbha(),
            xnx: idr3.xnx(),
            pps: idr3.pps(),
            mpam: idr3.mpam(),
            fwb: idr3.fwb(),
            stt: idr3.stt(),
            ril: idr3.ril(),
            bbml: idr3.bbml(),
            e0pd: idr3.e0pd(),
            ptwnnc: idr3.ptwnnc(),
            dpt: idr3.dpt(),
            pasidtt: idr3.pasidtt(),
            epan: idr3.epan(),
            s1pi: idr3.s1pi(),
            s2pi: idr3.s2pi(),
            s2po: idr3.s2po(),
            the: idr3.the(),
            mteperm: idr3.mteperm(),
            aie: idr3.aie(),

            oas: idr5.oas(),
            gran4k: idr5.gran4k(),
            gran16k: idr5.gran16k(),
            gran64k: idr5.gran64k(),
            ds: idr5.ds(),
            d128: idr5.d128(),
            vax: idr5.vax(),
            stall_max: idr5.stall_max(),
        }
    }

    /// Decodes the raw ID register values (IDR0, IDR1, IDR3, IDR5, AIDR).
    #[must_use]
    pub fn from_raw(idr0: u32, idr1: u32, idr3: u32, idr5: u32, aidr: u32) -> Self {
        Self::from_idrs(
            Idr0::from(idr0),
            Idr1::from(idr1),
            Idr3::from(idr3),
            Idr5::from(idr5),
            Aidr::from(aidr),
        )
    }

    /// StreamID width capped at the architected 32 bits.
    #[must_use]
    pub const fn sid_bits_clamped(&self) -> u8 {
        if self.sid_bits > MAX_SID_BITS {
            MAX_SID_BITS
        } else {
            self.sid_bits
        }
    }

    /// SubstreamID width capped at the architected 20 bits.
    #[must_use]
    pub const fn ssid_bits_clamped(&self) -> u8 {
        if self.ssid_bits > MAX_SSID_BITS {
            MAX_SSID_BITS
        } else {
            self.ssid_bits
        }
    }

    /// Output address width in bits (32..=56).
    #[must_use]
    pub const fn oas_bits(&self) -> u32 {
        self.oas.bits()
    }

    /// Whether AArch32 (LPAE) translation tables are supported (IDR0.TTF).
    #[must_use]
    pub const fn aarch32_tables(&self) -> bool {
        self.ttf.aarch32()
    }

    /// Whether AArch64 translation tables are supported (IDR0.TTF).
    #[must_use]
    pub const fn aarch64_tables(&self) -> bool {
        self.ttf.aarch64()
    }

    /// Whether stalls are possible: STALL_MODEL is 0 (stall and terminate) or 2 (stall
    /// forced).
    #[must_use]
    pub const fn stalls_supported(&self) -> bool {
        matches!(
            self.stall_model,
            StallModel::StallAndTerminate | StallModel::StallForced
        )
    }

    /// The maximum LOG2SIZE advertised for queue `kind`, as read.
    #[must_use]
    pub const fn queue_max_log2size(&self, kind: QueueKind) -> u8 {
        match kind {
            QueueKind::Cmdq => self.cmdq_max_log2size,
            QueueKind::Eventq => self.eventq_max_log2size,
            QueueKind::Priq => self.priq_max_log2size,
        }
    }

    /// The largest queue of kind `kind` the SMMU supports (capped at 2^19 entries).
    #[must_use]
    pub const fn queue_max_size(&self, kind: QueueKind) -> QueueSize {
        QueueSize::new(self.queue_max_log2size(kind))
    }
}
