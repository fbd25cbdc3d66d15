//! `smmu-regs`: every Arm SMMUv3 register and in-memory format, typed and exact to the
//! Arm architecture specification (IHI0070).
//!
//! This is the bottom layer of the smmu-rs stack. It is pure data: no hardware access,
//! no allocation, `#![no_std]`. Everything else (`smmu-strtab`, `smmu-v3-driver`,
//! `smmu-model`) reads and writes the SMMU through these definitions.
//!
//! * [`regs`]: the MMIO register map (page 0 and page 1 offsets) and a typed value for
//!   each register.
//! * [`caps`]: the capability summary decoded from the ID registers.
//! * [`ste`], [`l1std`], [`cd`]: stream table entries, level-1 stream table descriptors,
//!   context descriptors and level-1 CD descriptors, as arrays of little-endian 64-bit
//!   words with typed per-word views.
//! * [`cmd`], [`event`], [`pri`]: command queue entries, event records and PRI queue
//!   entries, with builders and parsers.
//!
//! Parsing never fails and never panics: every bit pattern decodes (reserved encodings
//! included). Registers, STEs, CDs and L1 descriptors keep every bit, so a value read and
//! written back is unchanged. Commands, event records and PRI entries decode into typed
//! fields and drop RES0 bits; their raw words are the lossless form, and each parser's
//! `reserved_bits` returns exactly what was dropped.
//!
//! # Example
//!
//! ```
//! use smmu_regs::StreamId;
//! use smmu_regs::cmd::Command;
//! use smmu_regs::regs::{Idr0, StLevel, Ttf};
//!
//! // CMD_CFGI_STE for StreamID 0x42, leaf only: the two 64-bit words to put on the
//! // command queue.
//! let words = Command::CfgiSte { ssec: false, sid: StreamId(0x42), leaf: true }.encode()?;
//! assert_eq!(words, [0x0000_0042_0000_0003, 0x1]);
//!
//! // A value read from SMMU_IDR0, decoded field by field; every bit round-trips.
//! let idr0 = Idr0::from(0x0800_000b_u32);
//! assert!(idr0.s1p() && idr0.s2p());
//! assert_eq!(idr0.ttf(), Ttf::AArch64);
//! assert_eq!(idr0.st_level(), StLevel::TwoLevel);
//! assert_eq!(u32::from(idr0), 0x0800_000b);
//! # Ok::<(), smmu_regs::Error>(())
//! ```
//!
//! # Features
//!
//! * `defmt`: `defmt::Format` for the public types.
#![no_std]

pub mod caps;
pub mod cd;
pub mod cmd;
pub mod error;
pub mod event;
pub mod fields;
pub mod ids;
pub mod l1std;
pub mod pri;
pub mod regs;
pub mod ste;

pub use error::Error;
pub use fields::{AddressSize, Cacheability, FieldPos, Granule, Shareability};
pub use ids::{Asid, Iova, Ipa, PhysAddr, StreamId, SubstreamId, Vmid};
