//! The hardware-abstraction layer (design.md §3.1): everything the driver needs from the
//! platform, split by concern.
//!
//! * [`Registers`]: 32- and 64-bit MMIO accesses to the SMMU's two register pages.
//! * [`TableMemory`] (from `smmu-strtab`, re-exported here): DMA memory for tables and
//!   queues, mapping of memory a previous kernel left behind, cache maintenance.
//! * [`Platform`]: facts only the platform knows (kdump boot, firmware coherency), a poll
//!   budget so that every wait ends, and a sink for [`Diagnostic`]s.
//!
//! [`Hal`] bundles the three; it is implemented for every type that implements them and
//! is [`Clone`]. The driver keeps one handle and gives clones to the tables it allocates,
//! so the HAL type should be a cheap handle: a reference (`&MyHal`: the traits are
//! implemented for references), an `Arc`, or a zero-sized type.

pub use smmu_strtab::TableMemory;

use smmu_regs::StreamId;
use smmu_regs::cmd::Opcode;
use smmu_regs::regs::{CommandError, Gerror};

/// MMIO access to the SMMU's register frame.
///
/// Offsets are absolute within the SMMU's 128 KiB frame: page 0 at `0x0`, page 1 at
/// `0x10000` (the values of `smmu_regs::regs::offset`).
///
/// # Safety
///
/// The driver programs the SMMU, which then reads and writes memory on its own, so the
/// soundness of the whole system depends on these accesses reaching the right device in
/// the right order. An implementation guarantees:
///
/// * each call performs exactly one access of the given width to the register at
///   `offset` of *this* SMMU's frame (mapped as Device memory), with no other side
///   effect; a 64-bit access may be split into two 32-bit accesses, low half first, for
///   registers the architecture allows it for (all of those this driver uses 64-bit
///   accesses on);
/// * `write32` / `write64` are ordered after every memory access the calling CPU made
///   before the call (like Linux `writel`: a `DSB`/`DMB OSHST` before the store), so that
///   queue entries and table words written before a `CMDQ_PROD` write are visible to the
///   SMMU when it observes the new value;
/// * `read32` / `read64` are ordered before every memory access the calling CPU makes
///   after the call (like Linux `readl`: a `DMB OSHLD` after the load), so that an event
///   record read after `EVENTQ_PROD` is not stale;
/// * the methods may be called concurrently from several threads (accesses to different
///   registers do not interfere).
///
/// The driver only passes 4-byte aligned offsets (8-byte aligned for 64-bit accesses)
/// below `0x20000`.
pub unsafe trait Registers {
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&self, offset: usize, value: u32);
    /// Reads the 64-bit register at `offset`.
    fn read64(&self, offset: usize) -> u64;
    /// Writes the 64-bit register at `offset`.
    fn write64(&self, offset: usize, value: u64);
}

/// Platform facts and services that are not register or memory accesses.
///
/// # Safety
///
/// An implementation guarantees:
///
/// * [`firmware_coherent`](Platform::firmware_coherent) never claims a coherent SMMU
///   that is not: the driver skips cache maintenance on a coherent SMMU, and a
///   non-coherent SMMU would then walk stale tables (and DMA where they said);
/// * [`is_kdump_kernel`](Platform::is_kdump_kernel) is `true` only in a crash kernel
///   whose memory is disjoint from the crashed kernel's (the `crashkernel=` region):
///   issue 7's adoption of the previous kernel's tables relies on it;
/// * [`relax`](Platform::relax) returns (it may sleep or spin, but it must not block
///   forever), so that a poll with a finite [`poll_budget`](Platform::poll_budget)
///   ends.
pub unsafe trait Platform {
    /// Whether this kernel is a kdump (crash) kernel, booted by the crashed kernel with
    /// the SMMU possibly still enabled (kdump.md §3, §8).
    fn is_kdump_kernel(&self) -> bool;

    /// The SMMU's coherency as firmware describes it (device-tree `dma-coherent`, the
    /// IORT COHACC override), or `None` if firmware says nothing. Firmware wins over
    /// IDR0.COHACC; a mismatch is reported as [`Diagnostic::CoherencyMismatch`].
    fn firmware_coherent(&self) -> Option<bool>;

    /// How many times a poll checks its condition before it gives up with
    /// [`Error::Timeout`](crate::Error::Timeout). Each failed check is followed by one
    /// call to [`relax`](Platform::relax). The default, 1 000 000, with a 1 µs `relax`
    /// gives Linux's 1 s timeout.
    fn poll_budget(&self) -> u32 {
        1_000_000
    }

