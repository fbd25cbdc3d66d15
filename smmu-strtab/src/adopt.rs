//! Adoption of a live stream table left by a previous kernel (kdump.md §4, §5, §17).

use smmu_regs::PhysAddr;

use crate::access;
use crate::error::AdoptError;
use crate::geometry::{DEFAULT_MAX_L1, DefaultSte, Geometry, Split, StreamTableCaps};
use crate::memory::{self, Coherency, TableMemory};
use crate::regs;
use crate::table::{L1Violation, StreamTable, Strictness, alloc_slots, check_l1_desc};

/// Policy for [`StreamTable::adopt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdoptPolicy {
    /// Which layouts are accepted.
    pub strictness: Strictness,
    /// Cap on the number of L1 descriptors (Linux: 2^17).
    pub max_l1: u32,
    /// Whether the SMMU's table walks are coherent. With
    /// [`Coherency::NonCoherent`] every adopted region is invalidated before it is read.
    pub coherency: Coherency,
    /// The STE that fills fresh L2 tables created for unused L1 ranges.
    pub default_ste: DefaultSte,
}

impl Default for AdoptPolicy {
    fn default() -> Self {
        Self {
            strictness: Strictness::Spec,
            max_l1: DEFAULT_MAX_L1,
            coherency: Coherency::Coherent,
            default_ste: DefaultSte::Abort,
        }
    }
}

/// The largest linear LOG2SIZE any policy accepts (so the entry count fits in 32 bits).
const LINEAR_MAX_LOG2SIZE: u8 = 31;
/// Linux's cap for linear tables on 2-level capable SMMUs: log2(2^17 × 256).
const LINUX_LINEAR_MAX_LOG2SIZE: u8 = 25;

impl L1Violation {
    fn into_adopt(self, index: u32) -> AdoptError {
        match self {
            Self::SpanInvalid(span) => AdoptError::L1SpanInvalid { index, span },
            Self::NullL2Ptr => AdoptError::L1NullL2Ptr { index },
            Self::L2Misaligned(l2ptr) => AdoptError::L2Misaligned { index, l2ptr },
        }
    }
}

