//! Stream Table Entries (STE): 64 bytes, eight little-endian 64-bit words (spec §2.1–§2.3,
//! Arm IHI0070 §5.2).
//!
//! * [`Ste`] holds the entry as `[u64; 8]`. It has a typed getter and a `with_*` builder for
//!   every field of spec §2.1, raw word access that cannot panic, and typed per-word views
//!   [`SteDw0`] … [`SteDw7`] (modular-bitfield; reserved bits are kept, so every bit pattern
//!   round-trips unchanged).
//! * [`field`] gives the exact position of every field as a [`FieldPos`], for writers that
//!   reason word by word (the "used bits" of the hitless entry writer, spec §8.1).
//! * Common entries: [`Ste::INVALID`], [`Ste::ABORT`], [`Ste::BYPASS`], and the validated
//!   constructors [`Ste::stage1`], [`Ste::stage2`] and [`Ste::nested`].
//! * [`Ste::check`] applies the validity rules of spec §2.3 (what makes the SMMU record
//!   `C_BAD_STE`) against a plain capability summary, [`SteCheckCaps`].
//!
//! Decoding never fails and never panics: every enumerated field has a variant for each
//! encoding, reserved ones included.
//!
//! # Example
//!
//! Build a stage-2-only STE and read its words:
//!
//! ```
//! use smmu_regs::fields::{AddressSize, Granule};
//! use smmu_regs::ste::{Config, Stage2Config, Ste};
//! use smmu_regs::{PhysAddr, Vmid};
//!
//! // 40-bit IPA space (T0SZ = 24), 4 KB granule, walk starting at level 1 (SL0 = 1).
//! let s2 = Stage2Config::new(
//!     Vmid(0xbeef),
//!     PhysAddr(0x8_0000_1000),
//!     24,
//!     1,
//!     Granule::Size4K,
//!     AddressSize::Bits40,
//! );
//! let ste = Ste::stage2(&s2)?;
//! assert!(ste.is_valid());
//! assert_eq!(ste.config(), Config::S2Trans);
//! let w = ste.to_words();
//! assert_eq!(w[0], 0xd); // V = 1, Config = 0b110
//! assert_eq!(w[2] & 0xffff, 0xbeef); // S2VMID
//! assert_eq!(w[3], 0x8_0000_1000); // S2TTB, in place at dw3[55:4]
//! assert_eq!(Ste::from_words(w), ste);
//! # Ok::<(), smmu_regs::Error>(())
//! ```

use core::fmt;

use modular_bitfield::prelude::*;

use crate::error::Error;
use crate::fields::{AddressSize, Cacheability, FieldPos, Granule, Shareability};
use crate::ids::{PhysAddr, Vmid};

// ---------------------------------------------------------------------------------------
// Shared helpers (also used by `cd` and `l1std`)
// ---------------------------------------------------------------------------------------

