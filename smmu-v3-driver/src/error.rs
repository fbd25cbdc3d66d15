//! The driver's error type.

use iommu_core::{DeviceId, DomainKind};
use smmu_regs::StreamId;
use smmu_regs::regs::{CommandError, TtEndian};
use smmu_strtab::{AccessError, EnsureError, LookupError, MemoryError, TableError, WriteError};

use crate::cdtab::{CdTableError, CdWriteError};
use crate::idalloc::IdError;
use crate::pgtable::PageTableError;

/// A wait that ran out of its poll budget ([`Error::Timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Wait {
    /// CR0ACK did not reflect a CR0 write.
    Cr0Ack,
    /// GBPA.Update did not clear.
    Gbpa,
    /// IRQ_CTRLACK did not reflect an IRQ_CTRL write.
    IrqCtrlAck,
    /// The command queue stayed full.
    CmdqSpace,
    /// A `CMD_SYNC` did not complete.
    CmdSync,
}

/// Why the driver refuses an SMMU (or a request) it cannot drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Unsupported {
    /// AIDR does not report an SMMUv3.
    NotSmmuV3 {
        /// AIDR.ArchMajorRev.
        major: u8,
    },
    /// IDR0.TTF has no AArch64 (VMSAv8-64) table format.
    NoAarch64Tables,
    /// IDR0.TTENDIAN is reserved or big-endian only (the driver writes little-endian
    /// tables).
    TtEndian(TtEndian),
    /// Neither stage 1 nor stage 2 is implemented.
    NoTranslationStage,
    /// The stage [`Config::paging_stage`](crate::Config::paging_stage) or
    /// [`SmmuV3::set_paging_stage`](crate::SmmuV3::set_paging_stage) asks for is not
    /// implemented.
    StageUnavailable,
    /// IDR0.STALL_MODEL forces stalls, which the driver does not handle.
    StallForced,
    /// IDR1.TABLES_PRESET, QUEUES_PRESET or REL: fixed table or queue bases.
    PresetBases,
    /// IDR1.SIDSIZE is above the architected 32, or too large for the stream-table
    /// policy (a linear-only SMMU with more StreamID bits than
    /// [`Config::max_linear_sid_bits`](crate::Config::max_linear_sid_bits)).
    SidSize {
        /// IDR1.SIDSIZE.
        sid_bits: u8,
        /// The largest size the driver accepts on this SMMU.
        max: u8,
    },
    /// The 4 KiB translation granule (IDR5.GRAN4K), which the default page tables use, is
    /// not implemented.
    NoGranule4K,
    /// A domain kind the driver does not implement.
    DomainKind(DomainKind),
}

