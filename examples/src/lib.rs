//! `smmu-examples`: host-runnable programs for the smmu-rs stack (not published).
//!
//! Every program runs the real driver (`smmu-v3-driver`) and iommu core (`iommu-core`)
//! on the functional SMMUv3 model (`smmu-model`) through `smmu-testbed`'s HAL, with
//! model DMA devices whose every transaction is recorded in a ledger:
//!
//! * `kdump` — the main demo. Kernel 1 sets up stage-1 and stage-2 DMA domains, identity
//!   and blocked devices and starts DMA; it crashes mid-traffic; the kdump kernel adopts
//!   the live stream table, defers each device's attach, lets DMA run on, and re-attaches
//!   each device when its driver first maps memory. The same run with adoption off shows
//!   the old behaviour (abort everything). Scenario: [`kdump::run`].
//! * `quickstart` — the smallest end-to-end program: probe, map, DMA, unmap, fault.
//! * `corrupt-table` — the kdump kernel meets a corrupted stream table and falls back to
//!   the full reset, with a typed reason. Scenario: [`corrupt::run`].
//!
//! ```sh
//! cargo run --release -p smmu-examples --bin kdump
//! cargo run -p smmu-examples --bin quickstart
//! cargo run -p smmu-examples --bin corrupt-table -- --list
//! ```
//!
//! The scenarios live in this library so that the package's tests can run them; the
//! binaries only parse their flags ([`kdump::Options`], [`corrupt::Options`]) and print.

pub mod cli;
pub mod corrupt;
pub mod json;
pub mod kdump;
pub mod live;
pub mod rng;

use iommu_core::IommuCore;
use smmu_testbed::ModelHal;
use smmu_v3_driver::{Config, SmmuV3};

/// The iommu core the programs use: the SMMUv3 driver on the model, with the core's
/// default capacities (64 devices, 64 groups, 128 domains, 8 StreamIDs per device).
pub type Core = IommuCore<SmmuV3<ModelHal>>;

/// The driver configuration of the programs: the defaults with small command and event
/// queues (64 entries each), which are quick to allocate in model memory.
#[must_use]
pub fn small_config() -> Config {
    let mut c = Config::default();
    c.cmdq_log2size = 6;
    c.evtq_log2size = 6;
    c
}

/// Ledger phase of the transactions issued before kernel 1 crashed.
pub const BEFORE_CRASH: &str = "before crash";
/// Ledger phase from the crash until the device's kdump-kernel driver quiesced it.
pub const DURING_HANDOVER: &str = "during handover";
/// Ledger phase after the device's kdump-kernel driver re-attached it and restarted DMA.
pub const AFTER_REATTACH: &str = "after re-attach";
