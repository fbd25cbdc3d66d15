//! Adoption of a live stream table left by a previous kernel (kdump.md, issue 7).
//!
//! * [`decide`]: the adopt decision at the end of [`probe`](crate::probe) (kdump.md §3):
//!   a kdump boot (or a planned handover, [`Config::handover`](crate::Config::handover)),
//!   CR0.SMMUEN = 1, a coherent SMMU (or [`Config::adopt_non_coherent`](crate::Config::adopt_non_coherent)),
//!   no Service Failure Mode.
//! * [`adopt`]: `StreamTable::adopt` on the live STRTAB_BASE / STRTAB_BASE_CFG (every
//!   structural rule of §4), then the ASID / VMID reservation scan of §6. Any failure
//!   undoes everything (§4.5) and returns the [`FallbackReason`].
//!
//! The adopt-mode reset (§7) is [`SmmuV3::reset`](crate::SmmuV3::reset) on an
//! [`StrtabSource::Adopted`](crate::StrtabSource::Adopted) table; the deferral rule (§10)
//! is the driver's `is_attach_deferred`; lazy L2 adoption (§5) is `StreamTable::ensure_sid`
//! in `probe_device`.
//!
//! RMR bypass STEs (§9): the driver installs none yet, so there is nothing to skip; when
//! RMR support is added it must not run on an adopted table.

use smmu_regs::regs::{Cr0, Gerror, offset};
use smmu_regs::{PhysAddr, StreamId};
use smmu_strtab::{
    AdoptError, AdoptPolicy, CdSlot, Coherency, DmaRegion, EnsureError, MemoryError, ScanError,
    StreamTable, StreamTableCaps, Strictness, TableMemory,
};

use crate::hal::{Diagnostic, Platform, Registers};
use crate::idalloc::{IdAllocator, IdError};
use crate::probe::{Config, Features};

/// Why a planned (non-crash) handover adopts the running SMMU's tables: the caller's
/// label, reported back in [`AdoptSource::PlannedHandover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HandoverReason {
    /// A kexec reboot into a new kernel with devices left running.
    Kexec,
    /// A live update of the kernel or hypervisor.
    LiveUpdate,
    /// Anything else, with the caller's code.
    Other(u32),
}

/// Which boot adopts the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AdoptSource {
    /// A kdump (crash) kernel ([`Platform::is_kdump_kernel`]).
    Kdump,
    /// A planned handover asked for with [`Config::handover`](crate::Config::handover).
    PlannedHandover(HandoverReason),
}

/// What came of the adoption ([`SmmuV3::adoption`](crate::SmmuV3::adoption)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AdoptionOutcome {
    /// The live stream table was adopted: the SMMU stays enabled and devices with live
    /// STEs are deferred.
    Adopted {
        /// The kind of boot.
        source: AdoptSource,
    },
    /// Adoption was considered and refused: the normal full reset runs.
    FellBack(FallbackReason),
    /// Nothing to adopt: not a kdump boot nor a planned handover, and the SMMU is
    /// disabled (an ordinary cold boot).
    NotAttempted,
}

impl AdoptionOutcome {
    /// Why the driver fell back to the full reset, if it did.
    ///
    /// ```
    /// use smmu_v3_driver::{AdoptSource, AdoptionOutcome, FallbackReason};
    ///
    /// let fell_back = AdoptionOutcome::FellBack(FallbackReason::SmmuDisabled);
    /// assert_eq!(fell_back.fallback_reason(), Some(FallbackReason::SmmuDisabled));
    /// let adopted = AdoptionOutcome::Adopted { source: AdoptSource::Kdump };
    /// assert_eq!(adopted.fallback_reason(), None);
    /// ```
    #[must_use]
    pub const fn fallback_reason(&self) -> Option<FallbackReason> {
        match self {
            Self::FellBack(reason) => Some(*reason),
            Self::Adopted { .. } | Self::NotAttempted => None,
        }
    }
}

