//! Hardware probe: the ID registers into [`Features`], checked, and the driver's
//! [`Options`] derived from them, the platform facts and the OS's [`Config`].

use smmu_regs::caps::{Capabilities, MAX_SID_BITS};
use smmu_regs::regs::{Aidr, Idr0, Idr1, Idr3, Idr5, StallModel, TtEndian, offset};
use smmu_strtab::{
    AdoptPolicy, Coherency, DEFAULT_MAX_L1, DefaultSte, Format, FormatPolicy, Geometry, Split,
    StreamTableCaps, Strictness, TablePolicy,
};

use crate::error::{Error, Unsupported};
use crate::hal::{Diagnostic, Platform, Registers};
use crate::kdump::{self, AdoptSource, AdoptionOutcome, HandoverReason};
use crate::pgtable::Stage;

/// What the OS asks of the driver. Start from [`Config::default`] and change fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// The stage of paging (DMA and unmanaged) domains; `None`: stage 1 when
    /// implemented, else stage 2.
    pub paging_stage: Option<Stage>,
    /// log2 of the command queue entries (capped at IDR1.CMDQS). Default 8.
    pub cmdq_log2size: u8,
    /// log2 of the event queue entries (capped at IDR1.EVENTQS). Default 7.
    pub evtq_log2size: u8,
    /// Enable the PRI queue when the SMMU has PRI (IDR0.PRI). Default `false`.
    pub pri: bool,
    /// log2 of the PRI queue entries (capped at IDR1.PRIQS). Default 6.
    pub priq_log2size: u8,
    /// Complete `CMD_SYNC` with an MSI write into its own queue slot when the SMMU has
    /// MSIs and is coherent (Linux MSIPOLL), instead of polling CMDQ_CONS. Default
    /// `true`.
    pub msi_poll: bool,
    /// Use the EL2-E2H translation regime for stage 1 (CR2.E2H, STE.STRW = EL2,
    /// `TLBI_EL2_*`) when the SMMU has IDR0.HYP: for a kernel running at EL2 with VHE.
    /// Default `false`.
    pub e2h: bool,
    /// Use range invalidations when IDR3.RIL says they exist. Default `true`.
    pub range_invalidation: bool,
    /// Stream table format. Default [`FormatPolicy::Auto`] (Linux's rule).
    pub strtab_format: FormatPolicy,
    /// Cap on the number of L1 descriptors of a 2-level stream table. Default 2^17.
    pub max_l1: u32,
    /// The largest linear stream table accepted, in StreamID bits. Default 20 (64 MiB).
    pub max_linear_sid_bits: u8,
    /// Unmaps of more pages than this are invalidated by ASID / VMID instead of by
    /// address when range invalidation is not available. Default 64.
    pub max_tlbi_pages: u32,
    /// Adopt the live stream table when the SMMU is found enabled in a kdump boot (or a
    /// planned [`handover`](Self::handover)), kdump.md §3. Default `true`; `false` gives
    /// the old behaviour (GBPA abort and full reset), reported as
    /// [`FallbackReason::DisabledByConfig`](crate::FallbackReason::DisabledByConfig).
    pub adopt: bool,
    /// Which layouts an adopted stream table may have. Default [`Strictness::Spec`]
    /// (every layout the architecture allows); [`Strictness::Linux`] is the reference
    /// driver's rules (SPLIT 8, Span 9, linear LOG2SIZE ≤ 25, no 4 KB CD leaves).
    pub adopt_strictness: Strictness,
    /// Also adopt on a non-coherent SMMU, with cache maintenance (invalidate before
    /// every read of adopted memory, clean after every write). Default `false`: a
    /// non-coherent SMMU falls back to the full reset
    /// ([`FallbackReason::NonCoherent`](crate::FallbackReason::NonCoherent)), as in the
    /// reference series.
    pub adopt_non_coherent: bool,
    /// A planned handover (kexec, live update) in a kernel that is not a kdump kernel:
    /// the same decision (minus "is kdump"), validation and deferral as a kdump boot.
    /// The event and PRI queues still run (kdump.md §8 is keyed on kdump only). Default
    /// `None`.
    pub handover: Option<HandoverReason>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            paging_stage: None,
            cmdq_log2size: 8,
            evtq_log2size: 7,
            pri: false,
            priq_log2size: 6,
            msi_poll: true,
            e2h: false,
            range_invalidation: true,
            strtab_format: FormatPolicy::Auto,
            max_l1: DEFAULT_MAX_L1,
            max_linear_sid_bits: 20,
            max_tlbi_pages: 64,
            adopt: true,
            adopt_strictness: Strictness::Spec,
            adopt_non_coherent: false,
            handover: None,
        }
    }
}

