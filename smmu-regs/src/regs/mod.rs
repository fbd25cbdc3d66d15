//! The SMMUv3 MMIO registers: where they are ([`map`], [`offset`]) and a typed value for
//! each (spec §1).
//!
//! * Flag registers ([`Cr0`], [`Cr2`], [`IrqCtrl`], [`Gerror`], [`Statusr`]) are
//!   `#[repr(transparent)]` bitflags newtypes that keep unknown bits: build them from a
//!   hardware value with `from_bits_retain` and read-modify-write round-trips.
//! * Field registers ([`Idr0`], [`Idr1`], [`Cr1`], [`Gbpa`], [`StrtabBaseCfg`],
//!   [`QueueBase`], …) are `modular-bitfield` structs with `From<u32>` / `From<u64>` in
//!   both directions. Reserved bits are kept and every enumerated field has a variant
//!   for every encoding, so decoding never fails and `u32::from(Reg::from(x)) == x`.
//!
//! The generated `with_x` / `set_x` setters panic when a value does not fit its field;
//! they are the low-level interface for values known to fit. For caller-supplied values
//! use the `with_x_checked` / `set_x_checked` variants, or the validating constructors
//! ([`StrtabBase::try_new`], [`StrtabBaseCfg::try_new`], [`QueueBase::try_new`],
//! [`IrqCfg0::try_new`], [`Cr0::with_vmw`]), which return [`Error`](crate::Error)
//! instead. Getters never panic.
//!
//! # Example
//!
//! ```
//! use smmu_regs::regs::{map, Cr0, Idr0, QueueSize, StLevel, StrtabBaseCfg, StrtabFmt};
//!
//! // Decode IDR0 as read from hardware: S1P, AArch64 tables, coherent, 2-level tables.
//! let idr0 = Idr0::from(0x0800_001A);
//! assert!(idr0.s1p() && !idr0.s2p() && idr0.cohacc());
//! assert!(idr0.ttf().aarch64());
//! assert_eq!(idr0.st_level(), StLevel::TwoLevel);
//!
//! // Build the configuration and CR0 values to enable the SMMU.
//! let cfg = StrtabBaseCfg::try_new(StrtabFmt::TwoLevel, 16, 8)?;
//! assert_eq!(u32::from(cfg), 0x0001_0210);
//! let cr0 = Cr0::SMMUEN | Cr0::EVENTQEN | Cr0::CMDQEN;
//! assert_eq!(cr0.bits(), 0xD);
//! assert_eq!(map::CR0.offset, 0x20);
//!
//! // Queue pointers: a 4-entry queue (n = 2) is full when only the wrap flags differ.
//! let q = QueueSize::new(2);
//! assert!(q.is_full(0b100, 0b000));
//! assert_eq!(q.inc(0b111), 0b000);
//! # Ok::<(), smmu_regs::Error>(())
//! ```

mod control;
mod guard;
mod idr;
mod irq;
pub mod map;
mod queue;
mod strtab;

pub use control::{
    AllocCfg, Cr0, Cr0Ack, Cr1, Cr2, Gbpa, Gerror, Gerrorn, InstCfg, IrqCtrl, IrqCtrlAck, PrivCfg,
    ShCfg, Statusr,
};
pub use guard::{WriteGuard, gbpa_write_accepted};
pub use idr::{
    Aidr, ArchVersion, Bbml, Httu, Idr0, Idr1, Idr2, Idr3, Idr5, Iidr, StLevel, StallModel,
    TermModel, TtEndian, Ttf, Vax,
};
pub use irq::{IrqCfg0, IrqCfg1, IrqCfg2};
pub use map::{Access, Page, Register, Width, offset};
pub use queue::{
    CmdqBase, CmdqCons, CmdqProd, CommandError, EventqBase, EventqCons, EventqProd,
    MAX_QUEUE_LOG2SIZE, PriqBase, PriqCons, PriqProd, QueueBase, QueueKind, QueueSize,
};
pub use strtab::{StrtabBase, StrtabBaseCfg, StrtabFmt};
