//! Adoption of a live stream table left by a previous kernel (kdump.md §4, §5, §17).

use core::sync::atomic::{Ordering, fence};

use smmu_regs::PhysAddr;

use crate::access;
use crate::error::AdoptError;
use crate::geometry::{DEFAULT_MAX_L1, DefaultSte, Geometry, Split, StreamTableCaps};
use crate::memory::{self, Coherency, DmaRegion, TableMemory};
use crate::regs;
use crate::slots::Slots;
use crate::table::{L1Violation, StreamTable, Strictness, check_l1_desc};

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
                let slots =
                    validate_l1(&l1, geometry.num_l1(), split, policy.strictness).and_then(|()| {
                        Slots::alloc(&mem, geometry.num_l1(), split).map_err(AdoptError::Alloc)
                    });
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

/// L1 descriptors checked per block by [`validate_l1`].
const BLOCK: usize = 64;
/// Bits \[63:56\] of an L1 descriptor (above L2Ptr; ignored by the rules).
const DESC_HIGH: u64 = 0xff00_0000_0000_0000;
/// The Span field, bits \[4:0\].
const DESC_SPAN: u64 = 0x1f;

/// Checks the `num_l1` descriptors of `l1` (kdump.md §4.2 item 8, §17 item 2) and reports
/// the first violation in index order, exactly as checking each descriptor with
/// [`check_l1_desc`] in turn would.
///
/// The descriptors are read in blocks of [`BLOCK`] with `Relaxed` loads (one `Acquire`
/// fence at the end orders everything after them), and each block is first summarised
/// without a branch per descriptor or field, in
///
/// * `or`: the OR of the descriptors;
/// * `min`: the smallest of `desc − 1` (wrapping: 0 counts as the largest);
/// * under [`Strictness::Linux`], `and`: the AND of the non-zero descriptors.
///
/// The block is valid if `min ≥ 63` (every non-zero descriptor is at least 64), and in
/// `or` bits \[63:56\] and the L2Ptr bits below `T` = 2^(SPLIT + 6), the size of a full L2
/// table, are clear: then every L2Ptr is aligned to `T`, hence to its own L2 size, and is
/// not null (a descriptor of at least 64 with those bits clear has an L2Ptr bit at or
/// above `T`; Span 0 descriptors need nothing). The Spans must be allowed too: under
/// [`Strictness::Spec`] each Span, a subset of the bits of `or`'s Span field, is at most
/// that value, which must be at most SPLIT + 1; under [`Strictness::Linux`] each non-zero
/// descriptor's Span has every bit of SPLIT + 1 (from `and`) and no other (from `or`).
/// Only a block that does not pass (a violation, or a valid but unusual layout, such as
/// Span 0 descriptors with stale pointers under Linux strictness) is checked descriptor by
/// descriptor.
fn validate_l1(
    l1: &DmaRegion,
    num_l1: usize,
    split: Split,
    strictness: Strictness,
) -> Result<(), AdoptError> {
    let full = u64::from(split.full_span());
    // 2^(SPLIT + 6): at most 2^16.
    let t = split.l2_bytes() as u64;
    let must_be_clear = DESC_HIGH | ((t - 1) & !0x3f);
    let mut first = 0;
    while first < num_l1 {
        let count = BLOCK.min(num_l1 - first);
        let passes = match strictness {
            Strictness::Spec => {
                let (or, min) =
                    access::fold_words_relaxed(l1, first, count, (0, u64::MAX), |(o, m), d| {
                        (o | d, m.min(d.wrapping_sub(1)))
                    })?;
                min >= 63 && or & must_be_clear == 0 && or & DESC_SPAN <= full
            }
            Strictness::Linux => {
                let (or, min, and) = access::fold_words_relaxed(
                    l1,
                    first,
                    count,
                    (0, u64::MAX, u64::MAX),
                    |(o, m, a), d| {
                        let nonzero = if d == 0 { u64::MAX } else { d };
                        (o | d, m.min(d.wrapping_sub(1)), a & nonzero)
                    },
                )?;
                min >= 63
                    && or & must_be_clear == 0
                    && or & DESC_SPAN & !full == 0
                    && and & full == full
            }
        };
        if !passes {
            check_each(l1, first, count, split, strictness)?;
        }
        first += count;
    }
    fence(Ordering::Acquire);
    Ok(())
}