impl<M: TableMemory> StreamTable<M> {
    /// Adopts the stream table described by `strtab_base` / `strtab_base_cfg` (read from
    /// the live SMMU) in place, without writing either register.
    ///
    /// Validates every structural rule (kdump.md §4.2–§4.4, §17 item 2), in this order:
    /// SIDSIZE ≤ 32; FMT not reserved; then
    ///
    /// * **linear:** LOG2SIZE ≤ SIDSIZE; LOG2SIZE ≤ 31 (25 on a 2-level capable SMMU under
    ///   [`Strictness::Linux`]); base aligned to the table size 2^LOG2SIZE × 64. The whole
    ///   table is mapped.
    /// * **2-level:** 2-level support; SPLIT 6/8/10 (8 under Linux strictness);
    ///   SPLIT ≤ LOG2SIZE ≤ SIDSIZE; 2^(LOG2SIZE − SPLIT) ≤ `max_l1`; base aligned to
    ///   max(L1 size, 64). Only the L1 table is mapped, then every L1 descriptor is checked
    ///   (Span 0 = unused; otherwise Span allowed by the policy, non-null L2 pointer aligned
    ///   to its L2 size). No L2 table is mapped: [`ensure_sid`](Self::ensure_sid) maps
    ///   them lazily, re-validating the descriptor.
    ///
    /// With [`Coherency::NonCoherent`] the mapped table is invalidated before it is read.
    /// The base address is STRTAB_BASE\[55:6\]; the RA hint and other bits are ignored.
    ///
    /// # Errors
    ///
    /// One [`AdoptError`] variant per violated rule; on any error nothing stays mapped or
    /// allocated.
    pub fn adopt(
        mem: M,
        caps: StreamTableCaps,
        strtab_base: u64,
        strtab_base_cfg: u32,
        policy: &AdoptPolicy,
    ) -> Result<Self, AdoptError> {
        let sid_bits = caps.sid_bits;
        if sid_bits > 32 {
            return Err(AdoptError::InvalidSidBits { sid_bits });
        }
        let (fmt, split_raw, log2size) = regs::cfg_decode(strtab_base_cfg);
        let base = regs::base_addr(strtab_base);
        let default_ste = policy.default_ste.words(caps.attr_types_ovr);
        match fmt {
            regs::FMT_LINEAR => {
                if log2size > sid_bits {
                    return Err(AdoptError::Log2SizeAboveSidBits { log2size, sid_bits });
                }
                let limit = if policy.strictness == Strictness::Linux && caps.two_level {
                    LINUX_LINEAR_MAX_LOG2SIZE
                } else {
                    LINEAR_MAX_LOG2SIZE
                };
                if log2size > limit {
                    return Err(AdoptError::Log2SizeAboveLimit { log2size, limit });
                }
                let geometry = Geometry::linear(log2size)
                    .map_err(|_| AdoptError::TableTooLarge { log2size })?;
                let bytes = geometry.table_bytes();
                check_base(base, geometry.table_align())?;
                let table = memory::map_checked(&mem, base, bytes).map_err(AdoptError::Map)?;
                if policy.coherency == Coherency::NonCoherent {
                    mem.invalidate(&table, 0, bytes);
                }
                Ok(Self::from_parts(
                    mem,
                    geometry,
                    policy.coherency,
                    default_ste,
                    policy.strictness,
                    table,
                    None,
                ))
            }
            regs::FMT_TWO_LEVEL => {
                if !caps.two_level {
                    return Err(AdoptError::NotTwoLevelCapable);
                }
                let split = match (Split::from_raw(split_raw), policy.strictness) {
                    (Some(s), Strictness::Spec) | (Some(s @ Split::S8), Strictness::Linux) => s,
                    _ => return Err(AdoptError::SplitUnsupported { split: split_raw }),
                };
                if log2size < split.bits() {
                    return Err(AdoptError::Log2SizeBelowSplit {
                        log2size,
                        split: split_raw,
                    });
                }
                if log2size > sid_bits {
                    return Err(AdoptError::Log2SizeAboveSidBits { log2size, sid_bits });
                }
                let num_l1 = 1u64 << (log2size - split.bits());
                if num_l1 > u64::from(policy.max_l1) {
                    return Err(AdoptError::TooManyL1 {
                        num_l1,
                        max_l1: policy.max_l1,
                    });
                }
                let geometry = Geometry::two_level(log2size, split)
                    .map_err(|_| AdoptError::TableTooLarge { log2size })?;
                check_base(base, geometry.table_align())?;
                let bytes = geometry.table_bytes();
                let l1 = memory::map_checked(&mem, base, bytes).map_err(AdoptError::Map)?;
                if policy.coherency == Coherency::NonCoherent {
                    mem.invalidate(&l1, 0, bytes);
                }
                let checked = (0..geometry.num_l1()).try_for_each(|index| {
                    let desc = access::load(&l1, index)?;
                    if regs::l1_span(desc) != 0 {
                        check_l1_desc(desc, split, policy.strictness)
                            .map_err(|v| v.into_adopt(index as u32))?;
                    }
                    Ok(())
                });
                let slots = checked
                    .and_then(|()| alloc_slots(&mem, geometry.num_l1()).map_err(AdoptError::Alloc));
                match slots {
                    Ok(slots) => Ok(Self::from_parts(
                        mem,
                        geometry,
                        policy.coherency,
                        default_ste,
                        policy.strictness,
                        l1,
                        Some(slots),
                    )),
                    Err(e) => {
                        // SAFETY: mapped above, not stored anywhere, released once.
                        unsafe { mem.unmap(l1) };
                        Err(e)
                    }
                }
            }
            fmt => Err(AdoptError::ReservedFormat { fmt }),
        }
    }
}

fn check_base(base: PhysAddr, align: usize) -> Result<(), AdoptError> {
    let align = align as u64;
    if base.is_aligned(align) {
        Ok(())
    } else {
        Err(AdoptError::BaseMisaligned { base, align })
    }
}
