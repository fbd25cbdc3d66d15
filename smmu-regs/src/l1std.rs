//! Level-1 stream table descriptors (L1STD): one 64-bit word per L1 entry of a 2-level
//! stream table (spec §2.4, §3; Arm IHI0070 §5.1).
//!
//! An L1STD covers 2^SPLIT StreamIDs. Its Span says how many STEs the level-2 array
//! really holds (2^(Span−1), Span 1..=11); Span 0 and the reserved values 12..=31 make
//! every StreamID of the range invalid. The SMMU aligns L2Ptr to the array size by
//! ignoring L2Ptr\[5+(Span−1):0\].
//!
//! # Example
//!
//! ```
//! use smmu_regs::PhysAddr;
//! use smmu_regs::l1std::L1Std;
//!
//! // Linux layout: SPLIT = 8, Span = 9, 256 STEs (16 KB) per level-2 array.
//! let d = L1Std::new(PhysAddr(0x8_0000_4000), 9)?;
//! assert_eq!(d.raw(), 0x8_0000_4009);
//! assert_eq!(d.entries(), 256);
//! assert_eq!(d.ste_addr(3), Some(PhysAddr(0x8_0000_40c0)));
//! assert_eq!(d.ste_addr(256), None);
//! # Ok::<(), smmu_regs::Error>(())
//! ```

use core::fmt;

use crate::error::Error;
use crate::ids::PhysAddr;
use crate::ste::check_in_place_addr;

/// The position of the L1STD fields (spec §2.4).
pub mod field {
    use crate::fields::FieldPos;

    /// Span, bits \[4:0\].
    pub const SPAN: FieldPos = FieldPos::new(0, 0, 5);
    /// L2Ptr, bits \[55:6\] (address bits \[55:6\] in place).
    pub const L2PTR: FieldPos = FieldPos::new(0, 6, 50);
}

/// The reserved (RES0) bits of an L1STD: \[5\] and \[63:56\].
pub const RES0: u64 = 0xff00_0000_0000_0020;

/// The largest Span that is not reserved: 11, a level-2 array of 1024 STEs (64 KB).
pub const MAX_SPAN: u8 = 11;

/// A level-1 stream table descriptor.
///
/// Any 64-bit value is a valid `L1Std` (it is what the SMMU would read).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct L1Std(u64);

impl fmt::Debug for L1Std {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L1Std({:#018x})", self.0)
    }
}

impl L1Std {
    /// An invalid descriptor (Span = 0): every StreamID of its range is out of range.
    pub const INVALID: Self = Self(0);

    /// A descriptor for a level-2 array of 2^(`span`−1) STEs at `l2ptr`.
    ///
    /// # Errors
    ///
    /// * [`Error::InvalidValue`] if `span` is 0 or above [`MAX_SPAN`];
    /// * [`Error::Misaligned`] if `l2ptr` is not aligned to the array size
    ///   (2^(`span`−1) × 64 bytes);
    /// * [`Error::FieldOverflow`] if `l2ptr` has bits above bit 55.
    pub const fn new(l2ptr: PhysAddr, span: u8) -> Result<Self, Error> {
        if span == 0 || span > MAX_SPAN {
            return Err(Error::InvalidValue {
                field: "L1STD.Span",
                value: span as u64,
            });
        }
        let align = 64u64 << (span - 1);
        if l2ptr.0 & (align - 1) != 0 {
            return Err(Error::Misaligned {
                field: "L1STD.L2Ptr",
                value: l2ptr.0,
                align,
            });
        }
        match check_in_place_addr(field::L2PTR, l2ptr.0, "L1STD.L2Ptr") {
            Ok(a) => Ok(Self(a | span as u64)),
            Err(e) => Err(e),
        }
    }

    /// Creates the descriptor from its raw 64-bit value (every value is accepted).
    #[must_use]
    #[inline]
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw 64-bit value.
    #[must_use]
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Span, bits \[4:0\], as written (0..=31).
    #[must_use]
    #[inline]
    pub const fn span(self) -> u8 {
        field::SPAN.get(self.0) as u8
    }

    /// The Span the SMMU acts on: `Some(1..=11)`, or `None` for 0 (L2Ptr invalid) and the
    /// reserved values 12..=31 (which behave as 0).
    #[must_use]
    pub const fn effective_span(self) -> Option<u8> {
        let span = self.span();
        if span >= 1 && span <= MAX_SPAN {
            Some(span)
        } else {
            None
        }
    }

    /// Whether the descriptor points at a level-2 array (the effective Span is not 0).
    #[must_use]
    pub const fn is_valid(self) -> bool {
        self.effective_span().is_some()
    }

    /// L2Ptr, bits \[55:6\], as written.
    #[must_use]
    #[inline]
    pub const fn l2ptr(self) -> PhysAddr {
        PhysAddr(self.0 & field::L2PTR.mask())
    }

    /// Returns a copy with Span set to `span` as written (reserved values allowed, for
    /// tests and models).
    ///
    /// # Errors
    ///
    /// [`Error::FieldOverflow`] if `span` > 31.
    pub const fn with_span(self, span: u8) -> Result<Self, Error> {
        if span > 31 {
            return Err(Error::FieldOverflow {
                field: "L1STD.Span",
                value: span as u64,
                bits: 5,
            });
        }
        Ok(Self(field::SPAN.set(self.0, span as u64)))
    }

    /// Returns a copy with L2Ptr set to `addr` (only the 64-byte field granule is
    /// checked).
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] if `addr` is not 64-byte aligned, [`Error::FieldOverflow`] if
    /// it has bits above bit 55.
    pub const fn with_l2ptr(self, addr: PhysAddr) -> Result<Self, Error> {
        match check_in_place_addr(field::L2PTR, addr.0, "L1STD.L2Ptr") {
            Ok(a) => Ok(Self((self.0 & !field::L2PTR.mask()) | a)),
            Err(e) => Err(e),
        }
    }

    /// Number of STEs in the level-2 array: 2^(Span−1), or 0 when the effective Span is
    /// 0 (Span 0 or reserved).
    #[must_use]
    pub const fn entries(self) -> u32 {
        match self.effective_span() {
            Some(span) => 1 << (span - 1),
            None => 0,
        }
    }

    /// The address of the level-2 array as the SMMU uses it: L2Ptr with
    /// L2Ptr\[5+(Span−1):0\] treated as zero, i.e. aligned down to the array size
    /// (2^(Span−1) × 64 bytes). `None` when the effective Span is 0.
    #[must_use]
    pub const fn l2_table_addr(self) -> Option<PhysAddr> {
        match self.effective_span() {
            Some(span) => {
                let size = 64u64 << (span - 1);
                Some(PhysAddr(self.l2ptr().0 & !(size - 1)))
            }
            None => None,
        }
    }

    /// The address of STE `index` of the level-2 array, or `None` if `index` is not below
    /// [`L1Std::entries`] (including every index of an invalid descriptor).
    #[must_use]
    pub const fn ste_addr(self, index: u32) -> Option<PhysAddr> {
        if index >= self.entries() {
            return None;
        }
        match self.l2_table_addr() {
            Some(base) => Some(PhysAddr(base.0 + index as u64 * 64)),
            None => None,
        }
    }
}
