//! The model's build-time configuration: which features the "hardware" has, reported
//! through the ID registers, and the sizes of its caches.

/// The SMMU architecture version reported in `AIDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SmmuVersion {
    /// SMMUv3.0 (`AIDR` = 0x00).
    V3_0,
    /// SMMUv3.1 (`AIDR` = 0x01).
    V3_1,
    /// SMMUv3.2 (`AIDR` = 0x02).
    V3_2,
}

/// When the command queue is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmdqMode {
    /// Commands are consumed synchronously inside the register write that makes them
    /// visible (`CMDQ_PROD`, `CR0`, `GERRORN`), as the spec allows.
    Synchronous,
    /// Commands are consumed only when [`Smmu::process_commands`](crate::Smmu::process_commands)
    /// is called (for example from a test or a worker thread), so that software has
    /// to poll `CMDQ_CONS` as on real hardware.
    Manual,
}

/// The model's configuration. Build it with [`ModelConfig::default`] (a realistic
/// SMMUv3.2 with both stages) and the builder methods:
///
/// ```
/// use smmu_model::{ModelConfig, SmmuVersion};
/// let cfg = ModelConfig::default()
///     .version(SmmuVersion::V3_1)
///     .sid_bits(8)
///     .two_level_strtab(false)
///     .stage2(false);
/// assert_eq!(cfg.idr1() & 0x3F, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    pub(crate) version: SmmuVersion,
    pub(crate) sid_bits: u32,
    pub(crate) ssid_bits: u32,
    pub(crate) two_level_strtab: bool,
    pub(crate) stage1: bool,
    pub(crate) stage2: bool,
    pub(crate) oas_bits: u32,
    pub(crate) gran4k: bool,
    pub(crate) gran16k: bool,
    pub(crate) gran64k: bool,
    pub(crate) coherent: bool,
    pub(crate) cmdq_log2: u32,
    pub(crate) eventq_log2: u32,
    pub(crate) priq_log2: u32,
    pub(crate) asid16: bool,
    pub(crate) vmid16: bool,
    pub(crate) cd2l: bool,
    pub(crate) msi: bool,
    pub(crate) ats: bool,
    pub(crate) pri: bool,
    pub(crate) stall_model: u32,
    pub(crate) term_model: bool,
    pub(crate) hyp: bool,
    pub(crate) btm: bool,
    pub(crate) ril: bool,
    pub(crate) had: bool,
    pub(crate) tlb_entries: usize,
    pub(crate) config_cache_entries: usize,
    pub(crate) cache_invalid_ste: bool,
    pub(crate) fault_log_capacity: usize,
    pub(crate) gbpa_reset: u32,
    pub(crate) cmdq_mode: CmdqMode,
}

