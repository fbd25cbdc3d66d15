//! Queue registers (CMDQ, EVENTQ, PRIQ: BASE, PROD, CONS) and the index arithmetic of
//! spec §6.
//!
//! A queue has 2^n entries, n = BASE.LOG2SIZE capped at IDR1.{CMDQS,EVENTQS,PRIQS}
//! (at most 19). A pointer (PROD.WR or CONS.RD) holds the index in bits \[n−1:0\] and
//! the wrap flag at bit n; [`QueueSize`] does the arithmetic on such pointers.

use modular_bitfield::prelude::*;

use super::idr::Idr1;
use super::map::{self, Register};
use crate::error::Error;
use crate::ids::PhysAddr;

/// Largest queue LOG2SIZE the architecture allows (IDR1.*QS ≤ 19).
pub const MAX_QUEUE_LOG2SIZE: u8 = 19;

/// One of the three queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QueueKind {
    /// The command queue (16-byte entries).
    Cmdq,
    /// The event queue (32-byte records).
    Eventq,
    /// The PRI queue (16-byte entries).
    Priq,
}

impl QueueKind {
    /// Size of one queue entry in bytes: 16 for commands and PRI requests, 32 for events.
    #[must_use]
    pub const fn entry_bytes(self) -> u64 {
        match self {
            Self::Cmdq | Self::Priq => 16,
            Self::Eventq => 32,
        }
    }

    /// The queue's `*_BASE` register.
    #[must_use]
    pub const fn base_register(self) -> Register {
        match self {
            Self::Cmdq => map::CMDQ_BASE,
            Self::Eventq => map::EVENTQ_BASE,
            Self::Priq => map::PRIQ_BASE,
        }
    }

    /// The queue's `*_PROD` register (Page 1 for the event and PRI queues).
    #[must_use]
    pub const fn prod_register(self) -> Register {
        match self {
            Self::Cmdq => map::CMDQ_PROD,
            Self::Eventq => map::EVENTQ_PROD,
            Self::Priq => map::PRIQ_PROD,
        }
    }

    /// The queue's `*_CONS` register (Page 1 for the event and PRI queues).
    #[must_use]
    pub const fn cons_register(self) -> Register {
        match self {
            Self::Cmdq => map::CMDQ_CONS,
            Self::Eventq => map::EVENTQ_CONS,
            Self::Priq => map::PRIQ_CONS,
        }
    }

    /// The maximum LOG2SIZE that IDR1 advertises for this queue (CMDQS, EVENTQS or
    /// PRIQS), as read (not capped at 19).
    #[must_use]
    pub fn max_log2size(self, idr1: Idr1) -> u8 {
        match self {
            Self::Cmdq => idr1.cmdqs(),
            Self::Eventq => idr1.eventqs(),
            Self::Priq => idr1.priqs(),
        }
    }

    const fn addr_field(self) -> &'static str {
        match self {
            Self::Cmdq => "CMDQ_BASE.ADDR",
            Self::Eventq => "EVENTQ_BASE.ADDR",
            Self::Priq => "PRIQ_BASE.ADDR",
        }
    }

    const fn log2size_field(self) -> &'static str {
        match self {
            Self::Cmdq => "CMDQ_BASE.LOG2SIZE",
            Self::Eventq => "EVENTQ_BASE.LOG2SIZE",
            Self::Priq => "PRIQ_BASE.LOG2SIZE",
        }
    }
}

/// `SMMU_CMDQ_BASE` (0x090), `SMMU_EVENTQ_BASE` (0x0A0), `SMMU_PRIQ_BASE` (0x0C0), all
/// 64-bit with one layout: queue address and LOG2SIZE.
///
/// Writable only while the queue's CR0 enable and its CR0ACK bit are 0 and
/// IDR1.QUEUES_PRESET is 0 (see [`WriteGuard`](super::WriteGuard)).
#[bitfield(bits = 64)]
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueueBase {
    /// \[4:0\] LOG2SIZE: log2 of the number of entries; the value used is capped at
    /// IDR1.*QS, a read returns the value as written.
    pub log2size: B5,
    /// \[55:5\] ADDR: bits \[55:5\] of the queue address (the field value is the address
    /// shifted right by 5; see [`QueueBase::address`]). Linux uses only \[51:5\].
    pub addr: B51,
    #[skip]
    __: B6,
    /// \[62\] RA (CMDQ_BASE: read-allocate) or WA (EVENTQ_BASE / PRIQ_BASE:
    /// write-allocate) hint.
    pub alloc_hint: bool,
    #[skip]
    __: B1,
}