    /// Called between two checks of a poll: a CPU relax hint, a short delay, or a yield.
    fn relax(&self) {
        core::hint::spin_loop();
    }

    /// Receives warnings and notable events for the OS to log. The default drops them.
    fn diagnostic(&self, diagnostic: Diagnostic) {
        let _ = diagnostic;
    }
}

/// Everything the driver needs: [`Registers`] + [`TableMemory`] + [`Platform`], as a
/// cheap [`Clone`]able handle. Implemented for every such type.
pub trait Hal: Registers + TableMemory + Platform + Clone {}

impl<T: Registers + TableMemory + Platform + Clone> Hal for T {}

// SAFETY: every method forwards to `T`, whose implementation upholds the contract.
unsafe impl<T: Registers + ?Sized> Registers for &T {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value);
    }
    fn read64(&self, offset: usize) -> u64 {
        (**self).read64(offset)
    }
    fn write64(&self, offset: usize, value: u64) {
        (**self).write64(offset, value);
    }
}

// SAFETY: every method forwards to `T`, whose implementation upholds the contract.
unsafe impl<T: Platform + ?Sized> Platform for &T {
    fn is_kdump_kernel(&self) -> bool {
        (**self).is_kdump_kernel()
    }
    fn firmware_coherent(&self) -> Option<bool> {
        (**self).firmware_coherent()
    }
    fn poll_budget(&self) -> u32 {
        (**self).poll_budget()
    }
    fn relax(&self) {
        (**self).relax();
    }
    fn diagnostic(&self, diagnostic: Diagnostic) {
        (**self).diagnostic(diagnostic);
    }
}

/// A warning or notable event, for the OS to log ([`Platform::diagnostic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Diagnostic {
    /// Firmware and IDR0.COHACC disagree on coherency; the firmware value is used.
    CoherencyMismatch {
        /// What firmware says.
        firmware: bool,
        /// What IDR0.COHACC says.
        hardware: bool,
    },
    /// The SMMU was enabled when the driver reset it: traffic is aborted through GBPA,
    /// then the SMMU is disabled and reprogrammed (Linux: "SMMU currently enabled!
    /// Resetting...").
    EnabledAtReset,
    /// Global errors were active at reset (left by firmware or a previous kernel) and
    /// were acknowledged.
    StaleGlobalErrors {
        /// The active GERROR bits.
        active: Gerror,
    },
    /// The 2-level stream table covers fewer StreamIDs than IDR1.SIDSIZE (the L1 table
    /// is capped); StreamIDs at or above `2^covered_bits` are refused.
    StreamTableTruncated {
        /// IDR1.SIDSIZE.
        sid_bits: u8,
        /// The StreamID bits the table covers.
        covered_bits: u8,
    },
    /// The SMMU stopped on a command (CMDQ_CONS.ERR). A `CERROR_ILL` command was replaced
    /// by a `CMD_SYNC`; a `CERROR_ABT` or `CERROR_ATC_INV_SYNC` command is retried.
    CommandError {
        /// The error code.
        code: CommandError,
        /// The opcode found in the failing slot.
        opcode: Opcode,
        /// The slot index in the command queue.
        slot: u32,
    },
    /// The event queue overflowed: records were lost. The overflow was acknowledged.
    EventQueueOverflow {
        /// Overflows seen so far, this one included.
        total: u64,
    },
    /// The PRI queue overflowed: page requests were lost. The overflow was acknowledged.
    PriQueueOverflow,
    /// Global errors were reported by GERROR (and acknowledged).
    GlobalErrors {
        /// The active GERROR bits.
        active: Gerror,
    },
    /// The SMMU entered Service Failure Mode (GERROR.SFM_ERR).
    ServiceFailureMode,
    /// The live stream table is not adopted; the normal full reset follows (kdump.md §3,
    /// §4.5: "falling back to full reset").
    AdoptionFallback {
        /// Why.
        reason: crate::kdump::FallbackReason,
    },
    /// The live stream table was adopted; the SMMU stays enabled through the reset
    /// (kdump.md §7 step 1, a debug-level message).
    Adopted {
        /// The kind of boot.
        source: crate::kdump::AdoptSource,
    },
    /// A StreamID's STE could not be restored while undoing a failed attach.
    RollbackFailed {
        /// The StreamID.
        sid: StreamId,
    },
}