/// What the SMMU implements, as the driver uses it (decoded from the ID registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Features {
    /// Everything the ID registers say, decoded.
    pub caps: Capabilities,
    /// Stage 1 translation (IDR0.S1P).
    pub stage1: bool,
    /// Stage 2 translation (IDR0.S2P).
    pub stage2: bool,
    /// StreamID bits (IDR1.SIDSIZE).
    pub sid_bits: u8,
    /// SubstreamID bits (IDR1.SSIDSIZE, capped at 20; 0 without stage 1).
    pub ssid_bits: u8,
    /// 2-level stream tables (IDR0.ST_LEVEL).
    pub two_level_strtab: bool,
    /// 2-level CD tables (IDR0.CD2L).
    pub two_level_cd: bool,
    /// ASID bits (8 or 16).
    pub asid_bits: u8,
    /// VMID bits (8 or 16).
    pub vmid_bits: u8,
    /// Output address size in bits (IDR5.OAS).
    pub oas_bits: u8,
    /// IDR0.COHACC.
    pub coherent: bool,
    /// MSIs (IDR0.MSI).
    pub msi: bool,
    /// EL2 StreamWorld and `TLBI_EL2_*` (IDR0.HYP).
    pub hyp: bool,
    /// Range invalidation (IDR3.RIL).
    pub ril: bool,
    /// PRI queue (IDR0.PRI).
    pub pri: bool,
}

/// How the driver runs this SMMU: derived from [`Features`], the [`Platform`] facts and
/// the [`Config`] by [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Options {
    /// Whether table walks and queue accesses are coherent: firmware's answer when it
    /// gives one, else IDR0.COHACC. When `false`, CR1 selects non-cacheable accesses and
    /// every table and queue write is cleaned through [`TableMemory::clean`](crate::TableMemory::clean).
    pub coherent: bool,
    /// A kdump kernel: no event or PRI queue, GERROR interrupt only (kdump.md §8).
    pub kdump: bool,
    /// `CMD_SYNC` completes with an MSI write into its own slot (MSIPOLL).
    pub msi_poll: bool,
    /// The EL2-E2H regime is used for stage 1.
    pub e2h: bool,
    /// The stage of paging domains.
    pub paging_stage: Stage,
    /// log2 of the command queue entries.
    pub cmdq_log2size: u8,
    /// log2 of the event queue entries.
    pub evtq_log2size: u8,
    /// log2 of the PRI queue entries, when the PRI queue is used.
    pub priq_log2size: Option<u8>,
    /// TLBI by address uses range commands (IDR3.RIL).
    pub range_invalidation: bool,
    /// Unmaps above this many pages invalidate by ASID / VMID (without RIL).
    pub max_tlbi_pages: u32,
    /// The policy for a fresh stream table.
    pub strtab_policy: TablePolicy,
    /// The adopt option (kdump.md §3): `Some` when the live stream table is to be
    /// adopted; cleared again by [`SmmuV3::new`](crate::SmmuV3::new) if adoption fails.
    pub adopt: Option<AdoptSource>,
    /// What came of the adopt decision (updated by [`SmmuV3::new`](crate::SmmuV3::new)
    /// when adoption fails).
    pub adoption: AdoptionOutcome,
    /// The policy `StreamTable::adopt` runs with.
    pub adopt_policy: AdoptPolicy,
}

impl Options {
    /// The coherency as `smmu-strtab` wants it.
    #[must_use]
    pub const fn coherency(&self) -> Coherency {
        if self.coherent {
            Coherency::Coherent
        } else {
            Coherency::NonCoherent
        }
    }
}

/// Reads the ID registers, refuses what the driver cannot drive, and derives the
/// options (design.md §3.1, kdump.md §2 step 2, §13.3).
///
/// No register is written. In a kdump boot, issue 7's adoption decision (kdump.md §3)
/// runs at the end of this function, from the live CR0 / GERROR state: it is the only
/// place that may set the adopt option.
///
/// # Errors
///
/// [`Error::Unsupported`] with the reason, or [`Error::Table`] when no stream table
/// geometry fits the configuration.
pub fn probe<H: Registers + Platform>(
    hal: &H,
    config: &Config,
) -> Result<(Features, Options), Error> {
    let idr0 = Idr0::from(hal.read32(offset::IDR0));
    let idr1 = Idr1::from(hal.read32(offset::IDR1));
    let idr3 = Idr3::from(hal.read32(offset::IDR3));
    let idr5 = Idr5::from(hal.read32(offset::IDR5));
    let aidr = Aidr::from(hal.read32(offset::AIDR));
    let caps = Capabilities::from_idrs(idr0, idr1, idr3, idr5, aidr);
    let features = check(&caps, config)?;
    let options = derive_options(hal, &features, config)?;
    Ok((features, options))
}