/// `SMMU_CMDQ_BASE` has the layout of [`QueueBase`] (bit 62 is RA).
pub type CmdqBase = QueueBase;
/// `SMMU_EVENTQ_BASE` has the layout of [`QueueBase`] (bit 62 is WA).
pub type EventqBase = QueueBase;
/// `SMMU_PRIQ_BASE` has the layout of [`QueueBase`] (bit 62 is WA).
pub type PriqBase = QueueBase;

impl QueueBase {
    /// Builds the base register of queue `kind` at `addr` with 2^`log2size` entries
    /// (allocation hint clear).
    ///
    /// # Errors
    ///
    /// * [`Error::InvalidValue`] if `log2size` exceeds [`MAX_QUEUE_LOG2SIZE`];
    /// * [`Error::Misaligned`] if `addr` is not aligned to the queue size in bytes (and
    ///   at least 32 bytes): the SMMU would silently align it down;
    /// * [`Error::FieldOverflow`] if `addr` does not fit in 56 bits.
    pub fn try_new(kind: QueueKind, addr: PhysAddr, log2size: u8) -> Result<Self, Error> {
        if log2size > MAX_QUEUE_LOG2SIZE {
            return Err(Error::InvalidValue {
                field: kind.log2size_field(),
                value: log2size as u64,
            });
        }
        let a = addr.get();
        let bytes = kind.entry_bytes() << log2size;
        let align = if bytes > 32 { bytes } else { 32 };
        if a & (align - 1) != 0 {
            return Err(Error::Misaligned {
                field: kind.addr_field(),
                value: a,
                align,
            });
        }
        if a >> 56 != 0 {
            return Err(Error::FieldOverflow {
                field: kind.addr_field(),
                value: a,
                bits: 56,
            });
        }
        Ok(Self::new().with_addr(a >> 5).with_log2size(log2size))
    }

    /// The queue address (ADDR\[55:5\], low bits zero).
    #[must_use]
    pub fn address(self) -> PhysAddr {
        PhysAddr(self.addr() << 5)
    }

    /// The queue size the SMMU uses: MIN(LOG2SIZE, `max_log2size`, 19), where
    /// `max_log2size` is the IDR1 field for this queue ([`QueueKind::max_log2size`]).
    #[must_use]
    pub fn size(self, max_log2size: u8) -> QueueSize {
        QueueSize::effective(self.log2size(), max_log2size)
    }
}

/// The size of a queue, 2^n entries with n in 0..=19, and the pointer arithmetic of
/// spec §6.
///
/// Pointer arguments (`prod`, `cons`, `ptr`) are PROD.WR / CONS.RD values, or whole
/// PROD/CONS register values: only their low n+1 bits (index and wrap flag) are used,
/// so the RES0 bits \[19:n+1\] and bits such as OVFLG or ERR are ignored. Every function
/// is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueueSize {
    log2: u8,
}

impl QueueSize {
    /// The largest queue: 2^19 entries.
    pub const MAX: Self = Self {
        log2: MAX_QUEUE_LOG2SIZE,
    };

    /// A queue of 2^`log2size` entries; `log2size` above 19 is treated as 19 (the SMMU
    /// caps LOG2SIZE at IDR1.*QS, itself at most 19).
    #[must_use]
    pub const fn new(log2size: u8) -> Self {
        Self {
            log2: if log2size > MAX_QUEUE_LOG2SIZE {
                MAX_QUEUE_LOG2SIZE
            } else {
                log2size
            },
        }
    }

    /// The size the SMMU uses for BASE.LOG2SIZE `log2size` when IDR1 advertises
    /// `max_log2size`: MIN(log2size, max_log2size, 19).
    #[must_use]
    pub const fn effective(log2size: u8, max_log2size: u8) -> Self {
        Self::new(if log2size < max_log2size {
            log2size
        } else {
            max_log2size
        })
    }

