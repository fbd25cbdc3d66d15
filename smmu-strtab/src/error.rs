//! Error types, one per concern. All are `Copy + Eq` (when their type parameter is) and
//! `#[non_exhaustive]`.

use smmu_regs::{PhysAddr, StreamId};

use crate::memory::MemoryError;

/// An index into a table region was outside the region (a bug in the caller or in the
/// crate, reported instead of touching memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("index {index} is outside a {len}-byte table region")]
pub struct AccessError {
    /// The item index that was requested (a word, an entry or a slot record).
    pub index: usize,
    /// The region length in bytes.
    pub len: usize,
}

/// A geometry cannot be built from the capabilities and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GeometryError {
    /// SIDSIZE above 32 (IDR1.SIDSIZE allows 0..=32).
    #[error("StreamID size {sid_bits} is above 32 bits")]
    InvalidSidBits {
        /// The StreamID size given.
        sid_bits: u8,
    },
    /// A 2-level table was requested on an SMMU without 2-level stream tables
    /// (IDR0.ST_LEVEL = 0).
    #[error("the SMMU does not support 2-level stream tables")]
    TwoLevelUnsupported,
    /// A 2-level table was requested with fewer StreamID bits than SPLIT.
    #[error("{sid_bits} StreamID bits do not fill one level-2 table (SPLIT {split})")]
    SidBitsBelowSplit {
        /// The StreamID size given.
        sid_bits: u8,
        /// The SPLIT of the policy.
        split: u8,
    },
    /// The policy's L1 cap is zero.
    #[error("the maximum number of L1 descriptors must be at least 1")]
    InvalidMaxL1,
    /// LOG2SIZE above 32, or a table too large for this CPU's address space.
    #[error("a table of 2^{log2size} StreamIDs is too large")]
    TooLarge {
        /// The LOG2SIZE requested.
        log2size: u8,
    },
}