/// Why the driver did not adopt the live tables and ran the normal full reset
/// (kdump.md §3, §4.5, §6). Reported as [`Diagnostic::AdoptionFallback`] (except
/// [`NotKdump`](Self::NotKdump), the ordinary boot) and by
/// [`SmmuV3::adoption`](crate::SmmuV3::adoption).
///
/// `Display` gives a one-line message for the kernel log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FallbackReason {
    /// The SMMU is enabled but this is neither a kdump kernel nor a planned handover.
    #[error("the SMMU is enabled, but this is neither a kdump kernel nor a planned handover")]
    NotKdump,
    /// [`Config::adopt`](crate::Config::adopt) is `false` (the pre-series behaviour).
    #[error("adoption is disabled by the configuration")]
    DisabledByConfig,
    /// CR0.SMMUEN is 0: nothing is live (and the registers may be meaningless).
    #[error("the SMMU is disabled (CR0.SMMUEN = 0): nothing to adopt")]
    SmmuDisabled,
    /// The SMMU is not coherent and [`Config::adopt_non_coherent`](crate::Config::adopt_non_coherent)
    /// is off.
    #[error("the SMMU is not coherent and non-coherent adoption is off")]
    NonCoherent,
    /// GERROR.SFM_ERR is active: a broken SMMU is never adopted.
    #[error("the SMMU is in Service Failure Mode (GERROR.SFM_ERR)")]
    ServiceFailureMode,
    /// The live stream table violates a structural rule (kdump.md §4.2–§4.4).
    #[error("the live stream table is malformed: {0}")]
    Table(AdoptError),
    /// The ASID / VMID scan found a malformed entry (kdump.md §6).
    #[error("the ASID / VMID scan of the live tables failed: {0}")]
    Scan(ScanFailure),
}

impl core::hash::Hash for FallbackReason {
    /// Hashes the kind of reason only (the payloads' types are not `Hash`); consistent
    /// with `Eq`.
    fn hash<S: core::hash::Hasher>(&self, state: &mut S) {
        core::mem::discriminant(self).hash(state);
    }
}

/// A malformed entry found by the ASID / VMID reservation scan (kdump.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ScanFailure {
    /// An L1 range of the stream table could not be read (bad descriptor or mapping).
    #[error("L1 descriptor {index} of the stream table cannot be read: {error}")]
    StreamRange {
        /// The L1 index.
        index: u32,
        /// Why.
        error: EnsureError,
    },
    /// STE Config is reserved (0b001..=0b011). Hardware treats these as abort; kdump.md
    /// §6 rejects them ("any other value: fail") and so does the driver.
    #[error("{sid}: STE.Config {config:#05b} is reserved")]
    ReservedConfig {
        /// The StreamID.
        sid: StreamId,
        /// The Config field.
        config: u8,
    },
    /// A translating STE needs a stage the SMMU does not implement.
    #[error("{sid}: the STE translates with a stage the SMMU does not implement")]
    StageUnsupported {
        /// The StreamID.
        sid: StreamId,
    },
    /// S1_TRANS with S1ContextPtr = 0.
    #[error("{sid}: stage-1 STE with S1ContextPtr = 0")]
    NullContextPtr {
        /// The StreamID.
        sid: StreamId,
    },
    /// S1CDMax above IDR1.SSIDSIZE.
    #[error("{sid}: S1CDMax {cdmax} exceeds the SMMU's {ssid_bits} SubstreamID bits")]
    CdMaxTooLarge {
        /// The StreamID.
        sid: StreamId,
        /// S1CDMax.
        cdmax: u8,
        /// The SMMU's SubstreamID bits.
        ssid_bits: u8,
    },
    /// S1Fmt not accepted: reserved (3), 4K leaves under [`Strictness::Linux`], or a
    /// 2-level format without IDR0.CD2L.
    #[error("{sid}: S1Fmt {fmt} is not accepted")]
    CdFormat {
        /// The StreamID.
        sid: StreamId,
        /// S1Fmt.
        fmt: u8,
    },
    /// A valid L1CD with a null or misaligned leaf pointer.
    #[error("{sid}: L1CD {index} is valid with a null or misaligned leaf pointer")]
    BadL1Cd {
        /// The StreamID.
        sid: StreamId,
        /// The L1CD index.
        index: u32,
    },
    /// A CD table (or leaf) could not be mapped.
    #[error("{sid}: a CD table cannot be mapped: {error}")]
    CdMap {
        /// The StreamID.
        sid: StreamId,
        /// The mapping error.
        error: MemoryError,
    },
    /// A valid CD's ASID is 0 or not below 2^asid_bits.
    #[error("{sid}: CD with ASID {asid} (0 or out of range)")]
    BadAsid {
        /// The StreamID.
        sid: StreamId,
        /// The ASID.
        asid: u32,
    },
    /// An S2_TRANS / NESTED STE's S2VMID is 0 or not below 2^vmid_bits.
    #[error("{sid}: STE with S2VMID {vmid} (0 or out of range)")]
    BadVmid {
        /// The StreamID.
        sid: StreamId,
        /// The VMID.
        vmid: u32,
    },
}