/// Checks descriptors `first .. first + count` of `l1` one by one; the first violation.
#[cold]
#[inline(never)]
fn check_each(
    l1: &DmaRegion,
    first: usize,
    count: usize,
    split: Split,
    strictness: Strictness,
) -> Result<(), AdoptError> {
    for index in first..first + count {
        let desc = access::load(l1, index)?;
        if regs::l1_span(desc) != 0 {
            check_l1_desc(desc, split, strictness).map_err(|v| v.into_adopt(index as u32))?;
        }
    }
    Ok(())
}

fn check_base(base: PhysAddr, align: usize) -> Result<(), AdoptError> {
    let align = align as u64;
    if base.is_aligned(align) {
        Ok(())
    } else {
        Err(AdoptError::BaseMisaligned { base, align })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::ptr::NonNull;
    use core::sync::atomic::AtomicU64;
    use std::vec::Vec;

    use super::*;

    /// The rules applied to each descriptor in turn (the definition `validate_l1` must
    /// agree with).
    fn one_by_one(words: &[u64], split: Split, strictness: Strictness) -> Result<(), AdoptError> {
        for (index, &desc) in words.iter().enumerate() {
            if regs::l1_span(desc) != 0 {
                check_l1_desc(desc, split, strictness).map_err(|v| v.into_adopt(index as u32))?;
            }
        }
        Ok(())
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// A descriptor of kind `kind`: mostly valid ones (Span 0, full and smaller L2
    /// tables, ignored high bits and bit 5), and every kind of violation.
    fn desc(x: &mut u64, split: Split, kind: u64) -> u64 {
        let r = xorshift(x);
        let full = u64::from(split.full_span());
        let addr = |span: u64, r: u64| (r & 0x00ff_ffff_ffff_ffc0) & !((32u64 << span) - 1);
        match kind {
            0 => 0,
            1 | 2 => addr(full, r).max(32 << full) | full,
            3 => {
                let span = 1 + (r >> 58) % full;
                addr(span, r).max(32 << span) | span
            }
            4 => r & !0x1f, // Span 0, anything else
            5 => (addr(full, r).max(32 << full) | full) | (r & 0xff00_0000_0000_0020), // ignored bits
            6 => (r & 0xff00_0000_0000_0020) | full, // null L2 pointer
            // Misaligned by one bit below the full L2 size (or small).
            7 => addr(full, r) | (64 << ((r >> 40) % u64::from(split.bits()))) | full,
            8 => addr(11, r) | (12 + (r >> 59) % 20), // reserved Span
            9 => 1 + (r & 0x3f),                      // small value with a Span
            _ => r,
        }
    }

    #[test]
    fn block_summaries_agree_with_the_rules_one_by_one() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let trials = if cfg!(miri) { 12 } else { 400 };
        for split in [Split::S6, Split::S8, Split::S10] {
            for strictness in [Strictness::Spec, Strictness::Linux] {
                for trial in 0..trials {
                    let n = [1usize, 7, 63, 64, 65, 128, 300][trial % 7];
                    // Tables of one kind, of valid kinds, and valid with one corruption.
                    let base_kinds: &[u64] = match trial % 4 {
                        0 => &[1],
                        1 => &[0, 1],
                        2 => &[0, 1, 2, 3, 4, 5],
                        _ => &[0, 1, 3, 4, 5, 6, 7, 8, 9, 10],
                    };
                    let mut words: Vec<u64> = (0..n)
                        .map(|_| {
                            let k =
                                base_kinds[(xorshift(&mut x) % base_kinds.len() as u64) as usize];
                            desc(&mut x, split, k)
                        })
                        .collect();
                    if trial % 3 == 0 {
                        let at = (xorshift(&mut x) % n as u64) as usize;
                        let k = 6 + xorshift(&mut x) % 5;
                        words[at] = desc(&mut x, split, k);
                    }
                    let buf: Vec<AtomicU64> = words.iter().map(|&w| AtomicU64::new(w)).collect();
                    let ptr = NonNull::new(buf.as_ptr().cast::<u64>().cast_mut()).unwrap();
                    // SAFETY: `buf` outlives the region and is only read through it.
                    let l1 = unsafe { DmaRegion::new(PhysAddr(0x1000), ptr, n * 8) };
                    assert_eq!(
                        validate_l1(&l1, n, split, strictness),
                        one_by_one(&words, split, strictness),
                        "{split:?} {strictness:?} {words:x?}"
                    );
                }
            }
        }
    }
}