/// Building a new stream table failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TableError {
    /// No geometry fits the capabilities and policy.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// The table memory could not be allocated.
    #[error("stream table allocation failed: {0}")]
    Alloc(MemoryError),
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Looking up the STE of a StreamID failed (the hot path: no allocation, no panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LookupError {
    /// The StreamID is at or above 2^LOG2SIZE.
    #[error("{sid} is outside the stream table (2^{log2size} StreamIDs)")]
    OutOfRange {
        /// The StreamID looked up.
        sid: StreamId,
        /// The table's LOG2SIZE.
        log2size: u8,
    },
    /// 2-level table: no L2 table backs this StreamID yet (see
    /// [`StreamTable::ensure_sid`](crate::StreamTable::ensure_sid)).
    #[error("{sid} has no level-2 table yet")]
    NotPopulated {
        /// The StreamID looked up.
        sid: StreamId,
    },
    /// 2-level adopted table: the L2 table of this range is smaller than SPLIT (its Span
    /// is below SPLIT + 1) and does not reach this StreamID.
    #[error("{sid} is beyond the span ({span}) of its level-2 table")]
    BeyondSpan {
        /// The StreamID looked up.
        sid: StreamId,
        /// The L1 descriptor's Span.
        span: u8,
    },
}

/// Making a StreamID live ([`StreamTable::ensure_sid`](crate::StreamTable::ensure_sid))
/// failed. Only the StreamIDs of the affected L1 range are affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EnsureError {
    /// The StreamID is at or above 2^LOG2SIZE.
    #[error("{sid} is outside the stream table (2^{log2size} StreamIDs)")]
    OutOfRange {
        /// The StreamID.
        sid: StreamId,
        /// The table's LOG2SIZE.
        log2size: u8,
    },
    /// The adopted L2 table of this range is smaller than SPLIT and does not reach this
    /// StreamID; growing it would need a non-hitless L2 replacement, which is not done.
    #[error("{sid} is beyond the span ({span}) of its adopted level-2 table")]
    BeyondSpan {
        /// The StreamID.
        sid: StreamId,
        /// The L1 descriptor's Span.
        span: u8,
    },
    /// Allocating a fresh L2 table failed.
    #[error("level-2 table allocation failed: {0}")]
    Alloc(MemoryError),
    /// Mapping an adopted L2 table failed.
    #[error("mapping the adopted level-2 table failed: {0}")]
    Map(MemoryError),
    /// The adopted L1 descriptor has a Span the policy does not accept.
    #[error("L1 descriptor {index} has an invalid span {span}")]
    L1SpanInvalid {
        /// The L1 index.
        index: u32,
        /// The Span found.
        span: u8,
    },
    /// The adopted L1 descriptor has a Span but a null L2 pointer.
    #[error("L1 descriptor {index} has a null L2 pointer")]
    L1NullL2Ptr {
        /// The L1 index.
        index: u32,
    },
    /// The adopted L1 descriptor's L2 pointer is not aligned to the L2 table size.
    #[error("L1 descriptor {index}: L2 table at {l2ptr} is misaligned")]
    L2Misaligned {
        /// The L1 index.
        index: u32,
        /// The L2 pointer found.
        l2ptr: PhysAddr,
    },
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Adopting a live stream table failed. Each structural rule has its own variant; any of
/// them rejects the whole adoption (nothing stays mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AdoptError {
    /// The capability summary gives more than 32 StreamID bits.
    #[error("StreamID size {sid_bits} is above 32 bits")]
    InvalidSidBits {
        /// The StreamID size given.
        sid_bits: u8,
    },
    /// STRTAB_BASE_CFG.FMT is a reserved value (2 or 3).
    #[error("STRTAB_BASE_CFG.FMT {fmt} is reserved")]
    ReservedFormat {
        /// The FMT field.
        fmt: u8,
    },
    /// FMT = 2-level on an SMMU without 2-level stream tables.
    #[error("2-level stream table on an SMMU without 2-level support")]
    NotTwoLevelCapable,
    /// SPLIT is not one the policy accepts (6, 8 or 10; only 8 under Linux strictness).
    #[error("SPLIT {split} is not supported")]
    SplitUnsupported {
        /// The SPLIT field.
        split: u8,
    },
    /// 2-level: LOG2SIZE below SPLIT.
    #[error("LOG2SIZE {log2size} is below SPLIT {split}")]
    Log2SizeBelowSplit {
        /// The LOG2SIZE field.
        log2size: u8,
        /// The SPLIT field.
        split: u8,
    },
    /// LOG2SIZE above the SMMU's StreamID size.
    #[error("LOG2SIZE {log2size} is above the StreamID size {sid_bits}")]
    Log2SizeAboveSidBits {
        /// The LOG2SIZE field.
        log2size: u8,
        /// The StreamID size.
        sid_bits: u8,
    },
    /// Linear: LOG2SIZE above the size cap (31, or 25 on a 2-level capable SMMU under
    /// Linux strictness).
    #[error("linear LOG2SIZE {log2size} is above the limit {limit}")]
    Log2SizeAboveLimit {
        /// The LOG2SIZE field.
        log2size: u8,
        /// The limit that applied.
        limit: u8,
    },
    /// 2-level: 2^(LOG2SIZE − SPLIT) L1 descriptors exceed the policy's cap.
    #[error("{num_l1} L1 descriptors exceed the maximum {max_l1}")]
    TooManyL1 {
        /// The number of L1 descriptors the registers describe.
        num_l1: u64,
        /// The policy's cap.
        max_l1: u32,
    },
    /// The table base is not aligned to the table size (linear) or to
    /// max(L1 size, 64) (2-level): the SMMU would walk a different table.
    #[error("table base {base} is not aligned to {align} bytes")]
    BaseMisaligned {
        /// The base address from STRTAB_BASE.
        base: PhysAddr,
        /// The required alignment.
        align: u64,
    },
    /// The table does not fit in this CPU's address space.
    #[error("a table of 2^{log2size} entries is too large to map")]
    TableTooLarge {
        /// The LOG2SIZE field.
        log2size: u8,
    },
    /// An L1 descriptor has a Span outside 1..=SPLIT+1 (Spec) or other than SPLIT+1
    /// (Linux strictness).
    #[error("L1 descriptor {index} has an invalid span {span}")]
    L1SpanInvalid {
        /// The L1 index.
        index: u32,
        /// The Span found.
        span: u8,
    },
    /// An L1 descriptor has a Span but a null L2 pointer.
    #[error("L1 descriptor {index} has a null L2 pointer")]
    L1NullL2Ptr {
        /// The L1 index.
        index: u32,
    },
    /// An L1 descriptor's L2 pointer is not aligned to its L2 table size.
    #[error("L1 descriptor {index}: L2 table at {l2ptr} is misaligned")]
    L2Misaligned {
        /// The L1 index.
        index: u32,
        /// The L2 pointer found.
        l2ptr: PhysAddr,
    },
    /// Mapping the linear table or the L1 table failed.
    #[error("mapping the adopted table failed: {0}")]
    Map(MemoryError),
    /// Allocating the CPU-side slot array failed.
    #[error("allocating the slot array failed: {0}")]
    Alloc(MemoryError),
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Rewriting an STE or CD failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteError<E> {
    /// The sync hook failed; the entry may be in an intermediate (but never mixed) state.
    #[error("the sync hook failed")]
    Sync(E),
    /// The target sets bits that its own used-bit mask does not cover (the used-bit rules
    /// would not describe the target, so the update could not be proven hitless). Nothing
    /// was written.
    #[error("target word {word} sets bits {bits:#x} outside its used mask")]
    UnusedBitsSet {
        /// The word index.
        word: u8,
        /// The offending bits.
        bits: u64,
    },
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Scanning the valid STEs failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ScanError<E> {
    /// The callback returned an error; the scan stopped.
    #[error("the scan callback failed")]
    Callback(E),
    /// The L1 range could not be read (bad descriptor or mapping failure); the scan
    /// stopped, nothing was skipped silently.
    #[error("L1 range {index} cannot be scanned: {error}")]
    Range {
        /// The L1 index.
        index: u32,
        /// Why.
        error: EnsureError,
    },
    /// Internal bounds check failed.
    #[error(transparent)]
    Access(#[from] AccessError),
}