/// The result of [`decide`].
pub(crate) struct Decision {
    pub(crate) adopt: Option<AdoptSource>,
    pub(crate) outcome: AdoptionOutcome,
}

/// The adopt decision (kdump.md §3), in the spec's order; the first failing check ends
/// it. Reads CR0, GERROR and GERRORN only.
pub(crate) fn decide<H: Registers + Platform>(
    hal: &H,
    config: &Config,
    kdump: bool,
    coherent: bool,
) -> Decision {
    let enabled = Cr0::from_bits_retain(hal.read32(offset::CR0)).contains(Cr0::SMMUEN);
    let source = if kdump {
        Some(AdoptSource::Kdump)
    } else {
        config.handover.map(AdoptSource::PlannedHandover)
    };
    let fall_back = |reason| {
        if reason != FallbackReason::NotKdump {
            hal.diagnostic(Diagnostic::AdoptionFallback { reason });
        }
        Decision {
            adopt: None,
            outcome: AdoptionOutcome::FellBack(reason),
        }
    };
    let Some(source) = source else {
        return if enabled {
            fall_back(FallbackReason::NotKdump)
        } else {
            Decision {
                adopt: None,
                outcome: AdoptionOutcome::NotAttempted,
            }
        };
    };
    if !config.adopt {
        return fall_back(FallbackReason::DisabledByConfig);
    }
    if !enabled {
        return fall_back(FallbackReason::SmmuDisabled);
    }
    if !coherent && !config.adopt_non_coherent {
        return fall_back(FallbackReason::NonCoherent);
    }
    let gerror = Gerror::from_bits_retain(hal.read32(offset::GERROR));
    let gerrorn = Gerror::from_bits_retain(hal.read32(offset::GERRORN));
    if gerror.active(gerrorn).contains(Gerror::SFM_ERR) {
        return fall_back(FallbackReason::ServiceFailureMode);
    }
    Decision {
        adopt: Some(source),
        outcome: AdoptionOutcome::Adopted { source },
    }
}

/// The adoption policy from the configuration.
pub(crate) fn policy(config: &Config, coherent: bool) -> AdoptPolicy {
    AdoptPolicy {
        strictness: config.adopt_strictness,
        max_l1: config.max_l1,
        coherency: if coherent {
            Coherency::Coherent
        } else {
            Coherency::NonCoherent
        },
        ..AdoptPolicy::default()
    }
}

/// Adopts the live stream table and reserves the ASIDs / VMIDs it uses (kdump.md §4, §6).
/// On error nothing stays mapped or reserved (§4.5): the table is dropped (its mappings
/// released) and the reservations rolled back.
pub(crate) fn adopt<H: Registers + TableMemory + Clone>(
    hal: &H,
    features: &Features,
    policy: &AdoptPolicy,
    asids: &mut Option<IdAllocator>,
    vmids: &mut Option<IdAllocator>,
) -> Result<StreamTable<H>, FallbackReason> {
    let base = hal.read64(offset::STRTAB_BASE);
    let cfg = hal.read32(offset::STRTAB_BASE_CFG);
    let caps = StreamTableCaps::from(&features.caps);
    let table =
        StreamTable::adopt(hal.clone(), caps, base, cfg, policy).map_err(FallbackReason::Table)?;
    let mut scan = Scan {
        mem: hal,
        features,
        strictness: policy.strictness,
        coherency: policy.coherency,
        asids: asids.as_mut(),
        vmids: vmids.as_mut(),
    };
    let scanned = table
        .for_each_valid_ste(|sid, ste| scan.ste(sid, ste))
        .map_err(|e| match e {
            ScanError::Callback(f) => f,
            ScanError::Range { index, error } => ScanFailure::StreamRange { index, error },
            other => ScanFailure::StreamRange {
                index: u32::MAX,
                error: EnsureError::from(scan_access(other)),
            },
        });
    match scanned {
        Ok(()) => {
            for ids in [asids.as_mut(), vmids.as_mut()].into_iter().flatten() {
                ids.commit_reservations();
            }
            Ok(table)
        }
        Err(f) => {
            for ids in [asids.as_mut(), vmids.as_mut()].into_iter().flatten() {
                ids.rollback_reservations();
            }
            drop(table);
            Err(FallbackReason::Scan(f))
        }
    }
}