    /// n: log2 of the number of entries (0..=19).
    #[must_use]
    pub const fn log2size(self) -> u8 {
        self.log2
    }

    /// The number of entries, 2^n.
    #[must_use]
    pub const fn entries(self) -> u32 {
        1 << self.log2
    }

    /// Mask of the index bits \[n−1:0\].
    #[must_use]
    pub const fn index_mask(self) -> u32 {
        self.entries() - 1
    }

    /// The wrap flag bit, 1 << n.
    #[must_use]
    pub const fn wrap_bit(self) -> u32 {
        self.entries()
    }

    /// Mask of the pointer bits \[n:0\] (index and wrap flag).
    #[must_use]
    pub const fn pointer_mask(self) -> u32 {
        (self.entries() << 1) - 1
    }

    /// The index part of a pointer.
    #[must_use]
    pub const fn index(self, ptr: u32) -> u32 {
        ptr & self.index_mask()
    }

    /// The wrap flag of a pointer.
    #[must_use]
    pub const fn wrap(self, ptr: u32) -> bool {
        ptr & self.wrap_bit() != 0
    }

    /// The pointer after `ptr`: (wrap, index) + 1, keeping the low n+1 bits.
    #[must_use]
    pub const fn inc(self, ptr: u32) -> u32 {
        self.advance(ptr, 1)
    }

    /// The pointer `k` entries after `ptr`, keeping the low n+1 bits.
    #[must_use]
    pub const fn advance(self, ptr: u32, k: u32) -> u32 {
        (ptr & self.pointer_mask()).wrapping_add(k) & self.pointer_mask()
    }

    /// Empty: indexes equal and wrap flags equal.
    #[must_use]
    pub const fn is_empty(self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.pointer_mask() == 0
    }

    /// Full: indexes equal and wrap flags different.
    #[must_use]
    pub const fn is_full(self, prod: u32, cons: u32) -> bool {
        (prod ^ cons) & self.pointer_mask() == self.wrap_bit()
    }

    /// The producer has room for one more entry (the queue is not full).
    #[must_use]
    pub const fn has_space(self, prod: u32, cons: u32) -> bool {
        !self.is_full(prod, cons)
    }

    /// Free entries between `prod` and `cons`. In the CONSTRAINED UNPREDICTABLE
    /// pointer states (PROD behind CONS) this returns 0.
    #[must_use]
    pub const fn free(self, prod: u32, cons: u32) -> u32 {
        let (pi, ci) = (self.index(prod), self.index(cons));
        if self.wrap(prod) == self.wrap(cons) {
            if pi >= ci {
                self.entries() - (pi - ci)
            } else {
                0
            }
        } else {
            ci.saturating_sub(pi)
        }
    }

    /// Entries written by the producer and not yet consumed: entries − free.
    #[must_use]
    pub const fn used(self, prod: u32, cons: u32) -> u32 {
        self.entries() - self.free(prod, cons)
    }
}

/// CMDQ_CONS.ERR: the command error code (spec §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandError {
    /// 0x00 CERROR_NONE.
    None,
    /// 0x01 CERROR_ILL: illegal or unknown command.
    Ill,
    /// 0x02 CERROR_ABT: external abort while reading the command.
    Abt,
    /// 0x03 CERROR_ATC_INV_SYNC: a CMD_SYNC could not complete earlier ATC_INV commands.
    AtcInvSync,
    /// Any other 7-bit code (reserved or IMPLEMENTATION DEFINED). `Other(n)` with `n` in
    /// 0..=3 encodes like the named variant, and `n` is truncated to 7 bits.
    Other(u8),
}

impl CommandError {
    /// Decodes a 7-bit ERR value (higher bits of `raw` are ignored).
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw & 0x7F {
            0 => Self::None,
            1 => Self::Ill,
            2 => Self::Abt,
            3 => Self::AtcInvSync,
            n => Self::Other(n),
        }
    }

    /// The 7-bit ERR value.
    #[must_use]
    pub const fn raw(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Ill => 1,
            Self::Abt => 2,
            Self::AtcInvSync => 3,
            Self::Other(n) => n & 0x7F,
        }
    }
}