/// Errors of the driver.
///
/// Errors from `smmu-regs` (encoding a value that does not fit) and `smmu-strtab`
/// (stream-table allocation, lookup, entry writes) are wrapped with `From`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The SMMU (or the request) needs something the driver does not support.
    #[error("unsupported: {0:?}")]
    Unsupported(Unsupported),
    /// A poll ran out of its budget ([`Platform::poll_budget`](crate::Platform::poll_budget)).
    #[error("timed out waiting for {what:?}")]
    Timeout {
        /// What the driver was waiting for.
        what: Wait,
    },
    /// The SMMU refused a command of the batch (CMDQ_CONS.ERR). The queue was repaired
    /// and the rest of the batch ran (see [`Diagnostic::CommandError`](crate::Diagnostic::CommandError)).
    #[error("command {index} of the batch failed with {code:?}")]
    CommandError {
        /// The error code.
        code: CommandError,
        /// The failing command's position in the batch (the batch's length for the
        /// closing `CMD_SYNC`).
        index: usize,
    },
    /// The SMMU is in Service Failure Mode (GERROR.SFM_ERR).
    #[error("the SMMU is in Service Failure Mode")]
    ServiceFailureMode,
    /// The operation needs a reset SMMU ([`SmmuV3::reset`](crate::SmmuV3::reset)).
    #[error("the SMMU has not been reset")]
    NotReady,
    /// A register or command value does not fit its field.
    #[error(transparent)]
    Regs(#[from] smmu_regs::Error),
    /// Building the stream table failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Making a StreamID live failed (allocation or mapping of its L2 table).
    #[error(transparent)]
    Ensure(EnsureError),
    /// Lazy adoption of the previous kernel's L2 stream table for `sid` failed (kdump.md
    /// §5): only this device's probe fails.
    #[error("adopted level-2 stream table for {sid} rejected: {error}")]
    AdoptedL2Rejected {
        /// The StreamID.
        sid: StreamId,
        /// Why.
        error: EnsureError,
    },
    /// Looking up an STE failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// DMA memory could not be obtained.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// An index into a table or queue region was out of bounds (a driver bug, reported
    /// instead of touching memory).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The entry writer refused a target entry that sets bits its own used mask does not
    /// cover (a driver bug, reported before anything was written).
    #[error("entry word {word} sets unused bits {bits:#x}")]
    EntryRejected {
        /// The word index.
        word: u8,
        /// The offending bits.
        bits: u64,
    },
    /// A StreamID is outside the stream table.
    #[error("{sid} is outside the stream table (2^{sid_bits} StreamIDs)")]
    StreamIdOutOfRange {
        /// The StreamID.
        sid: StreamId,
        /// The StreamID bits the table covers.
        sid_bits: u8,
    },
    /// A StreamID already belongs to a probed device (or is listed twice).
    #[error("{sid} already belongs to device {owner:?}")]
    DuplicateStreamId {
        /// The StreamID.
        sid: StreamId,
        /// The device that has it.
        owner: DeviceId,
    },
    /// A device without StreamIDs cannot be put behind the SMMU.
    #[error("the device has no StreamID")]
    NoStreamIds,
    /// The device was not probed by this driver.
    #[error("device {0:?} is not probed")]
    UnknownDevice(DeviceId),
    /// The device was already probed.
    #[error("device {0:?} is already probed")]
    DeviceExists(DeviceId),
    /// An IO page-table operation failed (nothing was changed).
    #[error(transparent)]
    PageTable(#[from] PageTableError),
    /// A CD-table operation failed.
    #[error(transparent)]
    CdTable(#[from] CdTableError),
    /// Map / unmap / translate on a domain without page tables.
    #[error("the domain has no page table")]
    NotPaging,
    /// An ASID / VMID allocator operation failed.
    #[error(transparent)]
    Ids(#[from] IdError),
    /// No ASID or VMID is free.
    #[error("no free {0:?}")]
    IdsExhausted(IdKind),
}

/// The kind of identifier that ran out ([`Error::IdsExhausted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdKind {
    /// Stage-1 address space identifiers.
    Asid,
    /// Stage-2 virtual machine identifiers.
    Vmid,
}

impl From<Unsupported> for Error {
    fn from(u: Unsupported) -> Self {
        Self::Unsupported(u)
    }
}

impl From<EnsureError> for Error {
    fn from(e: EnsureError) -> Self {
        match e {
            EnsureError::OutOfRange { sid, log2size } => Self::StreamIdOutOfRange {
                sid,
                sid_bits: log2size,
            },
            other => Self::Ensure(other),
        }
    }
}

impl From<CdWriteError<Error>> for Error {
    fn from(e: CdWriteError<Error>) -> Self {
        match e {
            CdWriteError::Table(t) => Self::CdTable(t),
            CdWriteError::Write(w) => w.into(),
        }
    }
}

impl From<WriteError<Error>> for Error {
    fn from(e: WriteError<Error>) -> Self {
        match e {
            WriteError::Sync(e) => e,
            WriteError::UnusedBitsSet { word, bits } => Self::EntryRejected { word, bits },
            WriteError::Access(a) => Self::Access(a),
            // `WriteError` is non-exhaustive: any future variant is a refusal of the
            // target, reported the same way.
            _ => Self::EntryRejected { word: 0, bits: 0 },
        }
    }
}