/// The access error of a scan error that is neither a callback nor a range error.
fn scan_access<E>(e: ScanError<E>) -> smmu_strtab::AccessError {
    match e {
        ScanError::Access(a) => a,
        _ => smmu_strtab::AccessError { index: 0, len: 0 },
    }
}

// STE / CD / L1CD fields used by the scan (kdump.md §13.4, smmuv3.md §2).
const STE_V: u64 = 1;
const STE_CONFIG_SHIFT: u32 = 1;
const STE_S1FMT_SHIFT: u32 = 4;
const STE_S1CTXPTR_MASK: u64 = 0x00ff_ffff_ffff_ffc0; // [55:6]
const STE_S1CDMAX_SHIFT: u32 = 59;
const STE_S2VMID_MASK: u64 = 0xffff; // dw2[15:0]
const CD_V: u64 = 1 << 31;
const CD_ASID_SHIFT: u32 = 48;
const L1CD_V: u64 = 1;
const L1CD_L2PTR_MASK: u64 = 0x00ff_ffff_ffff_f000; // [55:12]

/// STE Config values (smmuv3.md §2.1).
const CONFIG_ABORT: u8 = 0;
const CONFIG_BYPASS: u8 = 4;
const CONFIG_S1: u8 = 5;
const CONFIG_S2: u8 = 6;
const CONFIG_NESTED: u8 = 7;

/// Whether an STE's dw0 makes its device's attach deferred (kdump.md §10): V = 1 and
/// Config ≠ ABORT. Reserved Configs cannot occur on an adopted table (the scan rejects
/// them), so the literal rule is used.
pub(crate) const fn live_dw0(dw0: u64) -> bool {
    dw0 & STE_V != 0 && ((dw0 >> STE_CONFIG_SHIFT) & 7) as u8 != CONFIG_ABORT
}

struct Scan<'a, H> {
    mem: &'a H,
    features: &'a Features,
    strictness: Strictness,
    coherency: Coherency,
    asids: Option<&'a mut IdAllocator>,
    vmids: Option<&'a mut IdAllocator>,
}

/// Reserves `id` in `ids`; "already reserved" is fine (kdump.md §6).
fn reserve(ids: &mut IdAllocator, id: u32) -> Result<(), IdError> {
    ids.reserve(id).map(|_| ())
}