impl Default for ModelConfig {
    /// A realistic SMMUv3.2: 16 StreamID bits, 8 SubstreamID bits, 2-level stream
    /// tables, stage 1 and stage 2, 48-bit OAS, 4 KiB and 64 KiB granules, coherent
    /// table walks, 2^19-entry queues, 16-bit ASIDs and VMIDs, 2-level CD tables, MSIs,
    /// ATS, EL2 (HYP), range invalidation, HAD, terminate-only fault model
    /// (`STALL_MODEL` = 1), GBPA resetting to bypass, 2048 TLB entries.
    fn default() -> Self {
        Self {
            version: SmmuVersion::V3_2,
            sid_bits: 16,
            ssid_bits: 8,
            two_level_strtab: true,
            stage1: true,
            stage2: true,
            oas_bits: 48,
            gran4k: true,
            gran16k: false,
            gran64k: true,
            coherent: true,
            cmdq_log2: 19,
            eventq_log2: 19,
            priq_log2: 19,
            asid16: true,
            vmid16: true,
            cd2l: true,
            msi: true,
            ats: true,
            pri: false,
            stall_model: 1,
            term_model: false,
            hyp: true,
            btm: false,
            ril: true,
            had: true,
            tlb_entries: 2048,
            config_cache_entries: 512,
            cache_invalid_ste: true,
            fault_log_capacity: 4096,
            gbpa_reset: 0x0000_1000,
            cmdq_mode: CmdqMode::Synchronous,
        }
    }
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl ModelConfig {
    setters! {
        /// Architecture version (`AIDR`). Write guards follow the v3.2 "ignore" rule
        /// for every version (a permitted choice for v3.0/v3.1).
        version: SmmuVersion,
        /// `IDR1.SIDSIZE`, clamped to 0..=32.
        sid_bits: u32,
        /// `IDR1.SSIDSIZE`, clamped to 0..=20.
        ssid_bits: u32,
        /// `IDR0.ST_LEVEL` = 1 (2-level stream tables supported).
        two_level_strtab: bool,
        /// `IDR0.S1P`.
        stage1: bool,
        /// `IDR0.S2P`.
        stage2: bool,
        /// `IDR5.GRAN4K`.
        gran4k: bool,
        /// `IDR5.GRAN16K`.
        gran16k: bool,
        /// `IDR5.GRAN64K`.
        gran64k: bool,
        /// `IDR0.COHACC`.
        coherent: bool,
        /// `IDR1.CMDQS`, clamped to 0..=19.
        cmdq_log2: u32,
        /// `IDR1.EVENTQS`, clamped to 0..=19.
        eventq_log2: u32,
        /// `IDR1.PRIQS`, clamped to 0..=19.
        priq_log2: u32,
        /// `IDR0.ASID16`.
        asid16: bool,
        /// `IDR0.VMID16`.
        vmid16: bool,
        /// `IDR0.CD2L`.
        cd2l: bool,
        /// `IDR0.MSI`.
        msi: bool,
        /// `IDR0.ATS` (`ATC_INV` accepted, STE.EATS checked).
        ats: bool,
        /// `IDR0.PRI` (`PRI_RESP` accepted; the model never produces PRI requests).
        pri: bool,
        /// `IDR0.STALL_MODEL` (0, 1 or 2). The model never stalls a transaction: with 0
        /// or 2, a fault that would stall is terminated instead (documented deviation).
        stall_model: u32,
        /// `IDR0.TERM_MODEL`: when set, `CD.A` must be 1.
        term_model: bool,
        /// `IDR0.HYP` (EL2 StreamWorld, `TLBI_EL2_*`, `CR2.E2H`).
        hyp: bool,
        /// `IDR0.BTM` (broadcast TLB maintenance; the model has no broadcast source, so
        /// this only changes the reported bit and makes `CR2.PTM` writable).
        btm: bool,
        /// `IDR3.RIL` (range invalidation; mandatory from v3.2).
        ril: bool,
        /// `IDR3.HAD` (hierarchical attribute disable, `CD.HAD0/HAD1`).
        had: bool,
        /// Capacity of the TLB (entries; rounded to a multiple of 8 ways).
        tlb_entries: usize,
        /// Capacity of each configuration cache (STEs, CDs; rounded to 4 ways).
        config_cache_entries: usize,
        /// Whether an STE found invalid (`V` = 0 or ILLEGAL) is cached until
        /// `CFGI_STE`, as the spec permits. On by default: the strictest choice.
        cache_invalid_ste: bool,
        /// How many fault records the internal fault log keeps (older ones are dropped;
        /// counters are never dropped).
        fault_log_capacity: usize,
        /// `GBPA` reset value (bit 20 = ABORT). Default 0x1000: bypass, SHCFG incoming.
        gbpa_reset: u32,
        /// When commands are consumed.
        cmdq_mode: CmdqMode,
    }

    /// `IDR5.OAS` as a number of bits: 32, 36, 40, 42, 44 or 48 (other values are
    /// rounded down to the nearest encodable size; 52 and 56 are not modelled).
    #[must_use]
    pub fn oas_bits(mut self, bits: u32) -> Self {
        self.oas_bits = match bits {
            0..=35 => 32,
            36..=39 => 36,
            40..=41 => 40,
            42..=43 => 42,
            44..=47 => 44,
            _ => 48,
        };
        self
    }

    pub(crate) fn sid_bits_eff(&self) -> u32 {
        self.sid_bits.min(32)
    }

    pub(crate) fn ssid_bits_eff(&self) -> u32 {
        self.ssid_bits.min(20)
    }

    pub(crate) fn oas_enc(&self) -> u32 {
        match self.oas_bits {
            32 => 0,
            36 => 1,
            40 => 2,
            42 => 3,
            44 => 4,
            _ => 5,
        }
    }

    /// Whether the granule with this log2 size (12, 14 or 16) is supported.
    pub(crate) fn granule_ok(&self, log2: u32) -> bool {
        match log2 {
            12 => self.gran4k,
            14 => self.gran16k,
            16 => self.gran64k,
            _ => false,
        }
    }

    pub(crate) fn cmdqs(&self) -> u32 {
        self.cmdq_log2.min(19)
    }

    pub(crate) fn eventqs(&self) -> u32 {
        self.eventq_log2.min(19)
    }

    pub(crate) fn priqs(&self) -> u32 {
        self.priq_log2.min(19)
    }

    /// The STE validity inputs (`smmu_regs::ste::SteCheckCaps`) of this model.
    pub(crate) fn ste_caps(&self) -> smmu_regs::ste::SteCheckCaps {
        smmu_regs::ste::SteCheckCaps {
            s1p: self.stage1,
            s2p: self.stage2,
            ats: self.ats,
            // IDR0.NS1ATS is set with ATS: split-stage ATS is not supported.
            ns1ats: self.ats,
            hyp: self.hyp,
            stall_model: self.stall_model.min(2) as u8,
            ssid_bits: self.ssid_bits_eff() as u8,
            cd2l: self.cd2l,
            oas_bits: self.oas_bits as u8,
            ttf_aarch32: false,
            ttf_aarch64: true,
            ttendian: 2,
            httu: 0,
            vmid16: self.vmid16,
            fwb: false,
            dpt: false,
            stt: false,
            gran4k: self.gran4k,
            gran16k: self.gran16k,
            gran64k: self.gran64k,
            ds: false,
            version: self.aidr() as u8,
        }
    }

    /// The CD validity inputs (`smmu_regs::cd::CdCheckCaps`) of this model.
    pub(crate) fn cd_caps(&self) -> smmu_regs::cd::CdCheckCaps {
        smmu_regs::cd::CdCheckCaps {
            stall_model: self.stall_model.min(2) as u8,
            term_model: self.term_model,
            ttendian: 2,
            ttf_aarch32: false,
            ttf_aarch64: true,
            httu: 0,
            asid16: self.asid16,
            stt: false,
            gran4k: self.gran4k,
            gran16k: self.gran16k,
            gran64k: self.gran64k,
            ds: false,
            vax: 0,
            oas_bits: self.oas_bits as u8,
            version: self.aidr() as u8,
        }
    }

    /// `IDR0` as the model reports it.
    #[must_use]
    pub fn idr0(&self) -> u32 {
        let mut v = 0u32;
        v |= u32::from(self.stage2);
        v |= u32::from(self.stage1) << 1;
        v |= 0b10 << 2; // TTF: AArch64 tables only
        v |= u32::from(self.coherent) << 4;
        v |= u32::from(self.btm) << 5;
        v |= u32::from(self.hyp) << 9;
        v |= u32::from(self.ats) << 10;
        v |= u32::from(self.ats) << 11; // NS1ATS: split-stage ATS not supported
        v |= u32::from(self.asid16) << 12;
        v |= u32::from(self.msi) << 13;
        v |= u32::from(self.pri) << 16;
        v |= u32::from(self.vmid16) << 18;
        v |= u32::from(self.cd2l) << 19;
        v |= 0b10 << 21; // TTENDIAN: little-endian only
        v |= (self.stall_model.min(2)) << 24;
        v |= u32::from(self.term_model) << 26;
        v |= u32::from(self.two_level_strtab) << 27;
        v
    }

    /// `IDR1` as the model reports it (no presets, no ECMDQ).
    #[must_use]
    pub fn idr1(&self) -> u32 {
        self.sid_bits_eff()
            | self.ssid_bits_eff() << 6
            | self.priqs() << 11
            | self.eventqs() << 16
            | self.cmdqs() << 21
    }

    /// `IDR3` as the model reports it (HAD, RIL).
    #[must_use]
    pub fn idr3(&self) -> u32 {
        u32::from(self.had) << 2 | u32::from(self.ril) << 10
    }

    /// `IDR5` as the model reports it (OAS, granules; `STALL_MAX` when stalls are
    /// advertised).
    #[must_use]
    pub fn idr5(&self) -> u32 {
        let stall_max = if self.stall_model == 1 { 0 } else { 32 };
        self.oas_enc()
            | u32::from(self.gran4k) << 4
            | u32::from(self.gran16k) << 5
            | u32::from(self.gran64k) << 6
            | stall_max << 16
    }

    /// `AIDR` as the model reports it.
    #[must_use]
    pub fn aidr(&self) -> u32 {
        match self.version {
            SmmuVersion::V3_0 => 0,
            SmmuVersion::V3_1 => 1,
            SmmuVersion::V3_2 => 2,
        }
    }
}