/// Defines an exhaustive field-encoding enum: one variant per encoding (listed in encoding
/// order), a `modular_bitfield::Specifier` derive, `ALL`, a total `from_raw` and `raw`.
///
/// `ALL` has exactly `1 << bits` elements, so a missing encoding is a compile error.
macro_rules! spec_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $bits:literal {
            $( $(#[$vmeta:meta])* $var:ident = $val:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Specifier, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[bits = $bits]
        pub enum $name {
            $( $(#[$vmeta])* $var = $val, )+
        }

        impl $name {
            /// Every encoding of the field, in encoding order (`ALL[i].raw() == i`).
            pub const ALL: [Self; 1 << $bits] = [$(Self::$var,)+];

            /// Decodes a field value. Only the low bits of `raw` are used, so every input
            /// decodes.
            #[must_use]
            #[inline]
            pub const fn from_raw(raw: u8) -> Self {
                Self::ALL[(raw & ((1u8 << $bits) - 1)) as usize]
            }

            /// The field value.
            #[must_use]
            #[inline]
            pub const fn raw(self) -> u8 {
                self as u8
            }
        }
    };
}
pub(crate) use spec_enum;

/// Generates the raw-word API shared by the 8-word structures ([`Ste`] and
/// [`crate::cd::Cd`]).
macro_rules! word_array_api {
    ($ty:ident, $prefix:literal) => {
        impl $ty {
            /// Number of 64-bit words in the structure.
            pub const WORDS: usize = 8;
            /// Size of the structure in bytes.
            pub const SIZE: usize = 64;

            /// Creates the structure from its eight 64-bit words (`dw0` first). Every bit
            /// pattern is accepted.
            #[must_use]
            #[inline]
            pub const fn from_words(words: [u64; 8]) -> Self {
                Self(words)
            }

            /// The eight 64-bit words (`dw0` first).
            #[must_use]
            #[inline]
            pub const fn to_words(self) -> [u64; 8] {
                self.0
            }

            /// A reference to the eight 64-bit words (`dw0` first).
            #[must_use]
            #[inline]
            pub const fn words(&self) -> &[u64; 8] {
                &self.0
            }

            /// Word `i` (`dwi`), or `None` if `i >= 8`.
            #[must_use]
            #[inline]
            pub const fn word(&self, i: usize) -> Option<u64> {
                if i < 8 { Some(self.0[i]) } else { None }
            }

            /// Returns a copy with word `i` replaced by `value`, or `None` if `i >= 8`.
            #[must_use]
            #[inline]
            pub const fn with_word(self, i: usize, value: u64) -> Option<Self> {
                if i < 8 {
                    let mut w = self.0;
                    w[i] = value;
                    Some(Self(w))
                } else {
                    None
                }
            }

            /// Decodes the structure from its 64 bytes in memory (little-endian words).
            #[must_use]
            pub const fn from_le_bytes(bytes: [u8; 64]) -> Self {
                let mut words = [0u64; 8];
                let mut i = 0;
                while i < 8 {
                    let mut b = [0u8; 8];
                    let mut j = 0;
                    while j < 8 {
                        b[j] = bytes[i * 8 + j];
                        j += 1;
                    }
                    words[i] = u64::from_le_bytes(b);
                    i += 1;
                }
                Self(words)
            }

            /// The 64 bytes of the structure as stored in memory (little-endian words).
            #[must_use]
            pub const fn to_le_bytes(self) -> [u8; 64] {
                let mut bytes = [0u8; 64];
                let mut i = 0;
                while i < 8 {
                    let b = self.0[i].to_le_bytes();
                    let mut j = 0;
                    while j < 8 {
                        bytes[i * 8 + j] = b[j];
                        j += 1;
                    }
                    i += 1;
                }
                bytes
            }

            /// The raw value of the field at `pos` (0 if `pos.word` is out of range).
            #[must_use]
            #[inline]
            pub const fn field(&self, pos: FieldPos) -> u64 {
                if pos.word < 8 {
                    pos.get(self.0[pos.word])
                } else {
                    0
                }
            }

            /// Returns a copy with the field at `pos` set to the low `pos.width` bits of
            /// `value` (higher bits are dropped; a `pos.word` out of range changes nothing).
            /// Prefer the typed `with_*` builders, which reject values that do not fit.
            #[must_use]
            #[inline]
            pub const fn with_field(self, pos: FieldPos, value: u64) -> Self {
                let mut w = self.0;
                if pos.word < 8 {
                    w[pos.word] = pos.set(w[pos.word], value);
                }
                Self(w)
            }

            /// Sets a field, rejecting a value wider than the field.
            const fn try_with_field(
                self,
                pos: FieldPos,
                value: u64,
                name: &'static str,
            ) -> Result<Self, Error> {
                if value > pos.mask() >> pos.lsb {
                    Err(Error::FieldOverflow {
                        field: name,
                        value,
                        bits: pos.width,
                    })
                } else {
                    Ok(self.with_field(pos, value))
                }
            }

            /// Reads an address field stored in place (field bits = address bits).
            const fn addr_field(&self, pos: FieldPos) -> PhysAddr {
                if pos.word < 8 {
                    PhysAddr(self.0[pos.word] & pos.mask())
                } else {
                    PhysAddr(0)
                }
            }

            /// Sets an address field stored in place, checking alignment and range.
            const fn try_with_addr_field(
                self,
                pos: FieldPos,
                addr: PhysAddr,
                name: &'static str,
            ) -> Result<Self, Error> {
                match check_in_place_addr(pos, addr.0, name) {
                    Ok(a) => Ok(self.with_field(pos, a >> pos.lsb)),
                    Err(e) => Err(e),
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}([", $prefix)?;
                for (i, w) in self.0.iter().enumerate() {
                    if i != 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{w:#018x}")?;
                }
                f.write_str("])")
            }
        }
    };
}
pub(crate) use word_array_api;

/// Generates typed getters and `with_*` builders from a field table.
///
/// Kinds: `flag` (bool), `enum` (an enumerated type with a `from` function), `uint`
/// (integer narrower than its type; the builder returns `Result`), `word` (integer exactly
/// as wide as the field; infallible), `id` (a `u16` id newtype), `addr` (a [`PhysAddr`]
/// stored in place, field bits = address bits; the builder checks alignment and range).
macro_rules! accessors {
    () => {};
    (
        $(#[doc = $d:literal])*
        flag $get:ident / $with:ident = $pos:expr, $name:literal;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> bool {
            self.field($pos) != 0
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to `value`.")]
        #[must_use]
        #[inline]
        pub const fn $with(self, value: bool) -> Self {
            self.with_field($pos, value as u64)
        }

        $crate::ste::accessors!($($rest)*);
    };
    (
        $(#[doc = $d:literal])*
        enum $get:ident / $with:ident = $pos:expr, $name:literal, $ty:ty, $from:path;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> $ty {
            $from(self.field($pos) as u8)
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to `value`.")]
        #[must_use]
        #[inline]
        pub const fn $with(self, value: $ty) -> Self {
            self.with_field($pos, value as u64)
        }

        $crate::ste::accessors!($($rest)*);
    };
    (
        $(#[doc = $d:literal])*
        uint $get:ident / $with:ident = $pos:expr, $name:literal, $ty:ty;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> $ty {
            self.field($pos) as $ty
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to `value`.")]
        ///
        /// # Errors
        ///
        /// [`Error::FieldOverflow`] if `value` does not fit in the field.
        #[inline]
        pub const fn $with(self, value: $ty) -> Result<Self, Error> {
            self.try_with_field($pos, value as u64, $name)
        }

        $crate::ste::accessors!($($rest)*);
    };
    (
        $(#[doc = $d:literal])*
        word $get:ident / $with:ident = $pos:expr, $name:literal, $ty:ty;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> $ty {
            self.field($pos) as $ty
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to `value`.")]
        #[must_use]
        #[inline]
        pub const fn $with(self, value: $ty) -> Self {
            self.with_field($pos, value as u64)
        }

        $crate::ste::accessors!($($rest)*);
    };
    (
        $(#[doc = $d:literal])*
        id $get:ident / $with:ident = $pos:expr, $name:literal, $ty:ident;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> $ty {
            $ty(self.field($pos) as u16)
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to `value`.")]
        #[must_use]
        #[inline]
        pub const fn $with(self, value: $ty) -> Self {
            self.with_field($pos, value.0 as u64)
        }

        $crate::ste::accessors!($($rest)*);
    };
    (
        $(#[doc = $d:literal])*
        addr $get:ident / $with:ident = $pos:expr, $name:literal;
        $($rest:tt)*
    ) => {
        $(#[doc = $d])*
        #[must_use]
        #[inline]
        pub const fn $get(&self) -> PhysAddr {
            self.addr_field($pos)
        }

        #[doc = concat!("Returns a copy with `", $name, "` set to the address `addr`.")]
        ///
        /// # Errors
        ///
        /// [`Error::Misaligned`] if `addr` has bits set below the field,
        /// [`Error::FieldOverflow`] if it has bits set above it.
        #[inline]
        pub const fn $with(self, addr: PhysAddr) -> Result<Self, Error> {
            self.try_with_addr_field($pos, addr, $name)
        }

        $crate::ste::accessors!($($rest)*);
    };
}
pub(crate) use accessors;

/// Checks an address for a field that stores address bits `[lsb+width-1 : lsb]` in place.
/// Returns the address unchanged if it is aligned to `1 << lsb` and has no bits above the
/// field.
pub(crate) const fn check_in_place_addr(
    pos: FieldPos,
    addr: u64,
    name: &'static str,
) -> Result<u64, Error> {
    let align = 1u64 << pos.lsb;
    if addr & (align - 1) != 0 {
        return Err(Error::Misaligned {
            field: name,
            value: addr,
            align,
        });
    }
    if addr & !pos.mask() != 0 {
        return Err(Error::FieldOverflow {
            field: name,
            value: addr,
            bits: pos.lsb + pos.width,
        });
    }
    Ok(addr)
}

/// Decodes a 2-bit shareability field (total).
pub(crate) const fn shareability_from_raw(raw: u8) -> Shareability {
    match raw & 3 {
        0 => Shareability::NonShareable,
        1 => Shareability::Reserved,
        2 => Shareability::Outer,
        _ => Shareability::Inner,
    }
}

/// Decodes a 2-bit cacheability field (total).
pub(crate) const fn cacheability_from_raw(raw: u8) -> Cacheability {
    match raw & 3 {
        0 => Cacheability::NonCacheable,
        1 => Cacheability::WriteBack,
        2 => Cacheability::WriteThrough,
        _ => Cacheability::WriteBackNoAllocate,
    }
}

/// Whether `addr` has no bit set at or above bit `bits` (always true for `bits >= 64`).
pub(crate) const fn fits_in(addr: u64, bits: u32) -> bool {
    match addr.checked_shr(bits) {
        Some(high) => high == 0,
        None => true,
    }
}

/// The effective output size of a stage 2 (`S2PS`) or stage 1 (`CD.IPS`) address-size
/// field, before capping at IDR5.OAS: in SMMUv3.0 the encodings 52 and 56 behave as 48, in
/// SMMUv3.1 to v3.3 the encoding 56 behaves as 52.
pub(crate) const fn effective_ps_bits(ps: AddressSize, version: u8, oas_bits: u8) -> u32 {
    let mut bits = ps.bits();
    if version == 0 && bits > 48 {
        bits = 48;
    } else if version <= 3 && bits > 52 {
        bits = 52;
    }
    if bits > oas_bits as u32 {
        bits = oas_bits as u32;
    }
    bits
}

/// The TxSZ range check of VMSAv8-64 translation for an SMMU (spec §2.3 table; Arm
/// IHI0070 `STES2T0SZInvalid` / `CDTxSZInvalid`): `true` if `txsz` is within
/// `[min, max]`.
pub(crate) const fn txsz_in_range(txsz: u8, min: i32, max: i32) -> bool {
    let t = txsz as i32;
    t >= min && t <= max
}

// ---------------------------------------------------------------------------------------
// Field encodings
// ---------------------------------------------------------------------------------------

spec_enum! {
    /// STE.Config, `dw0[3:1]`: which translation stages apply to the stream.
    ///
    /// Every value with bit 2 clear aborts traffic without recording an event; only 0b000
    /// is architected for that, 0b001–0b011 are reserved and behave the same (and are
    /// **not** ILLEGAL).
    pub enum Config: 3 {
        /// 0b000: abort all traffic, no event recorded.
        Abort = 0,
        /// 0b001: reserved, behaves as [`Config::Abort`].
        Reserved1 = 1,
        /// 0b010: reserved, behaves as [`Config::Abort`].
        Reserved2 = 2,
        /// 0b011: reserved, behaves as [`Config::Abort`].
        Reserved3 = 3,
        /// 0b100: both stages bypass.
        Bypass = 4,
        /// 0b101: stage 1 translates, stage 2 bypasses.
        S1Trans = 5,
        /// 0b110: stage 1 bypasses, stage 2 translates.
        S2Trans = 6,
        /// 0b111: both stages translate (nested).
        Nested = 7,
    }
}

impl Config {
    /// Whether traffic is aborted without an event (Config = 0b0xx, reserved values
    /// included).
    #[must_use]
    pub const fn is_abort_like(self) -> bool {
        self.raw() & 0b100 == 0
    }

    /// Whether this is full bypass (0b100).
    #[must_use]
    pub const fn is_bypass(self) -> bool {
        self.raw() == 0b100
    }

    /// Whether stage 1 translates (Config = 0b1x1).
    #[must_use]
    pub const fn stage1_enabled(self) -> bool {
        self.raw() & 0b101 == 0b101
    }

    /// Whether stage 2 translates (Config = 0b11x).
    #[must_use]
    pub const fn stage2_enabled(self) -> bool {
        self.raw() & 0b110 == 0b110
    }
}

spec_enum! {
    /// STE.S1Fmt, `dw0[5:4]`: layout of the CD table that S1ContextPtr points to.
    /// Ignored when S1CDMax = 0 or IDR1.SSIDSIZE = 0.
    pub enum S1Fmt: 2 {
        /// 0: linear table of CDs, indexed by SubstreamID\[S1CDMax−1:0\].
        Linear = 0,
        /// 1: 2-level table, 4 KB leaf tables of 64 CDs.
        TwoLevel4K = 1,
        /// 2: 2-level table, 64 KB leaf tables of 1024 CDs.
        TwoLevel64K = 2,
        /// 3: reserved, behaves as [`S1Fmt::Linear`].
        Reserved = 3,
    }
}

impl S1Fmt {
    /// The format the SMMU uses: the reserved encoding behaves as linear.
    #[must_use]
    pub const fn effective(self) -> Self {
        match self {
            Self::Reserved => Self::Linear,
            other => other,
        }
    }
}

spec_enum! {
    /// STE.S1DSS, `dw1[1:0]`: what happens to traffic without a SubstreamID when
    /// substreams are enabled (S1CDMax ≠ 0).
    pub enum S1Dss: 2 {
        /// 0: terminate, recording F_STREAM_DISABLED.
        Terminate = 0,
        /// 1: bypass stage 1.
        Bypass = 1,
        /// 2: use CD 0 (SubstreamID 0 is then unavailable to traffic with a substream).
        Substream0 = 2,
        /// 3: reserved, behaves as [`S1Dss::Terminate`].
        Reserved = 3,
    }
}

impl S1Dss {
    /// The behaviour the SMMU uses: the reserved encoding behaves as terminate.
    #[must_use]
    pub const fn effective(self) -> Self {
        match self {
            Self::Reserved => Self::Terminate,
            other => other,
        }
    }
}

spec_enum! {
    /// STE.EATS, `dw1[29:28]`: PCIe ATS. Ignored when IDR0.ATS = 0 or Config\[1:0\] = 0b00.
    pub enum Eats: 2 {
        /// 0b00: ATS disabled (translation requests get UR).
        Disabled = 0,
        /// 0b01: full ATS, translating at every enabled stage.
        Full = 1,
        /// 0b10: split-stage ATS (stage 1 only in the response; needs Config = 0b111).
        SplitStage = 2,
        /// 0b11: full ATS with DPT checks (reserved, behaves as 0b00, if IDR3.DPT = 0).
        FullDpt = 3,
    }
}

spec_enum! {
    /// STE.STRW, `dw1[31:30]`: StreamWorld of a stage-1-only stream. Used only when
    /// IDR0.S1P = 1, IDR0.HYP = 1 and Config = 0b101 (otherwise RES0 or ignored).
    pub enum Strw: 2 {
        /// 0b00: NS-EL1.
        El1 = 0,
        /// 0b01: EL3 for Secure STEs; ILLEGAL in a Non-secure STE.
        El3 = 1,
        /// 0b10: NS-EL2, or NS-EL2-E2H when CR2.E2H = 1.
        El2 = 2,
        /// 0b11: reserved, ILLEGAL.
        Reserved = 3,
    }
}

spec_enum! {
    /// STE.S2TG, `dw2[47:46]`: stage 2 translation granule.
    pub enum S2Tg: 2 {
        /// 0b00: 4 KB.
        Size4K = 0,
        /// 0b01: 64 KB.
        Size64K = 1,
        /// 0b10: 16 KB.
        Size16K = 2,
        /// 0b11: reserved (ILLEGAL when stage 2 uses VMSAv8-64).
        Reserved = 3,
    }
}

impl S2Tg {
    /// The granule, or `None` for the reserved encoding.
    #[must_use]
    pub const fn granule(self) -> Option<Granule> {
        match self {
            Self::Size4K => Some(Granule::Size4K),
            Self::Size16K => Some(Granule::Size16K),
            Self::Size64K => Some(Granule::Size64K),
            Self::Reserved => None,
        }
    }

    /// The encoding of a granule.
    #[must_use]
    pub const fn from_granule(granule: Granule) -> Self {
        match granule {
            Granule::Size4K => Self::Size4K,
            Granule::Size16K => Self::Size16K,
            Granule::Size64K => Self::Size64K,
        }
    }
}

spec_enum! {
    /// STE.SHCFG, `dw1[45:44]`: shareability override (RES0 unless
    /// IDR1.ATTR_TYPES_OVR = 1).
    pub enum Shcfg: 2 {
        /// 0b00: non-shareable.
        NonShareable = 0,
        /// 0b01: use the incoming shareability.
        Incoming = 1,
        /// 0b10: outer shareable.
        Outer = 2,
        /// 0b11: inner shareable.
        Inner = 3,
    }
}

spec_enum! {
    /// STE.NSCFG, `dw1[47:46]`: NS attribute override (Secure streams only; ignored in a
    /// Non-secure STE).
    pub enum Nscfg: 2 {
        /// 0b00: use the incoming NS attribute.
        Incoming = 0,
        /// 0b01: reserved, behaves as [`Nscfg::Incoming`].
        Reserved = 1,
        /// 0b10: Secure.
        Secure = 2,
        /// 0b11: Non-secure.
        NonSecure = 3,
    }
}

spec_enum! {
    /// STE.PRIVCFG, `dw1[49:48]`: privilege override (RES0 unless
    /// IDR1.ATTR_PERMS_OVR = 1).
    pub enum Privcfg: 2 {
        /// 0b00: use the incoming attribute.
        Incoming = 0,
        /// 0b01: reserved, behaves as [`Privcfg::Incoming`].
        Reserved = 1,
        /// 0b10: unprivileged.
        Unprivileged = 2,
        /// 0b11: privileged.
        Privileged = 3,
    }
}

spec_enum! {
    /// STE.INSTCFG, `dw1[51:50]`: instruction/data override for reads (RES0 unless
    /// IDR1.ATTR_PERMS_OVR = 1).
    pub enum Instcfg: 2 {
        /// 0b00: use the incoming attribute.
        Incoming = 0,
        /// 0b01: reserved, behaves as [`Instcfg::Incoming`].
        Reserved = 1,
        /// 0b10: data.
        Data = 2,
        /// 0b11: instruction.
        Instruction = 3,
    }
}

spec_enum! {
    /// STE.DPT_VMATCH, `dw2[63:62]`: VMID matching for DPT checks (with EATS = 0b11).
    pub enum DptVmatch: 2 {
        /// 0b00: S2VMID must match, or the DPT entry must have AC = 0b10.
        VmidOrAc10 = 0,
        /// 0b01: S2VMID must match, or the DPT entry must have AC = 0b01 or 0b10.
        VmidOrAc01Or10 = 1,
        /// 0b10: S2VMID need not match.
        NoVmidMatch = 2,
        /// 0b11: reserved, behaves as [`DptVmatch::VmidOrAc10`].
        Reserved = 3,
    }
}

// ---------------------------------------------------------------------------------------
// Field positions
// ---------------------------------------------------------------------------------------

/// The position of every STE field (spec §2.1), as `FieldPos { word, lsb, width }` with
/// `word` = `dwN` and `lsb` relative to that word.
///
/// Address fields (S1ContextPtr, S2TTB, VMSPtr, S_S2TTB) hold the address bits in place:
/// the field at `dw3[55:4]` is address bits \[55:4\].
pub mod field {
    use crate::fields::FieldPos;

    /// V, `dw0[0]`.
    pub const V: FieldPos = FieldPos::new(0, 0, 1);
    /// Config, `dw0[3:1]`.
    pub const CONFIG: FieldPos = FieldPos::new(0, 1, 3);
    /// S1Fmt, `dw0[5:4]`.
    pub const S1FMT: FieldPos = FieldPos::new(0, 4, 2);
    /// S1ContextPtr, `dw0[55:6]` (address bits \[55:6\]).
    pub const S1_CONTEXT_PTR: FieldPos = FieldPos::new(0, 6, 50);
    /// S1CDMax, `dw0[63:59]`.
    pub const S1CDMAX: FieldPos = FieldPos::new(0, 59, 5);

    /// S1DSS, `dw1[1:0]`.
    pub const S1DSS: FieldPos = FieldPos::new(1, 0, 2);
    /// S1CIR, `dw1[3:2]`.
    pub const S1CIR: FieldPos = FieldPos::new(1, 2, 2);
    /// S1COR, `dw1[5:4]`.
    pub const S1COR: FieldPos = FieldPos::new(1, 4, 2);
    /// S1CSH, `dw1[7:6]`.
    pub const S1CSH: FieldPos = FieldPos::new(1, 6, 2);
    /// S2HWU59..S2HWU62, `dw1[11:8]` (bit 8 is S2HWU59).
    pub const S2HWU: FieldPos = FieldPos::new(1, 8, 4);
    /// DRE, `dw1[12]`.
    pub const DRE: FieldPos = FieldPos::new(1, 12, 1);
    /// CONT, `dw1[16:13]`.
    pub const CONT: FieldPos = FieldPos::new(1, 13, 4);
    /// DCP, `dw1[17]`.
    pub const DCP: FieldPos = FieldPos::new(1, 17, 1);
    /// PPAR, `dw1[18]`.
    pub const PPAR: FieldPos = FieldPos::new(1, 18, 1);
    /// MEV, `dw1[19]`.
    pub const MEV: FieldPos = FieldPos::new(1, 19, 1);
    /// SW_RESERVED, `dw1[23:20]`.
    pub const SW_RESERVED: FieldPos = FieldPos::new(1, 20, 4);
    /// S1PIE, `dw1[24]`.
    pub const S1PIE: FieldPos = FieldPos::new(1, 24, 1);
    /// S2FWB, `dw1[25]`.
    pub const S2FWB: FieldPos = FieldPos::new(1, 25, 1);
    /// S1MPAM, `dw1[26]`.
    pub const S1MPAM: FieldPos = FieldPos::new(1, 26, 1);
    /// S1STALLD, `dw1[27]`.
    pub const S1STALLD: FieldPos = FieldPos::new(1, 27, 1);
    /// EATS, `dw1[29:28]`.
    pub const EATS: FieldPos = FieldPos::new(1, 28, 2);
    /// STRW, `dw1[31:30]`.
    pub const STRW: FieldPos = FieldPos::new(1, 30, 2);
    /// MemAttr, `dw1[35:32]`.
    pub const MEM_ATTR: FieldPos = FieldPos::new(1, 32, 4);
    /// MTCFG, `dw1[36]`.
    pub const MTCFG: FieldPos = FieldPos::new(1, 36, 1);
    /// ALLOCCFG, `dw1[40:37]`.
    pub const ALLOCCFG: FieldPos = FieldPos::new(1, 37, 4);
    /// SHCFG, `dw1[45:44]`.
    pub const SHCFG: FieldPos = FieldPos::new(1, 44, 2);
    /// NSCFG, `dw1[47:46]`.
    pub const NSCFG: FieldPos = FieldPos::new(1, 46, 2);
    /// PRIVCFG, `dw1[49:48]`.
    pub const PRIVCFG: FieldPos = FieldPos::new(1, 48, 2);
    /// INSTCFG, `dw1[51:50]`.
    pub const INSTCFG: FieldPos = FieldPos::new(1, 50, 2);
    /// IMPLEMENTATION DEFINED, `dw1[63:52]`.
    pub const IMPDEF_DW1: FieldPos = FieldPos::new(1, 52, 12);

    /// S2VMID, `dw2[15:0]`.
    pub const S2VMID: FieldPos = FieldPos::new(2, 0, 16);
    /// IMPLEMENTATION DEFINED, `dw2[31:16]`.
    pub const IMPDEF_DW2: FieldPos = FieldPos::new(2, 16, 16);
    /// S2T0SZ, `dw2[37:32]`.
    pub const S2T0SZ: FieldPos = FieldPos::new(2, 32, 6);
    /// S2SL0, `dw2[39:38]`.
    pub const S2SL0: FieldPos = FieldPos::new(2, 38, 2);
    /// S2IR0, `dw2[41:40]`.
    pub const S2IR0: FieldPos = FieldPos::new(2, 40, 2);
    /// S2OR0, `dw2[43:42]`.
    pub const S2OR0: FieldPos = FieldPos::new(2, 42, 2);
    /// S2SH0, `dw2[45:44]`.
    pub const S2SH0: FieldPos = FieldPos::new(2, 44, 2);
    /// S2TG, `dw2[47:46]`.
    pub const S2TG: FieldPos = FieldPos::new(2, 46, 2);
    /// S2PS, `dw2[50:48]`.
    pub const S2PS: FieldPos = FieldPos::new(2, 48, 3);
    /// S2AA64, `dw2[51]`.
    pub const S2AA64: FieldPos = FieldPos::new(2, 51, 1);
    /// S2ENDI, `dw2[52]`.
    pub const S2ENDI: FieldPos = FieldPos::new(2, 52, 1);
    /// S2AFFD, `dw2[53]`.
    pub const S2AFFD: FieldPos = FieldPos::new(2, 53, 1);
    /// S2PTW, `dw2[54]`.
    pub const S2PTW: FieldPos = FieldPos::new(2, 54, 1);
    /// S2HD, `dw2[55]`.
    pub const S2HD: FieldPos = FieldPos::new(2, 55, 1);
    /// S2HA, `dw2[56]`.
    pub const S2HA: FieldPos = FieldPos::new(2, 56, 1);
    /// S2S, `dw2[57]`.
    pub const S2S: FieldPos = FieldPos::new(2, 57, 1);
    /// S2R, `dw2[58]`.
    pub const S2R: FieldPos = FieldPos::new(2, 58, 1);
    /// S2HAFT, `dw2[59]`.
    pub const S2HAFT: FieldPos = FieldPos::new(2, 59, 1);
    /// S2PIE, `dw2[60]`.
    pub const S2PIE: FieldPos = FieldPos::new(2, 60, 1);
    /// S2POE, `dw2[61]`.
    pub const S2POE: FieldPos = FieldPos::new(2, 61, 1);
    /// DPT_VMATCH, `dw2[63:62]`.
    pub const DPT_VMATCH: FieldPos = FieldPos::new(2, 62, 2);

    /// S2NSW, `dw3[0]`.
    pub const S2NSW: FieldPos = FieldPos::new(3, 0, 1);
    /// S2NSA, `dw3[1]`.
    pub const S2NSA: FieldPos = FieldPos::new(3, 1, 1);
    /// S2SL0_2, `dw3[2]`.
    pub const S2SL0_2: FieldPos = FieldPos::new(3, 2, 1);
    /// S2DS, `dw3[3]`.
    pub const S2DS: FieldPos = FieldPos::new(3, 3, 1);
    /// S2TTB, `dw3[55:4]` (address bits \[55:4\]).
    pub const S2TTB: FieldPos = FieldPos::new(3, 4, 52);
    /// S2SKL, `dw3[62:61]`.
    pub const S2SKL: FieldPos = FieldPos::new(3, 61, 2);

    /// IMPLEMENTATION DEFINED, `dw4[15:0]`.
    pub const IMPDEF_DW4: FieldPos = FieldPos::new(4, 0, 16);
    /// PARTID, `dw4[31:16]`.
    pub const PARTID: FieldPos = FieldPos::new(4, 16, 16);
    /// S_S2T0SZ, `dw4[37:32]`.
    pub const S_S2T0SZ: FieldPos = FieldPos::new(4, 32, 6);
    /// S_S2SL0, `dw4[39:38]`.
    pub const S_S2SL0: FieldPos = FieldPos::new(4, 38, 2);
    /// S_S2TG, `dw4[47:46]`.
    pub const S_S2TG: FieldPos = FieldPos::new(4, 46, 2);
    /// MECID, `dw4[63:48]`.
    pub const MECID: FieldPos = FieldPos::new(4, 48, 16);

    /// PMG, `dw5[7:0]`.
    pub const PMG: FieldPos = FieldPos::new(5, 0, 8);
    /// MPAM_NS, `dw5[8]`.
    pub const MPAM_NS: FieldPos = FieldPos::new(5, 8, 1);
    /// AssuredOnly, `dw5[9]`.
    pub const ASSURED_ONLY: FieldPos = FieldPos::new(5, 9, 1);
    /// TL0, `dw5[10]`.
    pub const TL0: FieldPos = FieldPos::new(5, 10, 1);
    /// TL1, `dw5[11]`.
    pub const TL1: FieldPos = FieldPos::new(5, 11, 1);
    /// VMSPtr, `dw5[55:12]` (address bits \[55:12\]).
    pub const VMS_PTR: FieldPos = FieldPos::new(5, 12, 44);

    /// S2SW, `dw6[0]`.
    pub const S2SW: FieldPos = FieldPos::new(6, 0, 1);
    /// S2SA, `dw6[1]`.
    pub const S2SA: FieldPos = FieldPos::new(6, 1, 1);
    /// S_S2SL0_2, `dw6[2]`.
    pub const S_S2SL0_2: FieldPos = FieldPos::new(6, 2, 1);
    /// S_S2TTB, `dw6[55:4]` (address bits \[55:4\]).
    pub const S_S2TTB: FieldPos = FieldPos::new(6, 4, 52);
    /// S_S2SKL, `dw6[62:61]`.
    pub const S_S2SKL: FieldPos = FieldPos::new(6, 61, 2);

    /// S2POI\<p\>, `dw7[4p+3:4p]`, for p = 0..15.
    pub const S2POI: [FieldPos; 16] = {
        let mut a = [FieldPos::new(7, 0, 4); 16];
        let mut p = 0;
        while p < 16 {
            a[p] = FieldPos::new(7, 4 * p as u32, 4);
            p += 1;
        }
        a
    };

    /// The "VTCR" group `dw2[50:32]` (S2T0SZ, S2SL0, S2IR0, S2OR0, S2SH0, S2TG, S2PS),
    /// which Linux treats as one unit. A group, not a field: not listed in [`ALL`].
    pub const VTCR: FieldPos = FieldPos::new(2, 32, 19);

    /// Every field with its spec name, in structure order. The fields are disjoint, and
    /// together with [`super::RES0`] they cover all 512 bits.
    pub const ALL: &[(&str, FieldPos)] = &[
        ("V", V),
        ("Config", CONFIG),
        ("S1Fmt", S1FMT),
        ("S1ContextPtr", S1_CONTEXT_PTR),
        ("S1CDMax", S1CDMAX),
        ("S1DSS", S1DSS),
        ("S1CIR", S1CIR),
        ("S1COR", S1COR),
        ("S1CSH", S1CSH),
        ("S2HWU", S2HWU),
        ("DRE", DRE),
        ("CONT", CONT),
        ("DCP", DCP),
        ("PPAR", PPAR),
        ("MEV", MEV),
        ("SW_RESERVED", SW_RESERVED),
        ("S1PIE", S1PIE),
        ("S2FWB", S2FWB),
        ("S1MPAM", S1MPAM),
        ("S1STALLD", S1STALLD),
        ("EATS", EATS),
        ("STRW", STRW),
        ("MemAttr", MEM_ATTR),
        ("MTCFG", MTCFG),
        ("ALLOCCFG", ALLOCCFG),
        ("SHCFG", SHCFG),
        ("NSCFG", NSCFG),
        ("PRIVCFG", PRIVCFG),
        ("INSTCFG", INSTCFG),
        ("IMPDEF_DW1", IMPDEF_DW1),
        ("S2VMID", S2VMID),
        ("IMPDEF_DW2", IMPDEF_DW2),
        ("S2T0SZ", S2T0SZ),
        ("S2SL0", S2SL0),
        ("S2IR0", S2IR0),
        ("S2OR0", S2OR0),
        ("S2SH0", S2SH0),
        ("S2TG", S2TG),
        ("S2PS", S2PS),
        ("S2AA64", S2AA64),
        ("S2ENDI", S2ENDI),
        ("S2AFFD", S2AFFD),
        ("S2PTW", S2PTW),
        ("S2HD", S2HD),
        ("S2HA", S2HA),
        ("S2S", S2S),
        ("S2R", S2R),
        ("S2HAFT", S2HAFT),
        ("S2PIE", S2PIE),
        ("S2POE", S2POE),
        ("DPT_VMATCH", DPT_VMATCH),
        ("S2NSW", S2NSW),
        ("S2NSA", S2NSA),
        ("S2SL0_2", S2SL0_2),
        ("S2DS", S2DS),
        ("S2TTB", S2TTB),
        ("S2SKL", S2SKL),
        ("IMPDEF_DW4", IMPDEF_DW4),
        ("PARTID", PARTID),
        ("S_S2T0SZ", S_S2T0SZ),
        ("S_S2SL0", S_S2SL0),
        ("S_S2TG", S_S2TG),
        ("MECID", MECID),
        ("PMG", PMG),
        ("MPAM_NS", MPAM_NS),
        ("AssuredOnly", ASSURED_ONLY),
        ("TL0", TL0),
        ("TL1", TL1),
        ("VMSPtr", VMS_PTR),
        ("S2SW", S2SW),
        ("S2SA", S2SA),
        ("S_S2SL0_2", S_S2SL0_2),
        ("S_S2TTB", S_S2TTB),
        ("S_S2SKL", S_S2SKL),
        ("S2POI0", S2POI[0]),
        ("S2POI1", S2POI[1]),
        ("S2POI2", S2POI[2]),
        ("S2POI3", S2POI[3]),
        ("S2POI4", S2POI[4]),
        ("S2POI5", S2POI[5]),
        ("S2POI6", S2POI[6]),
        ("S2POI7", S2POI[7]),
        ("S2POI8", S2POI[8]),
        ("S2POI9", S2POI[9]),
        ("S2POI10", S2POI[10]),
        ("S2POI11", S2POI[11]),
        ("S2POI12", S2POI[12]),
        ("S2POI13", S2POI[13]),
        ("S2POI14", S2POI[14]),
        ("S2POI15", S2POI[15]),
    ];
}

/// The reserved (RES0) bits of each STE word: every bit that belongs to no field of
/// [`field::ALL`].
pub const RES0: [u64; 8] = [
    0x0700_0000_0000_0000, // dw0[58:56]
    0x0000_0e00_0000_0000, // dw1[43:41]
    0,
    0x9f00_0000_0000_0000, // dw3[63], dw3[60:56]
    0x0000_3f00_0000_0000, // dw4[45:40]
    0xff00_0000_0000_0000, // dw5[63:56]
    0x9f00_0000_0000_0008, // dw6[63], dw6[60:56], dw6[3]
    0,
];

// ---------------------------------------------------------------------------------------
// Typed per-word views
// ---------------------------------------------------------------------------------------

/// STE word 0 (bits \[63:0\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw0 {
    /// \[0\] V.
    pub v: bool,
    /// \[3:1\] Config.
    pub config: Config,
    /// \[5:4\] S1Fmt.
    pub s1fmt: S1Fmt,
    /// \[55:6\] S1ContextPtr: address bits \[55:6\] (the value is the address >> 6).
    pub s1_context_ptr: B50,
    #[skip]
    __: B3,
    /// \[63:59\] S1CDMax.
    pub s1cdmax: B5,
}

/// STE word 1 (bits \[127:64\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw1 {
    /// \[1:0\] S1DSS.
    pub s1dss: S1Dss,
    /// \[3:2\] S1CIR.
    pub s1cir: Cacheability,
    /// \[5:4\] S1COR.
    pub s1cor: Cacheability,
    /// \[7:6\] S1CSH.
    pub s1csh: Shareability,
    /// \[11:8\] S2HWU59..S2HWU62.
    pub s2hwu: B4,
    /// \[12\] DRE.
    pub dre: bool,
    /// \[16:13\] CONT.
    pub cont: B4,
    /// \[17\] DCP.
    pub dcp: bool,
    /// \[18\] PPAR.
    pub ppar: bool,
    /// \[19\] MEV.
    pub mev: bool,
    /// \[23:20\] SW_RESERVED.
    pub sw_reserved: B4,
    /// \[24\] S1PIE.
    pub s1pie: bool,
    /// \[25\] S2FWB.
    pub s2fwb: bool,
    /// \[26\] S1MPAM.
    pub s1mpam: bool,
    /// \[27\] S1STALLD.
    pub s1stalld: bool,
    /// \[29:28\] EATS.
    pub eats: Eats,
    /// \[31:30\] STRW.
    pub strw: Strw,
    /// \[35:32\] MemAttr.
    pub mem_attr: B4,
    /// \[36\] MTCFG.
    pub mtcfg: bool,
    /// \[40:37\] ALLOCCFG.
    pub alloccfg: B4,
    #[skip]
    __: B3,
    /// \[45:44\] SHCFG.
    pub shcfg: Shcfg,
    /// \[47:46\] NSCFG.
    pub nscfg: Nscfg,
    /// \[49:48\] PRIVCFG.
    pub privcfg: Privcfg,
    /// \[51:50\] INSTCFG.
    pub instcfg: Instcfg,
    /// \[63:52\] IMPLEMENTATION DEFINED.
    pub impdef: B12,
}

/// STE word 2 (bits \[191:128\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw2 {
    /// \[15:0\] S2VMID.
    pub s2vmid: u16,
    /// \[31:16\] IMPLEMENTATION DEFINED.
    pub impdef: u16,
    /// \[37:32\] S2T0SZ.
    pub s2t0sz: B6,
    /// \[39:38\] S2SL0.
    pub s2sl0: B2,
    /// \[41:40\] S2IR0.
    pub s2ir0: Cacheability,
    /// \[43:42\] S2OR0.
    pub s2or0: Cacheability,
    /// \[45:44\] S2SH0.
    pub s2sh0: Shareability,
    /// \[47:46\] S2TG.
    pub s2tg: S2Tg,
    /// \[50:48\] S2PS.
    pub s2ps: AddressSize,
    /// \[51\] S2AA64.
    pub s2aa64: bool,
    /// \[52\] S2ENDI.
    pub s2endi: bool,
    /// \[53\] S2AFFD.
    pub s2affd: bool,
    /// \[54\] S2PTW.
    pub s2ptw: bool,
    /// \[55\] S2HD.
    pub s2hd: bool,
    /// \[56\] S2HA.
    pub s2ha: bool,
    /// \[57\] S2S.
    pub s2s: bool,
    /// \[58\] S2R.
    pub s2r: bool,
    /// \[59\] S2HAFT.
    pub s2haft: bool,
    /// \[60\] S2PIE.
    pub s2pie: bool,
    /// \[61\] S2POE.
    pub s2poe: bool,
    /// \[63:62\] DPT_VMATCH.
    pub dpt_vmatch: DptVmatch,
}

/// STE word 3 (bits \[255:192\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw3 {
    /// \[0\] S2NSW.
    pub s2nsw: bool,
    /// \[1\] S2NSA.
    pub s2nsa: bool,
    /// \[2\] S2SL0_2.
    pub s2sl0_2: bool,
    /// \[3\] S2DS.
    pub s2ds: bool,
    /// \[55:4\] S2TTB: address bits \[55:4\] (the value is the address >> 4).
    pub s2ttb: B52,
    #[skip]
    __: B5,
    /// \[62:61\] S2SKL.
    pub s2skl: B2,
    #[skip]
    __: B1,
}

/// STE word 4 (bits \[319:256\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw4 {
    /// \[15:0\] IMPLEMENTATION DEFINED.
    pub impdef: u16,
    /// \[31:16\] PARTID.
    pub partid: u16,
    /// \[37:32\] S_S2T0SZ.
    pub s_s2t0sz: B6,
    /// \[39:38\] S_S2SL0.
    pub s_s2sl0: B2,
    #[skip]
    __: B6,
    /// \[47:46\] S_S2TG.
    pub s_s2tg: S2Tg,
    /// \[63:48\] MECID.
    pub mecid: u16,
}

/// STE word 5 (bits \[383:320\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw5 {
    /// \[7:0\] PMG.
    pub pmg: u8,
    /// \[8\] MPAM_NS.
    pub mpam_ns: bool,
    /// \[9\] AssuredOnly.
    pub assured_only: bool,
    /// \[10\] TL0.
    pub tl0: bool,
    /// \[11\] TL1.
    pub tl1: bool,
    /// \[55:12\] VMSPtr: address bits \[55:12\] (the value is the address >> 12).
    pub vms_ptr: B44,
    #[skip]
    __: B8,
}

/// STE word 6 (bits \[447:384\]) as a typed bitfield.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw6 {
    /// \[0\] S2SW.
    pub s2sw: bool,
    /// \[1\] S2SA.
    pub s2sa: bool,
    /// \[2\] S_S2SL0_2.
    pub s_s2sl0_2: bool,
    #[skip]
    __: B1,
    /// \[55:4\] S_S2TTB: address bits \[55:4\] (the value is the address >> 4).
    pub s_s2ttb: B52,
    #[skip]
    __: B5,
    /// \[62:61\] S_S2SKL.
    pub s_s2skl: B2,
    #[skip]
    __: B1,
}

/// STE word 7 (bits \[511:448\]) as a typed bitfield: the sixteen 4-bit S2POI\<p\>.
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteDw7 {
    /// \[3:0\] S2POI0.
    pub s2poi0: B4,
    /// \[7:4\] S2POI1.
    pub s2poi1: B4,
    /// \[11:8\] S2POI2.
    pub s2poi2: B4,
    /// \[15:12\] S2POI3.
    pub s2poi3: B4,
    /// \[19:16\] S2POI4.
    pub s2poi4: B4,
    /// \[23:20\] S2POI5.
    pub s2poi5: B4,
    /// \[27:24\] S2POI6.
    pub s2poi6: B4,
    /// \[31:28\] S2POI7.
    pub s2poi7: B4,
    /// \[35:32\] S2POI8.
    pub s2poi8: B4,
    /// \[39:36\] S2POI9.
    pub s2poi9: B4,
    /// \[43:40\] S2POI10.
    pub s2poi10: B4,
    /// \[47:44\] S2POI11.
    pub s2poi11: B4,
    /// \[51:48\] S2POI12.
    pub s2poi12: B4,
    /// \[55:52\] S2POI13.
    pub s2poi13: B4,
    /// \[59:56\] S2POI14.
    pub s2poi14: B4,
    /// \[63:60\] S2POI15.
    pub s2poi15: B4,
}

// ---------------------------------------------------------------------------------------
// The STE
// ---------------------------------------------------------------------------------------

/// A Stream Table Entry: 64 bytes, eight little-endian 64-bit words (`dw0` first).
///
/// Any bit pattern is a valid `Ste` value (it is what the SMMU would read); whether the
/// hardware accepts it is [`Ste::check`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct Ste([u64; 8]);

word_array_api!(Ste, "Ste");

macro_rules! dw_views {
    ($( $get:ident / $with:ident : $view:ident = $i:literal; )*) => {
        $(
            #[doc = concat!("Word ", stringify!($i), " as the typed view [`", stringify!($view), "`].")]
            #[must_use]
            #[inline]
            pub fn $get(&self) -> $view {
                $view::from(self.0[$i])
            }

            #[doc = concat!("Returns a copy with word ", stringify!($i), " replaced by `dw`.")]
            #[must_use]
            #[inline]
            pub fn $with(self, dw: $view) -> Self {
                let mut w = self.0;
                w[$i] = u64::from(dw);
                Self(w)
            }
        )*
    };
}

impl Ste {
    /// An invalid entry (all zero, V = 0): traffic is aborted and C_BAD_STE recorded.
    pub const INVALID: Self = Self([0; 8]);

    /// V = 1, Config = abort: traffic is aborted silently (no event).
    pub const ABORT: Self = Self([0b1, 0, 0, 0, 0, 0, 0, 0]);

    /// V = 1, Config = bypass, SHCFG = use incoming (`dw1[45:44]` = 0b01), as Linux
    /// writes it. SHCFG is RES0 unless IDR1.ATTR_TYPES_OVR = 1; clear it with
    /// `with_shcfg(Shcfg::NonShareable)` for such an SMMU.
    pub const BYPASS: Self = Self([0b1001, 1 << 44, 0, 0, 0, 0, 0, 0]);

    dw_views! {
        dw0 / with_dw0: SteDw0 = 0;
        dw1 / with_dw1: SteDw1 = 1;
        dw2 / with_dw2: SteDw2 = 2;
        dw3 / with_dw3: SteDw3 = 3;
        dw4 / with_dw4: SteDw4 = 4;
        dw5 / with_dw5: SteDw5 = 5;
        dw6 / with_dw6: SteDw6 = 6;
        dw7 / with_dw7: SteDw7 = 7;
    }

    /// Whether V = 1. A valid entry may still be ILLEGAL; see [`Ste::check`].
    #[must_use]
    #[inline]
    pub const fn is_valid(&self) -> bool {
        self.v()
    }

    accessors! {
        /// V, `dw0[0]`: entry valid.
        flag v / with_v = field::V, "STE.V";
        /// Config, `dw0[3:1]`: which stages translate.
        enum config / with_config = field::CONFIG, "STE.Config", Config, Config::from_raw;
        /// S1Fmt, `dw0[5:4]`: CD table format.
        enum s1fmt / with_s1fmt = field::S1FMT, "STE.S1Fmt", S1Fmt, S1Fmt::from_raw;
        /// S1ContextPtr, `dw0[55:6]`: address of the CD or CD table (an IPA when stage 2
        /// translates), 64-byte aligned.
        addr s1_context_ptr / with_s1_context_ptr = field::S1_CONTEXT_PTR, "STE.S1ContextPtr";
        /// S1CDMax, `dw0[63:59]`: log2 of the number of CDs (0 = substreams disabled).
        uint s1cdmax / with_s1cdmax = field::S1CDMAX, "STE.S1CDMax", u8;
        /// S1DSS, `dw1[1:0]`: default substream behaviour.
        enum s1dss / with_s1dss = field::S1DSS, "STE.S1DSS", S1Dss, S1Dss::from_raw;
        /// S1CIR, `dw1[3:2]`: inner cacheability of CD fetches.
        enum s1cir / with_s1cir = field::S1CIR, "STE.S1CIR", Cacheability, cacheability_from_raw;
        /// S1COR, `dw1[5:4]`: outer cacheability of CD fetches.
        enum s1cor / with_s1cor = field::S1COR, "STE.S1COR", Cacheability, cacheability_from_raw;
        /// S1CSH, `dw1[7:6]`: shareability of CD fetches.
        enum s1csh / with_s1csh = field::S1CSH, "STE.S1CSH", Shareability, shareability_from_raw;
        /// S2HWU59..S2HWU62, `dw1[11:8]` (bit 0 of the value is S2HWU59).
        uint s2hwu / with_s2hwu = field::S2HWU, "STE.S2HWU", u8;
        /// DRE, `dw1[12]`: destructive read enable.
        flag dre / with_dre = field::DRE, "STE.DRE";
        /// CONT, `dw1[16:13]`: contiguous hint (log2 of the span of identical STEs).
        uint cont / with_cont = field::CONT, "STE.CONT", u8;
        /// DCP, `dw1[17]`: directed cache prefetch.
        flag dcp / with_dcp = field::DCP, "STE.DCP";
        /// PPAR, `dw1[18]`: PASID on automatic PRI responses.
        flag ppar / with_ppar = field::PPAR, "STE.PPAR";
        /// MEV, `dw1[19]`: merge events.
        flag mev / with_mev = field::MEV, "STE.MEV";
        /// SW_RESERVED, `dw1[23:20]`: for software use, ignored by the SMMU.
        uint sw_reserved / with_sw_reserved = field::SW_RESERVED, "STE.SW_RESERVED", u8;
        /// S1PIE, `dw1[24]`: CDs may enable stage 1 permission indirection.
        flag s1pie / with_s1pie = field::S1PIE, "STE.S1PIE";
        /// S2FWB, `dw1[25]`: stage 2 forced write-back.
        flag s2fwb / with_s2fwb = field::S2FWB, "STE.S2FWB";
        /// S1MPAM, `dw1[26]`: MPAM ids come from the CD.
        flag s1mpam / with_s1mpam = field::S1MPAM, "STE.S1MPAM";
        /// S1STALLD, `dw1[27]`: stage 1 stalls not allowed.
        flag s1stalld / with_s1stalld = field::S1STALLD, "STE.S1STALLD";
        /// EATS, `dw1[29:28]`: PCIe ATS.
        enum eats / with_eats = field::EATS, "STE.EATS", Eats, Eats::from_raw;
        /// STRW, `dw1[31:30]`: StreamWorld.
        enum strw / with_strw = field::STRW, "STE.STRW", Strw, Strw::from_raw;
        /// MemAttr, `dw1[35:32]`: memory type override (with MTCFG = 1).
        uint mem_attr / with_mem_attr = field::MEM_ATTR, "STE.MemAttr", u8;
        /// MTCFG, `dw1[36]`: replace the incoming memory type with MemAttr.
        flag mtcfg / with_mtcfg = field::MTCFG, "STE.MTCFG";
        /// ALLOCCFG, `dw1[40:37]`: allocation hint override.
        uint alloccfg / with_alloccfg = field::ALLOCCFG, "STE.ALLOCCFG", u8;
        /// SHCFG, `dw1[45:44]`: shareability override.
        enum shcfg / with_shcfg = field::SHCFG, "STE.SHCFG", Shcfg, Shcfg::from_raw;
        /// NSCFG, `dw1[47:46]`: NS attribute override (Secure streams).
        enum nscfg / with_nscfg = field::NSCFG, "STE.NSCFG", Nscfg, Nscfg::from_raw;
        /// PRIVCFG, `dw1[49:48]`: privilege override.
        enum privcfg / with_privcfg = field::PRIVCFG, "STE.PRIVCFG", Privcfg, Privcfg::from_raw;
        /// INSTCFG, `dw1[51:50]`: instruction/data override.
        enum instcfg / with_instcfg = field::INSTCFG, "STE.INSTCFG", Instcfg, Instcfg::from_raw;
        /// IMPLEMENTATION DEFINED, `dw1[63:52]`.
        uint impdef_dw1 / with_impdef_dw1 = field::IMPDEF_DW1, "STE.IMPDEF[127:116]", u16;
        /// S2VMID, `dw2[15:0]`.
        id s2vmid / with_s2vmid = field::S2VMID, "STE.S2VMID", Vmid;
        /// IMPLEMENTATION DEFINED, `dw2[31:16]`.
        word impdef_dw2 / with_impdef_dw2 = field::IMPDEF_DW2, "STE.IMPDEF[159:144]", u16;
        /// S2T0SZ, `dw2[37:32]`: the IPA size is 64 − S2T0SZ (VMSAv8-64).
        uint s2t0sz / with_s2t0sz = field::S2T0SZ, "STE.S2T0SZ", u8;
        /// S2SL0, `dw2[39:38]`: stage 2 starting level (encoding depends on S2TG).
        uint s2sl0 / with_s2sl0 = field::S2SL0, "STE.S2SL0", u8;
        /// S2IR0, `dw2[41:40]`: inner cacheability of stage 2 walks.
        enum s2ir0 / with_s2ir0 = field::S2IR0, "STE.S2IR0", Cacheability, cacheability_from_raw;
        /// S2OR0, `dw2[43:42]`: outer cacheability of stage 2 walks.
        enum s2or0 / with_s2or0 = field::S2OR0, "STE.S2OR0", Cacheability, cacheability_from_raw;
        /// S2SH0, `dw2[45:44]`: shareability of stage 2 walks.
        enum s2sh0 / with_s2sh0 = field::S2SH0, "STE.S2SH0", Shareability, shareability_from_raw;
        /// S2TG, `dw2[47:46]`: stage 2 granule.
        enum s2tg / with_s2tg = field::S2TG, "STE.S2TG", S2Tg, S2Tg::from_raw;
        /// S2PS, `dw2[50:48]`: stage 2 output size (effective = MIN(S2PS, IDR5.OAS)).
        enum s2ps / with_s2ps = field::S2PS, "STE.S2PS", AddressSize, AddressSize::from_raw;
        /// S2AA64, `dw2[51]`: 1 = VMSAv8-64 stage 2 tables, 0 = VMSAv8-32 LPAE.
        flag s2aa64 / with_s2aa64 = field::S2AA64, "STE.S2AA64";
        /// S2ENDI, `dw2[52]`: big-endian stage 2 tables.
        flag s2endi / with_s2endi = field::S2ENDI, "STE.S2ENDI";
        /// S2AFFD, `dw2[53]`: stage 2 Access flag fault disable.
        flag s2affd / with_s2affd = field::S2AFFD, "STE.S2AFFD";
        /// S2PTW, `dw2[54]`: protected table walk.
        flag s2ptw / with_s2ptw = field::S2PTW, "STE.S2PTW";
        /// S2HD, `dw2[55]`: hardware update of stage 2 dirty state.
        flag s2hd / with_s2hd = field::S2HD, "STE.S2HD";
        /// S2HA, `dw2[56]`: hardware update of stage 2 Access flags.
        flag s2ha / with_s2ha = field::S2HA, "STE.S2HA";
        /// S2S, `dw2[57]`: stall on stage 2 faults.
        flag s2s / with_s2s = field::S2S, "STE.S2S";
        /// S2R, `dw2[58]`: record stage 2 faults.
        flag s2r / with_s2r = field::S2R, "STE.S2R";
        /// S2HAFT, `dw2[59]`: hardware Access flag update in stage 2 table descriptors.
        flag s2haft / with_s2haft = field::S2HAFT, "STE.S2HAFT";
        /// S2PIE, `dw2[60]`: stage 2 permission indirection.
        flag s2pie / with_s2pie = field::S2PIE, "STE.S2PIE";
        /// S2POE, `dw2[61]`: stage 2 permission overlay.
        flag s2poe / with_s2poe = field::S2POE, "STE.S2POE";
        /// DPT_VMATCH, `dw2[63:62]`: VMID matching for DPT checks.
        enum dpt_vmatch / with_dpt_vmatch = field::DPT_VMATCH, "STE.DPT_VMATCH", DptVmatch, DptVmatch::from_raw;
        /// S2NSW, `dw3[0]`: NS of stage 2 walks (Secure STEs).
        flag s2nsw / with_s2nsw = field::S2NSW, "STE.S2NSW";
        /// S2NSA, `dw3[1]`: NS of stage 2 output (Secure STEs).
        flag s2nsa / with_s2nsa = field::S2NSA, "STE.S2NSA";
        /// S2SL0_2, `dw3[2]`: bit 2 of the starting level (with S2DS and a 4 KB granule).
        flag s2sl0_2 / with_s2sl0_2 = field::S2SL0_2, "STE.S2SL0_2";
        /// S2DS, `dw3[3]`: 52-bit addresses with 4 KB / 16 KB granules.
        flag s2ds / with_s2ds = field::S2DS, "STE.S2DS";
        /// S2TTB, `dw3[55:4]`: stage 2 translation table base, 16-byte aligned.
        addr s2ttb / with_s2ttb = field::S2TTB, "STE.S2TTB";
        /// S2SKL, `dw3[62:61]`: stage 2 skip levels (VMSAv9-128).
        uint s2skl / with_s2skl = field::S2SKL, "STE.S2SKL", u8;
        /// IMPLEMENTATION DEFINED, `dw4[15:0]`.
        word impdef_dw4 / with_impdef_dw4 = field::IMPDEF_DW4, "STE.IMPDEF[271:256]", u16;
        /// PARTID, `dw4[31:16]`: MPAM partition id.
        word partid / with_partid = field::PARTID, "STE.PARTID", u16;
        /// S_S2T0SZ, `dw4[37:32]`: Secure stage 2 T0SZ.
        uint s_s2t0sz / with_s_s2t0sz = field::S_S2T0SZ, "STE.S_S2T0SZ", u8;
        /// S_S2SL0, `dw4[39:38]`: Secure stage 2 starting level.
        uint s_s2sl0 / with_s_s2sl0 = field::S_S2SL0, "STE.S_S2SL0", u8;
        /// S_S2TG, `dw4[47:46]`: Secure stage 2 granule.
        enum s_s2tg / with_s_s2tg = field::S_S2TG, "STE.S_S2TG", S2Tg, S2Tg::from_raw;
        /// MECID, `dw4[63:48]`.
        word mecid / with_mecid = field::MECID, "STE.MECID", u16;
        /// PMG, `dw5[7:0]`: MPAM performance monitor group.
        word pmg / with_pmg = field::PMG, "STE.PMG", u8;
        /// MPAM_NS, `dw5[8]`.
        flag mpam_ns / with_mpam_ns = field::MPAM_NS, "STE.MPAM_NS";
        /// AssuredOnly, `dw5[9]`.
        flag assured_only / with_assured_only = field::ASSURED_ONLY, "STE.AssuredOnly";
        /// TL0, `dw5[10]`.
        flag tl0 / with_tl0 = field::TL0, "STE.TL0";
        /// TL1, `dw5[11]`.
        flag tl1 / with_tl1 = field::TL1, "STE.TL1";
        /// VMSPtr, `dw5[55:12]`: VMS address, 4 KB aligned.
        addr vms_ptr / with_vms_ptr = field::VMS_PTR, "STE.VMSPtr";
        /// S2SW, `dw6[0]`: NS of Secure stage 2 walks.
        flag s2sw / with_s2sw = field::S2SW, "STE.S2SW";
        /// S2SA, `dw6[1]`: NS of Secure stage 2 output.
        flag s2sa / with_s2sa = field::S2SA, "STE.S2SA";
        /// S_S2SL0_2, `dw6[2]`.
        flag s_s2sl0_2 / with_s_s2sl0_2 = field::S_S2SL0_2, "STE.S_S2SL0_2";
        /// S_S2TTB, `dw6[55:4]`: Secure stage 2 table base, 16-byte aligned.
        addr s_s2ttb / with_s_s2ttb = field::S_S2TTB, "STE.S_S2TTB";
        /// S_S2SKL, `dw6[62:61]`.
        uint s_s2skl / with_s_s2skl = field::S_S2SKL, "STE.S_S2SKL", u8;
    }

    /// S2POI\<p\>, `dw7[4p+3:4p]`, or `None` if `p >= 16`.
    #[must_use]
    pub const fn s2poi(&self, p: usize) -> Option<u8> {
        if p < 16 {
            Some(self.field(field::S2POI[p]) as u8)
        } else {
            None
        }
    }

    /// Returns a copy with S2POI\<p\> set to `value`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if `p >= 16`, [`Error::FieldOverflow`] if `value > 15`.
    pub const fn with_s2poi(self, p: usize, value: u8) -> Result<Self, Error> {
        if p < 16 {
            self.try_with_field(field::S2POI[p], value as u64, "STE.S2POI")
        } else {
            Err(Error::InvalidValue {
                field: "STE.S2POI",
                value: p as u64,
            })
        }
    }

    /// The StreamWorld of this (Non-secure) STE, given IDR0.S1P, IDR0.HYP and CR2.E2H.
    ///
    /// STRW only matters for a stage-1-only stream with S1P = 1 and HYP = 1; every other
    /// configuration is NS-EL1. A reserved STRW (0bx1, ILLEGAL) also reads as NS-EL1.
    #[must_use]
    pub const fn stream_world(&self, s1p: bool, hyp: bool, e2h: bool) -> StreamWorld {
        let el2 = s1p
            && hyp
            && self.config().raw() == Config::S1Trans.raw()
            && matches!(self.strw(), Strw::El2);
        match (el2, e2h) {
            (false, _) => StreamWorld::NsEl1,
            (true, false) => StreamWorld::NsEl2,
            (true, true) => StreamWorld::NsEl2E2h,
        }
    }
}

/// The StreamWorld (translation regime) of a Non-secure stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamWorld {
    /// NS-EL1: ASID- and VMID-tagged.
    NsEl1,
    /// NS-EL2 (CR2.E2H = 0): a single translation table (TTB0), no ASID.
    NsEl2,
    /// NS-EL2-E2H (CR2.E2H = 1): ASID-tagged, two translation tables.
    NsEl2E2h,
}

// ---------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------

/// The stage 1 part of an STE: where the CDs are and how they are fetched. Used by
/// [`Ste::stage1`] and [`Ste::nested`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stage1Config {
    /// S1ContextPtr: address of the CD (S1CDMax = 0) or of the CD table (an IPA when
    /// nested). Must be aligned to the table (at least 64 bytes).
    pub context_ptr: PhysAddr,
    /// S1Fmt: CD table format (ignored by the SMMU when `cd_max` is 0).
    pub fmt: S1Fmt,
    /// S1CDMax: log2 of the number of CDs, 0..=20.
    pub cd_max: u8,
    /// S1DSS: traffic without a SubstreamID (ignored by the SMMU when `cd_max` is 0).
    pub dss: S1Dss,
    /// S1CIR: inner cacheability of CD fetches.
    pub cir: Cacheability,
    /// S1COR: outer cacheability of CD fetches.
    pub cor: Cacheability,
    /// S1CSH: shareability of CD fetches.
    pub csh: Shareability,
    /// STRW: StreamWorld (only [`Strw::El1`] or [`Strw::El2`] for a Non-secure STE).
    pub strw: Strw,
    /// EATS: PCIe ATS.
    pub eats: Eats,
    /// S1STALLD: disallow stage 1 stalls (must be `false` unless IDR0.STALL_MODEL = 0).
    pub stall_disable: bool,
    /// MEV: allow event merging.
    pub mev: bool,
    /// SHCFG, written only when `dss` is [`S1Dss::Bypass`] (the only stage 1 case in which
    /// the SMMU uses it).
    pub shcfg: Shcfg,
}

impl Stage1Config {
    /// A single CD at `context_ptr` (S1CDMax = 0), with the attributes Linux uses: CD
    /// fetches write-back, inner shareable; NS-EL1; no ATS; stalls allowed; no merging;
    /// S1DSS = terminate; SHCFG = use incoming.
    #[must_use]
    pub const fn new(context_ptr: PhysAddr) -> Self {
        Self {
            context_ptr,
            fmt: S1Fmt::Linear,
            cd_max: 0,
            dss: S1Dss::Terminate,
            cir: Cacheability::WriteBack,
            cor: Cacheability::WriteBack,
            csh: Shareability::Inner,
            strw: Strw::El1,
            eats: Eats::Disabled,
            stall_disable: false,
            mev: false,
            shcfg: Shcfg::Incoming,
        }
    }
}

/// The stage 2 part of an STE. Used by [`Ste::stage2`] and [`Ste::nested`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stage2Config {
    /// S2VMID.
    pub vmid: Vmid,
    /// S2TTB: stage 2 translation table base (16-byte aligned, below 2^56).
    pub ttb: PhysAddr,
    /// S2T0SZ: the IPA size is 64 − `t0sz` (0..=63).
    pub t0sz: u8,
    /// S2SL0: raw starting-level encoding (0..=3); see [`Ste::s2_start_level`].
    pub sl0: u8,
    /// S2TG: granule.
    pub granule: Granule,
    /// S2PS: output address size.
    pub ps: AddressSize,
    /// S2IR0: inner cacheability of stage 2 walks.
    pub ir0: Cacheability,
    /// S2OR0: outer cacheability of stage 2 walks.
    pub or0: Cacheability,
    /// S2SH0: shareability of stage 2 walks.
    pub sh0: Shareability,
    /// S2AA64: VMSAv8-64 tables (`true`) or VMSAv8-32 LPAE.
    pub aa64: bool,
    /// S2ENDI: big-endian tables.
    pub endi: bool,
    /// S2AFFD: Access flag faults disabled.
    pub affd: bool,
    /// S2PTW: protected table walk.
    pub ptw: bool,
    /// S2S: stall on faults.
    pub stall: bool,
    /// S2R: record faults.
    pub record: bool,
    /// S2HA: hardware Access flag update.
    pub ha: bool,
    /// S2HD: hardware dirty state update.
    pub hd: bool,
    /// S2FWB: forced write-back.
    pub fwb: bool,
    /// EATS: PCIe ATS.
    pub eats: Eats,
    /// MEV: allow event merging.
    pub mev: bool,
    /// SHCFG: shareability override for the stream's traffic.
    pub shcfg: Shcfg,
}

impl Stage2Config {
    /// A stage 2 configuration with the attributes Linux uses: walks write-back, inner
    /// shareable; VMSAv8-64, little-endian; S2PTW = 1, S2R = 1; no stall, no HTTU, no FWB,
    /// no ATS, no merging; SHCFG = use incoming.
    #[must_use]
    pub const fn new(
        vmid: Vmid,
        ttb: PhysAddr,
        t0sz: u8,
        sl0: u8,
        granule: Granule,
        ps: AddressSize,
    ) -> Self {
        Self {
            vmid,
            ttb,
            t0sz,
            sl0,
            granule,
            ps,
            ir0: Cacheability::WriteBack,
            or0: Cacheability::WriteBack,
            sh0: Shareability::Inner,
            aa64: true,
            endi: false,
            affd: false,
            ptw: true,
            stall: false,
            record: true,
            ha: false,
            hd: false,
            fwb: false,
            eats: Eats::Disabled,
            mev: false,
            shcfg: Shcfg::Incoming,
        }
    }
}

impl Ste {
    /// A stage-1-only STE (V = 1, Config = 0b101) from `s1`.
    ///
    /// Only the stage 1 fields, STRW, EATS, MEV (and SHCFG when S1DSS = bypass) are
    /// written; every other bit is zero.
    ///
    /// # Errors
    ///
    /// * [`Error::Misaligned`] if `context_ptr` is not aligned to the CD table it points
    ///   to: 64 bytes for one CD, the table size for a linear table (2^S1CDMax × 64), the
    ///   larger of 64 bytes and the L1 table size for a 2-level table;
    /// * [`Error::FieldOverflow`] if `context_ptr` has bits above bit 55;
    /// * [`Error::InvalidValue`] if `cd_max` > 20 (IDR1.SSIDSIZE is at most 20) or if
    ///   `fmt`, `dss` or `strw` is a reserved encoding (or EL3, ILLEGAL in a Non-secure
    ///   STE).
    pub fn stage1(s1: &Stage1Config) -> Result<Self, Error> {
        Self::INVALID
            .with_v(true)
            .with_config(Config::S1Trans)
            .with_stage1_fields(s1)
    }

    /// A stage-2-only STE (V = 1, Config = 0b110) from `s2`.
    ///
    /// Only the stage 2 fields, S2VMID, EATS, MEV and SHCFG are written; every other bit is
    /// zero. Whether T0SZ, SL0 and the granule are consistent depends on the SMMU; check
    /// the result with [`Ste::check`].
    ///
    /// # Errors
    ///
    /// * [`Error::Misaligned`] if `ttb` is not 16-byte aligned;
    /// * [`Error::FieldOverflow`] if `ttb` has bits above bit 55, `t0sz` > 63 or `sl0` > 3.
    pub fn stage2(s2: &Stage2Config) -> Result<Self, Error> {
        Self::INVALID
            .with_v(true)
            .with_config(Config::S2Trans)
            .with_stage2_fields(s2)
    }

    /// A nested STE (V = 1, Config = 0b111): stage 1 from `s1` (its `context_ptr` is an
    /// IPA), stage 2 from `s2`. SHCFG comes from `s2` (stage 2 always uses it).
    ///
    /// # Errors
    ///
    /// Those of [`Ste::stage1`] and [`Ste::stage2`], and [`Error::InvalidValue`] if the
    /// two configurations disagree on EATS or MEV.
    pub fn nested(s1: &Stage1Config, s2: &Stage2Config) -> Result<Self, Error> {
        if s1.eats.raw() != s2.eats.raw() {
            return Err(Error::InvalidValue {
                field: "STE.EATS",
                value: s1.eats.raw() as u64,
            });
        }
        if s1.mev != s2.mev {
            return Err(Error::InvalidValue {
                field: "STE.MEV",
                value: s1.mev as u64,
            });
        }
        Self::INVALID
            .with_v(true)
            .with_config(Config::Nested)
            .with_stage1_fields(s1)?
            .with_stage2_fields(s2)
    }

    fn with_stage1_fields(self, s1: &Stage1Config) -> Result<Self, Error> {
        if s1.cd_max > 20 {
            return Err(Error::InvalidValue {
                field: "STE.S1CDMax",
                value: s1.cd_max as u64,
            });
        }
        if matches!(s1.fmt, S1Fmt::Reserved) {
            return Err(Error::InvalidValue {
                field: "STE.S1Fmt",
                value: s1.fmt.raw() as u64,
            });
        }
        if matches!(s1.dss, S1Dss::Reserved) {
            return Err(Error::InvalidValue {
                field: "STE.S1DSS",
                value: s1.dss.raw() as u64,
            });
        }
        if s1.strw.raw() & 1 != 0 {
            return Err(Error::InvalidValue {
                field: "STE.STRW",
                value: s1.strw.raw() as u64,
            });
        }
        let align = crate::cd::context_table_align(s1.fmt, s1.cd_max).unwrap_or(64);
        if s1.context_ptr.0 & (align - 1) != 0 {
            return Err(Error::Misaligned {
                field: "STE.S1ContextPtr",
                value: s1.context_ptr.0,
                align,
            });
        }
        let mut ste = self
            .with_s1_context_ptr(s1.context_ptr)?
            .with_s1fmt(s1.fmt)
            .with_s1cdmax(s1.cd_max)?
            .with_s1dss(s1.dss)
            .with_s1cir(s1.cir)
            .with_s1cor(s1.cor)
            .with_s1csh(s1.csh)
            .with_strw(s1.strw)
            .with_eats(s1.eats)
            .with_s1stalld(s1.stall_disable)
            .with_mev(s1.mev);
        if matches!(s1.dss, S1Dss::Bypass) {
            ste = ste.with_shcfg(s1.shcfg);
        }
        Ok(ste)
    }

    fn with_stage2_fields(self, s2: &Stage2Config) -> Result<Self, Error> {
        Ok(self
            .with_s2vmid(s2.vmid)
            .with_s2ttb(s2.ttb)?
            .with_s2t0sz(s2.t0sz)?
            .with_s2sl0(s2.sl0)?
            .with_s2tg(S2Tg::from_granule(s2.granule))
            .with_s2ps(s2.ps)
            .with_s2ir0(s2.ir0)
            .with_s2or0(s2.or0)
            .with_s2sh0(s2.sh0)
            .with_s2aa64(s2.aa64)
            .with_s2endi(s2.endi)
            .with_s2affd(s2.affd)
            .with_s2ptw(s2.ptw)
            .with_s2s(s2.stall)
            .with_s2r(s2.record)
            .with_s2ha(s2.ha)
            .with_s2hd(s2.hd)
            .with_s2fwb(s2.fwb)
            .with_eats(s2.eats)
            .with_mev(s2.mev)
            .with_shcfg(s2.shcfg))
    }
}

// ---------------------------------------------------------------------------------------
// Validity (spec §2.3)
// ---------------------------------------------------------------------------------------

/// The SMMU properties that decide whether an STE is ILLEGAL (spec §2.3). Plain values,
/// filled from the ID registers by whoever models or drives the SMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SteCheckCaps {
    /// IDR0.S1P: stage 1 implemented.
    pub s1p: bool,
    /// IDR0.S2P: stage 2 implemented.
    pub s2p: bool,
    /// IDR0.ATS.
    pub ats: bool,
    /// IDR0.NS1ATS: 1 = split-stage ATS **not** supported.
    pub ns1ats: bool,
    /// IDR0.HYP: EL2 StreamWorld supported.
    pub hyp: bool,
    /// Effective Non-secure IDR0.STALL_MODEL (0 stall and terminate, 1 terminate only,
    /// 2 stall forced).
    pub stall_model: u8,
    /// IDR1.SSIDSIZE: SubstreamID bits (0 = no substreams).
    pub ssid_bits: u8,
    /// IDR0.CD2L: 2-level CD tables supported.
    pub cd2l: bool,
    /// IDR5.OAS as a number of bits (32, 36, 40, 42, 44, 48, 52 or 56).
    pub oas_bits: u8,
    /// IDR0.TTF\[0\]: VMSAv8-32 LPAE tables supported.
    pub ttf_aarch32: bool,
    /// IDR0.TTF\[1\]: VMSAv8-64 tables supported.
    pub ttf_aarch64: bool,
    /// IDR0.TTENDIAN: 0 mixed, 1 reserved, 2 little-endian only, 3 big-endian only.
    pub ttendian: u8,
    /// IDR0.HTTU: 0 none, 1 Access flag, 2 Access + dirty, 3 also table Access flag.
    pub httu: u8,
    /// IDR0.VMID16: 16-bit VMIDs.
    pub vmid16: bool,
    /// IDR3.FWB: stage 2 forced write-back supported.
    pub fwb: bool,
    /// IDR3.DPT: DPT checks supported.
    pub dpt: bool,
    /// IDR3.STT: small translation tables.
    pub stt: bool,
    /// IDR5.GRAN4K.
    pub gran4k: bool,
    /// IDR5.GRAN16K.
    pub gran16k: bool,
    /// IDR5.GRAN64K.
    pub gran64k: bool,
    /// IDR5.DS: 52-bit addresses with 4 KB / 16 KB granules.
    pub ds: bool,
    /// Architecture minor revision (AIDR.ArchMinorRev): 0 = SMMUv3.0, 1 = v3.1, …
    pub version: u8,
}

impl SteCheckCaps {
    /// The input address size of the SMMU, in bits: OAS, or MAX(40, OAS) when VMSAv8-32
    /// LPAE tables are implemented.
    #[must_use]
    pub const fn ias_bits(&self) -> u8 {
        if self.ttf_aarch32 && self.oas_bits < 40 {
            40
        } else {
            self.oas_bits
        }
    }

    /// Whether the SMMU implements `granule`.
    #[must_use]
    pub const fn granule_supported(&self, granule: Granule) -> bool {
        match granule {
            Granule::Size4K => self.gran4k,
            Granule::Size16K => self.gran16k,
            Granule::Size64K => self.gran64k,
        }
    }
}

/// Why an STE is ILLEGAL (C_BAD_STE), one variant per rule of spec §2.3 (Arm IHI0070
/// §5.2.2 `SteIllegal`). The number in each description is the rule number of §2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SteIllegal {
    /// Rule 1: V = 0.
    #[error("STE.V is 0")]
    NotValid,
    /// Rule 2: Config = 0b1x1 but IDR0.S1P = 0.
    #[error("stage 1 enabled but not implemented")]
    Stage1NotImplemented,
    /// Rule 2: Config = 0b11x but IDR0.S2P = 0.
    #[error("stage 2 enabled but not implemented")]
    Stage2NotImplemented,
    /// Rule 3: EATS = 0b10 (split-stage) without Config = 0b111, with S2S = 1, or with
    /// IDR0.NS1ATS = 1.
    #[error("split-stage ATS (EATS = 0b10) not usable with this configuration")]
    AtsSplitStage,
    /// Rule 3: EATS = 0b01 (full ATS) with S2S = 1 and stage 2 enabled.
    #[error("full ATS (EATS = 0b01) with stage 2 stalls (S2S = 1)")]
    AtsFullWithStage2Stall,
    /// Rule 3: EATS = 0b11 with IDR3.DPT = 1 and a StreamWorld other than EL1.
    #[error("ATS with DPT (EATS = 0b11) outside an EL1 StreamWorld")]
    AtsDptStreamWorld,
    /// Rule 4: STRW = 0bx1 where STRW is used (S1P = 1, HYP = 1, Config = 0b101).
    #[error("reserved STRW value")]
    StreamWorldReserved,
    /// Rule 5: S1STALLD = 1 while STALL_MODEL ≠ 0b00.
    #[error("S1STALLD = 1 but the stall model is not configurable")]
    S1StallDisableNotAllowed,
    /// Rule 5: S1CDMax > IDR1.SSIDSIZE (SSIDSIZE ≠ 0).
    #[error("S1CDMax exceeds IDR1.SSIDSIZE")]
    S1CdMaxTooLarge,
    /// Rule 5: S1Fmt selects a 2-level CD table but IDR0.CD2L = 0 (with substreams
    /// supported and enabled).
    #[error("2-level CD table without IDR0.CD2L")]
    S1FmtTwoLevelUnsupported,
    /// Rule 5: S1ContextPtr above the OAS (stage 1 only) or the IAS (nested).
    #[error("S1ContextPtr out of range")]
    S1ContextPtrOutOfRange,
    /// Rule 6 (from IHI0070 `SteIllegal`): S2FWB = 1 with VMSAv8-32 LPAE stage 2 tables
    /// and IDR3.FWB = 1.
    #[error("S2FWB with VMSAv8-32 LPAE stage 2 tables")]
    S2FwbWithAarch32,
    /// Rule 6: S2S = 1 with STALL_MODEL = 0b01, or S2S = 0 with STALL_MODEL = 0b10.
    #[error("S2S contradicts the stall model")]
    S2StallModel,
    /// Rule 6: S2AA64 selects a table format IDR0.TTF does not support.
    #[error("stage 2 table format not supported")]
    S2TableFormatUnsupported,
    /// Rule 6: S2HA/S2HD beyond IDR0.HTTU (or with VMSAv8-32 tables), or S2HAFT = 1 with
    /// S2HA = 0 when HTTU = 0b11.
    #[error("stage 2 hardware update not supported")]
    S2HttuUnsupported,
    /// Rule 6: S2TG is reserved or a granule the SMMU does not implement.
    #[error("stage 2 granule not supported")]
    S2GranuleUnsupported,
    /// Rule 6: S2TTB outside the effective S2PS, or above 48 bits with a 4 KB / 16 KB
    /// granule without DS.
    #[error("S2TTB out of range")]
    S2TtbOutOfRange,
    /// Rule 6: S2T0SZ outside the valid range.
    #[error("S2T0SZ out of range")]
    S2T0szOutOfRange,
    /// Rule 6: S2SL0 (with S2SL0_2), S2T0SZ and S2TG are inconsistent.
    #[error("S2SL0, S2T0SZ and S2TG inconsistent")]
    S2StartLevelInconsistent,
    /// Rule 7: S2ENDI selects an endianness IDR0.TTENDIAN rules out.
    #[error("S2ENDI contradicts IDR0.TTENDIAN")]
    S2EndiannessUnsupported,
    /// Rule 8: S2VMID\[15:8\] ≠ 0 without IDR0.VMID16 (where S2VMID is used).
    #[error("16-bit S2VMID without IDR0.VMID16")]
    S2VmidTooWide,
}

impl SteIllegal {
    /// The number of the spec §2.3 rule this reason belongs to (1..=8).
    #[must_use]
    pub const fn rule(self) -> u8 {
        match self {
            Self::NotValid => 1,
            Self::Stage1NotImplemented | Self::Stage2NotImplemented => 2,
            Self::AtsSplitStage | Self::AtsFullWithStage2Stall | Self::AtsDptStreamWorld => 3,
            Self::StreamWorldReserved => 4,
            Self::S1StallDisableNotAllowed
            | Self::S1CdMaxTooLarge
            | Self::S1FmtTwoLevelUnsupported
            | Self::S1ContextPtrOutOfRange => 5,
            Self::S2FwbWithAarch32
            | Self::S2StallModel
            | Self::S2TableFormatUnsupported
            | Self::S2HttuUnsupported
            | Self::S2GranuleUnsupported
            | Self::S2TtbOutOfRange
            | Self::S2T0szOutOfRange
            | Self::S2StartLevelInconsistent => 6,
            Self::S2EndiannessUnsupported => 7,
            Self::S2VmidTooWide => 8,
        }
    }
}

impl Ste {
    /// Whether STRW is used (Arm IHI0070 `IgnoreSTESTRW` is false): S1P = 1, HYP = 1 and
    /// Config = 0b101.
    const fn strw_used(&self, caps: &SteCheckCaps) -> bool {
        caps.s1p && caps.hyp && self.config().raw() == Config::S1Trans.raw()
    }

    /// Checks the STE against the validity rules of spec §2.3 (Non-secure subset of Arm
    /// IHI0070 §5.2.2 `SteIllegal`), in the spec's order, returning the first rule that
    /// makes it ILLEGAL. `Ok(())` means the SMMU accepts the entry; `Err` is what makes the
    /// SMMU record C_BAD_STE.
    ///
    /// What is checked, beyond the text of §2.3 (taken from the IHI0070 pseudocode and
    /// field descriptions):
    ///
    /// * Config = 0b0xx with V = 1 is never ILLEGAL, whatever the other fields hold.
    /// * EATS = 0b11 is ILLEGAL only when STRW is used and ≠ 0b00 (the StreamWorld is not
    ///   EL1); EATS = 0b01 with S2S = 1 only when stage 2 translates, in every version
    ///   (the choice Arm recommends for the CONSTRAINED UNPREDICTABLE SMMUv3.0 case).
    /// * S2FWB = 1 with VMSAv8-32 LPAE stage 2 and IDR3.FWB = 1; S2HA/S2HD with VMSAv8-32
    ///   LPAE; S2HAFT = 1 with S2HA = 0 when HTTU = 0b11.
    /// * S2T0SZ out of range is ILLEGAL in SMMUv3.0 too (one of the permitted CONSTRAINED
    ///   UNPREDICTABLE behaviours). It is checked for VMSAv8-64 only (all 4-bit values are
    ///   valid for VMSAv8-32 LPAE).
    /// * DS (for T0SZ, S2TTB and the start level) is STE.S2DS and IDR5.DS together;
    ///   S2SL0_2 is used only with DS and a 4 KB granule.
    /// * S2TTB is checked against the effective S2PS: MIN(S2PS, OAS) for VMSAv8-64 (S2PS
    ///   52/56 behave as 48 in v3.0, 56 as 52 in v3.1–v3.3), 40 bits for VMSAv8-32 LPAE.
    /// * Start level: see [`Ste::s2_start_level`] and [`Ste::s2_walk_consistent`].
    /// * S2VMID is ignored (rule 8) when S2P = 0, for bypass, and when STRW is used and
    ///   ≠ 0b00.
    ///
    /// Not modelled: Secure and Realm STEs, VMSAv9-128 (IDR5.D128 = 1), S2PIE/S2POE/S2POI
    /// (IDR3.S2PI/S2PO), VMSPtr (MPAM).
    ///
    /// # Errors
    ///
    /// The first [`SteIllegal`] reason that applies.
    pub fn check(&self, caps: &SteCheckCaps) -> Result<(), SteIllegal> {
        // Rule 1.
        if !self.v() {
            return Err(SteIllegal::NotValid);
        }
        let config = self.config();
        if config.is_abort_like() {
            return Ok(());
        }
        let s1 = config.stage1_enabled();
        let s2 = config.stage2_enabled();

        // Rule 2.
        if s1 && !caps.s1p {
            return Err(SteIllegal::Stage1NotImplemented);
        }
        if s2 && !caps.s2p {
            return Err(SteIllegal::Stage2NotImplemented);
        }

        let strw_used = self.strw_used(caps);

        // Rule 3: ATS, when ATS is implemented and Config ≠ 0bx00.
        if caps.ats && (s1 || s2) {
            match self.eats() {
                Eats::SplitStage => {
                    if !matches!(config, Config::Nested) || self.s2s() || caps.ns1ats {
                        return Err(SteIllegal::AtsSplitStage);
                    }
                }
                Eats::Full => {
                    if s2 && self.s2s() {
                        return Err(SteIllegal::AtsFullWithStage2Stall);
                    }
                }
                Eats::FullDpt => {
                    if caps.dpt && strw_used && !matches!(self.strw(), Strw::El1) {
                        return Err(SteIllegal::AtsDptStreamWorld);
                    }
                }
                Eats::Disabled => {}
            }
        }

        // Rule 4.
        if strw_used && self.strw().raw() & 1 != 0 {
            return Err(SteIllegal::StreamWorldReserved);
        }

        // Rule 5.
        if s1 {
            self.check_stage1(caps, s2)?;
        }

        // Rules 6 and 7.
        if s2 {
            self.check_stage2(caps)?;
        }

        // Rule 8.
        let vmid_ignored =
            !caps.s2p || config.is_bypass() || (strw_used && !matches!(self.strw(), Strw::El1));
        if !vmid_ignored && !caps.vmid16 && self.s2vmid().0 >> 8 != 0 {
            return Err(SteIllegal::S2VmidTooWide);
        }
        Ok(())
    }

    fn check_stage1(&self, caps: &SteCheckCaps, s2: bool) -> Result<(), SteIllegal> {
        if self.s1stalld() && caps.stall_model != 0 {
            return Err(SteIllegal::S1StallDisableNotAllowed);
        }
        if caps.ssid_bits != 0 && self.s1cdmax() > caps.ssid_bits {
            return Err(SteIllegal::S1CdMaxTooLarge);
        }
        if caps.ssid_bits != 0
            && self.s1cdmax() != 0
            && !caps.cd2l
            && matches!(self.s1fmt(), S1Fmt::TwoLevel4K | S1Fmt::TwoLevel64K)
        {
            return Err(SteIllegal::S1FmtTwoLevelUnsupported);
        }
        let limit = if s2 { caps.ias_bits() } else { caps.oas_bits };
        if !fits_in(self.s1_context_ptr().0, limit as u32) {
            return Err(SteIllegal::S1ContextPtrOutOfRange);
        }
        Ok(())
    }

    fn check_stage2(&self, caps: &SteCheckCaps) -> Result<(), SteIllegal> {
        let aa32 = !self.s2aa64();
        if aa32 && caps.fwb && self.s2fwb() {
            return Err(SteIllegal::S2FwbWithAarch32);
        }
        if (self.s2s() && caps.stall_model == 1) || (!self.s2s() && caps.stall_model == 2) {
            return Err(SteIllegal::S2StallModel);
        }
        if (aa32 && !caps.ttf_aarch32) || (!aa32 && !caps.ttf_aarch64) {
            return Err(SteIllegal::S2TableFormatUnsupported);
        }
        if ((self.s2ha() || self.s2hd()) && (aa32 || caps.httu == 0))
            || (self.s2hd() && caps.httu == 1)
            || (self.s2haft() && !self.s2ha() && caps.httu == 3)
        {
            return Err(SteIllegal::S2HttuUnsupported);
        }
        let Some(granule) = self.s2_granule() else {
            return Err(SteIllegal::S2GranuleUnsupported);
        };
        if !aa32 && !caps.granule_supported(granule) {
            return Err(SteIllegal::S2GranuleUnsupported);
        }
        let ds = self.s2_ds_effective(caps);
        let pa_range = if aa32 {
            40
        } else {
            effective_ps_bits(self.s2ps(), caps.version, caps.oas_bits)
        };
        let ttb_limit = if !aa32 && !matches!(granule, Granule::Size64K) && !ds && pa_range > 48 {
            48
        } else {
            pa_range
        };
        if !fits_in(self.s2ttb().0, ttb_limit) {
            return Err(SteIllegal::S2TtbOutOfRange);
        }
        if !aa32 {
            let max = if !caps.stt {
                39
            } else if matches!(granule, Granule::Size64K) {
                47
            } else {
                48
            };
            let from_ias = 64 - caps.ias_bits() as i32;
            let min = if caps.version == 0 {
                from_ias
            } else if matches!(granule, Granule::Size64K) || ds {
                if from_ias > 12 { from_ias } else { 12 }
            } else if from_ias > 16 {
                from_ias
            } else {
                16
            };
            if !txsz_in_range(self.s2t0sz(), min, max) {
                return Err(SteIllegal::S2T0szOutOfRange);
            }
        }
        if !self.s2_walk_consistent(caps) {
            return Err(SteIllegal::S2StartLevelInconsistent);
        }
        // Rule 7.
        if (caps.ttendian == 2 && self.s2endi()) || (caps.ttendian == 3 && !self.s2endi()) {
            return Err(SteIllegal::S2EndiannessUnsupported);
        }
        Ok(())
    }

    /// The stage 2 granule the SMMU uses: 4 KB for VMSAv8-32 LPAE (S2TG is then RES0),
    /// otherwise S2TG (`None` if reserved). Support by the SMMU is not checked.
    #[must_use]
    pub const fn s2_granule(&self) -> Option<Granule> {
        if self.s2aa64() {
            self.s2tg().granule()
        } else {
            Some(Granule::Size4K)
        }
    }

    /// Whether 52-bit stage 2 addressing with 4 KB / 16 KB granules is in effect:
    /// STE.S2DS = 1 with IDR5.DS = 1 and VMSAv8-64 tables (S2DS is RES0 otherwise).
    const fn s2_ds_effective(&self, caps: &SteCheckCaps) -> bool {
        caps.ds && self.s2ds() && self.s2aa64()
    }

    /// The stage 2 walk start level encoded by {S2SL0_2, S2SL0} for the granule in use,
    /// or `None` if the encoding is reserved or not permitted on this SMMU.
    ///
    /// VMSAv8-64 (the VTCR_EL2.{SL2, SL0} rules of the Arm ARM, with PAMax = IDR5.OAS):
    ///
    /// | granule | SL0 = 0 | 1 | 2 | 3 |
    /// |---|---|---|---|---|
    /// | 4 KB, SL2 = 0 | 2 | 1 | 0 (OAS ≥ 44) | 3 (IDR3.STT) |
    /// | 4 KB, SL2 = 1 | −1 (OAS = 52 or more) | — | — | — |
    /// | 16 KB | 3 | 2 | 1 (OAS ≥ 42) | 0 (DS, OAS ≥ 52) |
    /// | 64 KB | 3 | 2 | 1 (OAS ≥ 44) | — |
    ///
    /// SL2 is S2SL0_2, taken as 0 unless DS is in effect (S2DS = 1 and IDR5.DS = 1).
    ///
    /// VMSAv8-32 LPAE (VTCR.SL0, 4 KB granule): SL0 = 0 → level 2, 1 → level 1, 0b1x
    /// reserved.
    #[must_use]
    pub const fn s2_start_level(&self, caps: &SteCheckCaps) -> Option<i8> {
        let sl0 = self.s2sl0();
        if !self.s2aa64() {
            return match sl0 {
                0 => Some(2),
                1 => Some(1),
                _ => None,
            };
        }
        let ds = self.s2_ds_effective(caps);
        let oas = caps.oas_bits;
        match self.s2tg().granule() {
            None => None,
            Some(Granule::Size4K) => {
                let sl2 = ds && self.s2sl0_2();
                match (sl2, sl0) {
                    (false, 0) => Some(2),
                    (false, 1) => Some(1),
                    (false, 2) if oas >= 44 => Some(0),
                    (false, 3) if caps.stt => Some(3),
                    (true, 0) if oas >= 52 => Some(-1),
                    _ => None,
                }
            }
            Some(Granule::Size16K) => match sl0 {
                0 => Some(3),
                1 => Some(2),
                2 if oas >= 42 => Some(1),
                3 if ds && oas >= 52 => Some(0),
                _ => None,
            },
            Some(Granule::Size64K) => match sl0 {
                0 => Some(3),
                1 => Some(2),
                2 if oas >= 44 => Some(1),
                _ => None,
            },
        }
    }

    /// The stage 2 input (IPA) size in bits: 64 − S2T0SZ for VMSAv8-64, 32 − T0SZ (T0SZ
    /// the signed 4-bit S2T0SZ\[3:0\], −8..=7) for VMSAv8-32 LPAE.
    #[must_use]
    pub const fn s2_input_bits(&self) -> u32 {
        if self.s2aa64() {
            64 - self.s2t0sz() as u32
        } else {
            let t = (self.s2t0sz() & 0xf) as i32;
            let signed = if t >= 8 { t - 16 } else { t };
            (32 - signed) as u32
        }
    }

    /// Whether S2SL0 (with S2SL0_2), S2T0SZ and S2TG are consistent, following the Arm ARM
    /// `S2InvalidSL` / `S2InconsistentSL` rules:
    ///
    /// * the start level must be a permitted encoding ([`Ste::s2_start_level`]);
    /// * with `g` = log2(granule), stride `s = g − 3` and `L` = 3 − start level (the levels
    ///   below the start), the IPA size `n` ([`Ste::s2_input_bits`]) must satisfy
    ///   `L·s + g + 1 ≤ n ≤ L·s + g + s + 4`: at least one bit is resolved at the start
    ///   level (no fewer levels than the start implies), and at most 16 concatenated
    ///   tables are needed there.
    ///
    /// For example with 4 KB pages: start level 1 accepts a 31- to 43-bit IPA, level 2 a
    /// 22- to 34-bit IPA. The T0SZ range itself is a separate rule.
    #[must_use]
    pub const fn s2_walk_consistent(&self, caps: &SteCheckCaps) -> bool {
        let Some(start) = self.s2_start_level(caps) else {
            return false;
        };
        let Some(granule) = self.s2_granule() else {
            return false;
        };
        let g = granule.shift() as i32;
        let stride = g - 3;
        let below = 3 - start as i32;
        let min = below * stride + g + 1;
        let max = min + stride - 1 + 4;
        let n = self.s2_input_bits() as i32;
        n >= min && n <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_exhaustive_and_ordered() {
        for (i, c) in Config::ALL.iter().enumerate() {
            assert_eq!(c.raw() as usize, i);
            assert_eq!(Config::from_raw(i as u8), *c);
        }
        for (i, v) in S2Tg::ALL.iter().enumerate() {
            assert_eq!(v.raw() as usize, i);
        }
        for (i, v) in DptVmatch::ALL.iter().enumerate() {
            assert_eq!(v.raw() as usize, i);
        }
    }

    #[test]
    fn config_helpers() {
        for c in Config::ALL {
            let r = c.raw();
            assert_eq!(c.is_abort_like(), r < 4);
            assert_eq!(c.stage1_enabled(), r == 5 || r == 7);
            assert_eq!(c.stage2_enabled(), r == 6 || r == 7);
            assert_eq!(c.is_bypass(), r == 4);
        }
    }

    #[test]
    fn fields_and_res0_tile_the_entry() {
        let mut union = [0u64; 8];
        for (name, pos) in field::ALL {
            assert!(pos.word < 8, "{name}");
            assert_eq!(union[pos.word] & pos.mask(), 0, "{name} overlaps");
            union[pos.word] |= pos.mask();
        }
        for w in 0..8 {
            assert_eq!(union[w] & RES0[w], 0, "dw{w}");
            assert_eq!(union[w] | RES0[w], u64::MAX, "dw{w}");
        }
    }

    #[test]
    fn context_ptr_alignment_follows_table_size() {
        let mut s1 = Stage1Config::new(PhysAddr(0x1000));
        s1.cd_max = 7; // linear, 128 CDs = 8 KB
        assert!(matches!(
            Ste::stage1(&s1),
            Err(Error::Misaligned { align: 0x2000, .. })
        ));
        s1.context_ptr = PhysAddr(0x2000);
        assert!(Ste::stage1(&s1).is_ok());
    }
}