impl<H: TableMemory> Scan<'_, H> {
    fn ste(&mut self, sid: StreamId, ste: &[u64; 8]) -> Result<(), ScanFailure> {
        let dw0 = ste[0];
        let config = ((dw0 >> STE_CONFIG_SHIFT) & 7) as u8;
        match config {
            CONFIG_ABORT | CONFIG_BYPASS => Ok(()),
            CONFIG_S1 => self.stage1(sid, dw0),
            CONFIG_S2 | CONFIG_NESTED => {
                let vmid = (ste[2] & STE_S2VMID_MASK) as u32;
                let ids = self
                    .vmids
                    .as_deref_mut()
                    .ok_or(ScanFailure::StageUnsupported { sid })?;
                reserve(ids, vmid).map_err(|_| ScanFailure::BadVmid { sid, vmid })
            }
            config => Err(ScanFailure::ReservedConfig { sid, config }),
        }
    }

    /// Maps `len` bytes at `pa` for reading (invalidated first when non-coherent), runs
    /// `f`, unmaps.
    fn with_mapped<R>(
        &mut self,
        sid: StreamId,
        pa: u64,
        len: usize,
        f: impl FnOnce(&mut Self, &DmaRegion) -> Result<R, ScanFailure>,
    ) -> Result<R, ScanFailure> {
        let region = self
            .mem
            .map(PhysAddr(pa), len)
            .map_err(|error| ScanFailure::CdMap { sid, error })?;
        if self.coherency == Coherency::NonCoherent {
            self.mem.invalidate(&region, 0, len);
        }
        let r = f(self, &region);
        // SAFETY: mapped above for this call only; released once.
        unsafe { self.mem.unmap(region) };
        r
    }

    fn stage1(&mut self, sid: StreamId, dw0: u64) -> Result<(), ScanFailure> {
        if self.asids.is_none() {
            return Err(ScanFailure::StageUnsupported { sid });
        }
        let ptr = dw0 & STE_S1CTXPTR_MASK;
        if ptr == 0 {
            return Err(ScanFailure::NullContextPtr { sid });
        }
        let cdmax = (dw0 >> STE_S1CDMAX_SHIFT) as u8;
        let ssid_bits = self.features.ssid_bits;
        if cdmax > ssid_bits {
            return Err(ScanFailure::CdMaxTooLarge {
                sid,
                cdmax,
                ssid_bits,
            });
        }
        let fmt = ((dw0 >> STE_S1FMT_SHIFT) & 3) as u8;
        if cdmax == 0 {
            // Substreams disabled: one CD, S1Fmt ignored (smmuv3.md §2.2).
            return self.with_mapped(sid, ptr, 64, |s, r| s.cds(sid, r, 1));
        }
        let leaf_bits = match (fmt, self.strictness) {
            (0, _) => {
                let n = 1usize << cdmax;
                return self.with_mapped(sid, ptr, n * 64, |s, r| s.cds(sid, r, n));
            }
            // 4 KB leaves (64 CDs): architected, accepted under Spec strictness only.
            (1, Strictness::Spec) if self.features.two_level_cd => 6,
            (2, _) if self.features.two_level_cd => 10,
            _ => return Err(ScanFailure::CdFormat { sid, fmt }),
        };
        let num_l1 = if cdmax > leaf_bits {
            1usize << (cdmax - leaf_bits)
        } else {
            1
        };
        let leaf_cds = 1usize << cdmax.min(leaf_bits);
        let leaf_align = (64u64 << leaf_bits) - 1;
        self.with_mapped(sid, ptr, (num_l1 * 8).max(64), |s, l1| {
            for index in 0..num_l1 {
                let words = CdSlot::new(s.mem, l1, index / 8, s.coherency)
                    .and_then(|slot| slot.read())
                    .map_err(|_| ScanFailure::BadL1Cd {
                        sid,
                        index: index as u32,
                    })?;
                let desc = words[index % 8];
                if desc & L1CD_V == 0 {
                    continue;
                }
                let leaf = desc & L1CD_L2PTR_MASK;
                if leaf == 0 || leaf & leaf_align != 0 {
                    return Err(ScanFailure::BadL1Cd {
                        sid,
                        index: index as u32,
                    });
                }
                s.with_mapped(sid, leaf, leaf_cds * 64, |s, r| s.cds(sid, r, leaf_cds))?;
            }
            Ok(())
        })
    }

    /// Reserves the ASID of every valid CD among the first `n` of `region`.
    fn cds(&mut self, sid: StreamId, region: &DmaRegion, n: usize) -> Result<(), ScanFailure> {
        let Some(ids) = self.asids.as_deref_mut() else {
            return Err(ScanFailure::StageUnsupported { sid });
        };
        for i in 0..n {
            let cd = CdSlot::new(self.mem, region, i, self.coherency)
                .and_then(|slot| slot.read())
                .map_err(|_| ScanFailure::CdMap {
                    sid,
                    error: MemoryError::BadRegion,
                })?;
            if cd[0] & CD_V == 0 {
                continue;
            }
            let asid = (cd[0] >> CD_ASID_SHIFT) as u32;
            reserve(ids, asid).map_err(|_| ScanFailure::BadAsid { sid, asid })?;
        }
        Ok(())
    }
}
