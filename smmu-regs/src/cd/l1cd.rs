//! L1CD (spec §2.6, Arm IHI0070 §5.3) and SubstreamID indexing of CD tables.

use core::fmt;

use crate::error::Error;
use crate::ids::{PhysAddr, SubstreamId};
use crate::ste::{S1Fmt, check_in_place_addr};

/// The position of the L1CD fields (spec §2.6).
pub mod l1_field {
    use crate::fields::FieldPos;

    /// V, bit \[0\].
    pub const V: FieldPos = FieldPos::new(0, 0, 1);
    /// L2Ptr, bits \[55:12\] (address bits \[55:12\] in place).
    pub const L2PTR: FieldPos = FieldPos::new(0, 12, 44);
}

/// The reserved (RES0) bits of an L1CD: \[11:1\] and \[63:56\].
pub const L1CD_RES0: u64 = 0xff00_0000_0000_0ffe;

/// A level-1 context descriptor: one 64-bit word pointing at a leaf table of CDs.
///
/// With S1Fmt = 1 the leaf holds 64 CDs (4 KB); with S1Fmt = 2 it holds 1024 CDs (64 KB,
/// and L2Ptr\[15:12\] are RES0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct L1Cd(u64);

impl fmt::Debug for L1Cd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L1Cd({:#018x})", self.0)
    }
}

impl L1Cd {
    /// An invalid descriptor (V = 0): lookups through it give C_BAD_SUBSTREAMID.
    pub const INVALID: Self = Self(0);