/// The refusals (everything the driver cannot drive), in the order they are checked.
fn check(caps: &Capabilities, config: &Config) -> Result<Features, Error> {
    if !caps.version.is_v3() {
        return Err(Unsupported::NotSmmuV3 {
            major: caps.version.major_rev,
        }
        .into());
    }
    if caps.tables_preset || caps.queues_preset || caps.rel {
        return Err(Unsupported::PresetBases.into());
    }
    if !caps.aarch64_tables() {
        return Err(Unsupported::NoAarch64Tables.into());
    }
    if matches!(caps.ttendian, TtEndian::Reserved1 | TtEndian::Big) {
        return Err(Unsupported::TtEndian(caps.ttendian).into());
    }
    if !caps.stage1 && !caps.stage2 {
        return Err(Unsupported::NoTranslationStage.into());
    }
    if matches!(caps.stall_model, StallModel::StallForced) {
        return Err(Unsupported::StallForced.into());
    }
    if !caps.gran4k {
        return Err(Unsupported::NoGranule4K.into());
    }
    if caps.sid_bits > MAX_SID_BITS {
        return Err(Unsupported::SidSize {
            sid_bits: caps.sid_bits,
            max: MAX_SID_BITS,
        }
        .into());
    }
    let linear = !caps.two_level_strtab || matches!(config.strtab_format, FormatPolicy::Linear);
    if linear && caps.sid_bits > config.max_linear_sid_bits {
        return Err(Unsupported::SidSize {
            sid_bits: caps.sid_bits,
            max: config.max_linear_sid_bits,
        }
        .into());
    }
    Ok(Features {
        caps: *caps,
        stage1: caps.stage1,
        stage2: caps.stage2,
        sid_bits: caps.sid_bits,
        ssid_bits: if caps.stage1 {
            caps.ssid_bits_clamped()
        } else {
            0
        },
        two_level_strtab: caps.two_level_strtab,
        two_level_cd: caps.two_level_cd,
        asid_bits: caps.asid_bits,
        vmid_bits: caps.vmid_bits,
        // 32..=56: fits.
        oas_bits: caps.oas_bits() as u8,
        coherent: caps.coherent,
        msi: caps.msi,
        hyp: caps.hyp,
        ril: caps.ril,
        pri: caps.pri,
    })
}

fn derive_options<P: Registers + Platform>(
    platform: &P,
    features: &Features,
    config: &Config,
) -> Result<Options, Error> {
    let coherent = match platform.firmware_coherent() {
        Some(firmware) => {
            if firmware != features.coherent {
                platform.diagnostic(Diagnostic::CoherencyMismatch {
                    firmware,
                    hardware: features.coherent,
                });
            }
            firmware
        }
        None => features.coherent,
    };
    let kdump = platform.is_kdump_kernel();
    let paging_stage = match config.paging_stage {
        None if features.stage1 => Stage::Stage1,
        None => Stage::Stage2,
        Some(Stage::Stage1) if features.stage1 => Stage::Stage1,
        Some(Stage::Stage2) if features.stage2 => Stage::Stage2,
        Some(_) => return Err(Unsupported::StageUnavailable.into()),
    };
    let caps = &features.caps;
    let strtab_policy = TablePolicy {
        format: config.strtab_format,
        split: Split::S8,
        max_l1: config.max_l1,
        coherency: if coherent {
            Coherency::Coherent
        } else {
            Coherency::NonCoherent
        },
        default_ste: DefaultSte::Abort,
    };
    let geometry = Geometry::choose(StreamTableCaps::from(caps), &strtab_policy)
        .map_err(smmu_strtab::TableError::from)?;
    if matches!(geometry.format(), Format::TwoLevel { .. })
        && geometry.log2size() < features.sid_bits
    {
        platform.diagnostic(Diagnostic::StreamTableTruncated {
            sid_bits: features.sid_bits,
            covered_bits: geometry.log2size(),
        });
    }
    let use_pri = config.pri && features.pri && !kdump;
    // kdump.md §3: the adopt decision is taken here, last: kdump boot (or planned
    // handover), CR0.SMMUEN == 1, `coherent`, and no Service Failure Mode.
    let decision = kdump::decide(platform, config, kdump, coherent);
    Ok(Options {
        coherent,
        kdump,
        msi_poll: config.msi_poll && features.msi && coherent,
        e2h: config.e2h && features.hyp && features.stage1,
        paging_stage,
        cmdq_log2size: config.cmdq_log2size.min(caps.cmdq_max_log2size).min(19),
        evtq_log2size: config.evtq_log2size.min(caps.eventq_max_log2size).min(19),
        priq_log2size: use_pri.then(|| config.priq_log2size.min(caps.priq_max_log2size).min(19)),
        range_invalidation: config.range_invalidation && features.ril,
        max_tlbi_pages: config.max_tlbi_pages,
        strtab_policy,
        adopt: decision.adopt,
        adoption: decision.outcome,
        adopt_policy: kdump::policy(config, coherent),
    })
}
