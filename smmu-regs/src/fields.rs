//! Enumerated field encodings shared by several registers and structures.
//!
//! Every enum here covers all encodings of its field (reserved ones included), so that
//! any bit pattern read from hardware decodes and writes back unchanged.

use modular_bitfield::prelude::*;

/// An address size encoding (IDR5.OAS, STE.S2PS, CD.IPS): 3 bits.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 3]
pub enum AddressSize {
    /// 32 bits (4 GB).
    Bits32 = 0,
    /// 36 bits (64 GB).
    Bits36 = 1,
    /// 40 bits (1 TB).
    Bits40 = 2,
    /// 42 bits (4 TB).
    Bits42 = 3,
    /// 44 bits (16 TB).
    Bits44 = 4,
    /// 48 bits (256 TB).
    Bits48 = 5,
    /// 52 bits (4 PB); reserved in SMMUv3.0.
    Bits52 = 6,
    /// 56 bits (64 PB).
    Bits56 = 7,
}

impl AddressSize {
    /// The address width in bits.
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            Self::Bits32 => 32,
            Self::Bits36 => 36,
            Self::Bits40 => 40,
            Self::Bits42 => 42,
            Self::Bits44 => 44,
            Self::Bits48 => 48,
            Self::Bits52 => 52,
            Self::Bits56 => 56,
        }
    }

    /// The encoding of an exact address width, or `None` if the width has no encoding.
    #[must_use]
    pub const fn from_bits(bits: u32) -> Option<Self> {
        Some(match bits {
            32 => Self::Bits32,
            36 => Self::Bits36,
            40 => Self::Bits40,
            42 => Self::Bits42,
            44 => Self::Bits44,
            48 => Self::Bits48,
            52 => Self::Bits52,
            56 => Self::Bits56,
            _ => return None,
        })
    }

    /// Decodes the 3-bit field value (only the low 3 bits of `raw` are used).
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 7 {
            0 => Self::Bits32,
            1 => Self::Bits36,
            2 => Self::Bits40,
            3 => Self::Bits42,
            4 => Self::Bits44,
            5 => Self::Bits48,
            6 => Self::Bits52,
            _ => Self::Bits56,
        }
    }

    /// The 3-bit field value.
    #[must_use]
    pub const fn raw(self) -> u8 {
        self as u8
    }
}

/// A shareability encoding (CR1.QUEUE_SH/TABLE_SH, STE.S1CSH/S2SH0, CD.SH0/SH1): 2 bits.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Shareability {
    /// Non-shareable.
    NonShareable = 0,
    /// Reserved encoding; behaves as non-shareable.
    Reserved = 1,
    /// Outer shareable.
    Outer = 2,
    /// Inner shareable.
    Inner = 3,
}

/// A cacheability encoding for table walks and queue accesses (CR1.*_IC/*_OC,
/// STE.S1CIR/S1COR/S2IR0/S2OR0, CD.IR0/OR0/IR1/OR1): 2 bits.
///
/// In CR1 the encoding 3 is reserved and behaves as non-cacheable; in the STE and CD it
/// means write-back without (read or write) allocation.
#[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[bits = 2]
pub enum Cacheability {
    /// Non-cacheable.
    NonCacheable = 0,
    /// Write-back, allocating.
    WriteBack = 1,
    /// Write-through.
    WriteThrough = 2,
    /// Write-back, no allocation (STE/CD); reserved in CR1 (behaves as non-cacheable).
    WriteBackNoAllocate = 3,
}

/// The position of a field inside a multi-word structure: which 64-bit word, the lowest
/// bit and the width. Used by table writers that reason about structures word by word
/// (for example the STE "used bits" computation of the hitless entry writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FieldPos {
    /// Index of the 64-bit word (`dwN`) holding the field.
    pub word: usize,
    /// Bit position of the field's least significant bit within that word.
    pub lsb: u32,
    /// Width of the field in bits (1..=64).
    pub width: u32,
}

impl FieldPos {
    /// Creates a field position. `width` must be 1..=64 and `lsb + width` at most 64;
    /// this is checked at compile time when used in a `const`.
    #[must_use]
    pub const fn new(word: usize, lsb: u32, width: u32) -> Self {
        assert!(width >= 1 && width <= 64 && lsb + width <= 64);
        Self { word, lsb, width }
    }

    /// The mask of the field's bits within its word.
    #[must_use]
    pub const fn mask(self) -> u64 {
        // Total for any field values: an empty or out-of-word field has an empty mask.
        if self.width == 0 || self.lsb >= 64 {
            return 0;
        }
        let width = if self.width > 64 { 64 } else { self.width };
        let ones = u64::MAX >> (64 - width);
        ones << self.lsb
    }

    /// Extracts the field from its word.
    #[must_use]
    pub const fn get(self, word: u64) -> u64 {
        match (word & self.mask()).checked_shr(self.lsb) {
            Some(v) => v,
            None => 0,
        }
    }

    /// Returns `word` with the field replaced by the low `width` bits of `value`.
    #[must_use]
    pub const fn set(self, word: u64, value: u64) -> u64 {
        let shifted = match value.checked_shl(self.lsb) {
            Some(v) => v,
            None => 0,
        };
        (word & !self.mask()) | (shifted & self.mask())
    }
}

/// A translation granule size, independent of how a particular field encodes it
/// (STE.S2TG, CD.TG0 and CD.TG1 use three different encodings of the same three sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Granule {
    /// 4 KB pages.
    Size4K,
    /// 16 KB pages.
    Size16K,
    /// 64 KB pages.
    Size64K,
}

impl Granule {
    /// log2 of the granule size in bytes: 12, 14 or 16.
    #[must_use]
    pub const fn shift(self) -> u32 {
        match self {
            Self::Size4K => 12,
            Self::Size16K => 14,
            Self::Size64K => 16,
        }
    }

    /// The granule size in bytes.
    #[must_use]
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }
}