    /// A valid descriptor pointing at a leaf table for 2-level format `fmt`.
    ///
    /// # Errors
    ///
    /// * [`Error::InvalidValue`] if `fmt` is not a 2-level format;
    /// * [`Error::Misaligned`] if `l2ptr` is not aligned to the leaf table (4 KB for
    ///   [`S1Fmt::TwoLevel4K`], 64 KB for [`S1Fmt::TwoLevel64K`]);
    /// * [`Error::FieldOverflow`] if `l2ptr` has bits above bit 55.
    pub const fn new(l2ptr: PhysAddr, fmt: S1Fmt) -> Result<Self, Error> {
        let align: u64 = match fmt {
            S1Fmt::TwoLevel4K => 1 << 12,
            S1Fmt::TwoLevel64K => 1 << 16,
            S1Fmt::Linear | S1Fmt::Reserved => {
                return Err(Error::InvalidValue {
                    field: "STE.S1Fmt",
                    value: fmt.raw() as u64,
                });
            }
        };
        if l2ptr.0 & (align - 1) != 0 {
            return Err(Error::Misaligned {
                field: "L1CD.L2Ptr",
                value: l2ptr.0,
                align,
            });
        }
        match Self::INVALID.with_l2ptr(l2ptr) {
            Ok(d) => Ok(d.with_v(true)),
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

    /// V, bit \[0\].
    #[must_use]
    #[inline]
    pub const fn v(self) -> bool {
        l1_field::V.get(self.0) != 0
    }

    /// Whether V = 1.
    #[must_use]
    #[inline]
    pub const fn is_valid(self) -> bool {
        self.v()
    }

    /// Returns a copy with V set to `value`.
    #[must_use]
    #[inline]
    pub const fn with_v(self, value: bool) -> Self {
        Self(l1_field::V.set(self.0, value as u64))
    }

    /// L2Ptr, bits \[55:12\]: the leaf table address.
    #[must_use]
    #[inline]
    pub const fn l2ptr(self) -> PhysAddr {
        PhysAddr(self.0 & l1_field::L2PTR.mask())
    }

    /// Returns a copy with L2Ptr set to `addr`.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] if `addr` is not 4 KB aligned, [`Error::FieldOverflow`] if
    /// it has bits above bit 55.
    pub const fn with_l2ptr(self, addr: PhysAddr) -> Result<Self, Error> {
        match check_in_place_addr(l1_field::L2PTR, addr.0, "L1CD.L2Ptr") {
            Ok(a) => Ok(Self((self.0 & !l1_field::L2PTR.mask()) | a)),
            Err(e) => Err(e),
        }
    }

    /// The address of CD `l2_index` of the leaf table, or `None` if V = 0 or the address
    /// overflows. The index is not checked against the leaf size (use [`cd_index`]).
    #[must_use]
    pub const fn cd_addr(self, l2_index: u32) -> Option<PhysAddr> {
        if !self.v() {
            return None;
        }
        match self.l2ptr().0.checked_add(l2_index as u64 * 64) {
            Some(a) => Some(PhysAddr(a)),
            None => None,
        }
    }
}

/// Where the CD of a SubstreamID is (spec §2.6 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CdIndex {
    /// Index into the linear CD table at S1ContextPtr (a single CD when S1CDMax = 0).
    Linear(u32),
    /// Index `l1` into the L1CD table at S1ContextPtr, then `l2` into the leaf table.
    TwoLevel {
        /// L1CD index: SSID\[S1CDMax−1:6\] (4 KB leaves) or SSID\[S1CDMax−1:10\] (64 KB).
        l1: u32,
        /// Leaf index: SSID\[5:0\] (4 KB leaves) or SSID\[9:0\] (64 KB).
        l2: u32,
    },
}

/// Number of CDs in a leaf table of 2-level format `fmt` (64 or 1024), or `None` for a
/// linear (or reserved, which behaves as linear) format.
#[must_use]
pub const fn leaf_table_entries(fmt: S1Fmt) -> Option<u32> {
    match fmt {
        S1Fmt::TwoLevel4K => Some(64),
        S1Fmt::TwoLevel64K => Some(1024),
        S1Fmt::Linear | S1Fmt::Reserved => None,
    }
}

const fn leaf_bits(fmt: S1Fmt) -> Option<u32> {
    match fmt {
        S1Fmt::TwoLevel4K => Some(6),
        S1Fmt::TwoLevel64K => Some(10),
        S1Fmt::Linear | S1Fmt::Reserved => None,
    }
}

/// Number of L1CDs in the level-1 table for 2-level format `fmt` and S1CDMax `s1cdmax`:
/// 2^(S1CDMax − 6) for 4 KB leaves and 2^(S1CDMax − 10) for 64 KB leaves, at least 1.
/// `None` for a linear format, for S1CDMax = 0 (the format is then ignored) and for
/// S1CDMax > 31.
#[must_use]
pub const fn l1_table_entries(fmt: S1Fmt, s1cdmax: u8) -> Option<u32> {
    if s1cdmax == 0 || s1cdmax > 31 {
        return None;
    }
    match leaf_bits(fmt) {
        Some(bits) => {
            let m = s1cdmax as u32;
            Some(if m > bits { 1 << (m - bits) } else { 1 })
        }
        None => None,
    }
}

/// Size in bytes of the table that STE.S1ContextPtr points to: one CD (64 bytes) when
/// S1CDMax = 0, a linear table of 2^S1CDMax CDs, or the L1CD table (8 bytes per L1CD)
/// for a 2-level format. `None` for S1CDMax > 31.
#[must_use]
pub const fn context_table_size(fmt: S1Fmt, s1cdmax: u8) -> Option<u64> {
    if s1cdmax > 31 {
        return None;
    }
    if s1cdmax == 0 {
        return Some(64);
    }
    match l1_table_entries(fmt, s1cdmax) {
        Some(n) => Some(n as u64 * 8),
        None => Some(64u64 << s1cdmax),
    }
}

/// Alignment required of STE.S1ContextPtr: the table is aligned to its size, or to 64
/// bytes, whichever is larger (the SMMU treats the lower bits as RES0). `None` for
/// S1CDMax > 31.
#[must_use]
pub const fn context_table_align(fmt: S1Fmt, s1cdmax: u8) -> Option<u64> {
    match context_table_size(fmt, s1cdmax) {
        Some(size) if size < 64 => Some(64),
        other => other,
    }
}

/// Where the CD for `ssid` is, given STE.S1Fmt and STE.S1CDMax (spec §2.6 table).
///
/// Returns `None` when `ssid` ≥ 2^S1CDMax (the SMMU records C_BAD_SUBSTREAMID) or when
/// `s1cdmax` > 31. With S1CDMax = 0 the format is ignored and only index 0 (the single CD)
/// exists. The reserved format behaves as linear.
#[must_use]
pub const fn cd_index(fmt: S1Fmt, s1cdmax: u8, ssid: SubstreamId) -> Option<CdIndex> {
    if s1cdmax > 31 {
        return None;
    }
    let ssid = ssid.0;
    if ssid >> s1cdmax != 0 {
        return None;
    }
    if s1cdmax == 0 {
        return Some(CdIndex::Linear(0));
    }
    match leaf_bits(fmt) {
        Some(bits) => Some(CdIndex::TwoLevel {
            l1: ssid >> bits,
            l2: ssid & ((1 << bits) - 1),
        }),
        None => Some(CdIndex::Linear(ssid)),
    }
}