/// `SMMU_CMDQ_PROD` (0x098): command queue producer pointer.
///
/// Bit 31 is not architected (Linux uses it only in its software copy).
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CmdqProd {
    /// \[19:0\] WR: write pointer (index in \[n−1:0\], wrap flag at bit n).
    pub wr: B20,
    #[skip]
    __: B12,
}

/// `SMMU_CMDQ_CONS` (0x09C): command queue consumer pointer and error code.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CmdqCons {
    /// \[19:0\] RD: read pointer (index in \[n−1:0\], wrap flag at bit n).
    pub rd: B20,
    #[skip]
    __: B4,
    /// \[30:24\] ERR: command error code (see [`CmdqCons::error`]).
    pub err: B7,
    #[skip]
    __: B1,
}

impl CmdqCons {
    /// ERR decoded.
    #[must_use]
    pub fn error(self) -> CommandError {
        CommandError::from_raw(self.err())
    }

    /// Returns a copy with ERR set to `err`.
    #[must_use]
    pub fn with_error(self, err: CommandError) -> Self {
        self.with_err(err.raw())
    }
}

/// `SMMU_EVENTQ_PROD` / `SMMU_PRIQ_PROD` (Page 1, 0x100A8 / 0x100C8): producer pointer
/// and overflow flag.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventqProd {
    /// \[19:0\] WR: write pointer (index in \[n−1:0\], wrap flag at bit n).
    pub wr: B20,
    #[skip]
    __: B11,
    /// \[31\] OVFLG: overflow flag, toggled by the SMMU when records were lost.
    pub ovflg: bool,
}

/// `SMMU_EVENTQ_CONS` / `SMMU_PRIQ_CONS` (Page 1, 0x100AC / 0x100CC): consumer pointer
/// and overflow acknowledge flag.
#[bitfield(bits = 32)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventqCons {
    /// \[19:0\] RD: read pointer (index in \[n−1:0\], wrap flag at bit n).
    pub rd: B20,
    #[skip]
    __: B11,
    /// \[31\] OVACKFLG: software copies OVFLG here to acknowledge an overflow.
    pub ovackflg: bool,
}

/// `SMMU_PRIQ_PROD` has the layout of [`EventqProd`].
pub type PriqProd = EventqProd;
/// `SMMU_PRIQ_CONS` has the layout of [`EventqCons`].
pub type PriqCons = EventqCons;

impl EventqProd {
    /// An overflow is outstanding: PROD.OVFLG ≠ CONS.OVACKFLG.
    #[must_use]
    pub fn overflow_pending(self, cons: EventqCons) -> bool {
        self.ovflg() != cons.ovackflg()
    }
}

impl EventqCons {
    /// Returns a copy with OVACKFLG equal to `prod`'s OVFLG, acknowledging an overflow.
    #[must_use]
    pub fn with_overflow_acknowledged(self, prod: EventqProd) -> Self {
        self.with_ovackflg(prod.ovflg())
    }
}

/// Pointer helpers shared by the four PROD/CONS types.
macro_rules! queue_pointer {
    ($t:ident, $get:ident, $set:ident) => {
        impl $t {
            /// The index part of the pointer for a queue of size `q`.
            #[must_use]
            pub fn index(self, q: QueueSize) -> u32 {
                q.index(self.$get())
            }

            /// The wrap flag of the pointer for a queue of size `q`.
            #[must_use]
            pub fn wrap(self, q: QueueSize) -> bool {
                q.wrap(self.$get())
            }

            /// Returns a copy with the pointer advanced by `k` entries in a queue of size
            /// `q` (low n+1 bits kept, pointer bits above cleared; other fields
            /// unchanged).
            #[must_use]
            pub fn advanced(self, q: QueueSize, k: u32) -> Self {
                // n ≤ 19, so the pointer fits the 20-bit field and the setter cannot fail.
                self.$set(q.advance(self.$get(), k) & 0xF_FFFF)
            }

            /// Returns a copy with the pointer advanced by one entry ([`Self::advanced`]).
            #[must_use]
            pub fn incremented(self, q: QueueSize) -> Self {
                self.advanced(q, 1)
            }
        }
    };
}

queue_pointer!(CmdqProd, wr, with_wr);
queue_pointer!(CmdqCons, rd, with_rd);
queue_pointer!(EventqProd, wr, with_wr);
queue_pointer!(EventqCons, rd, with_rd);
