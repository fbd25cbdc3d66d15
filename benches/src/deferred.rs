//! `is_attach_deferred` fixture: the driver's kdump deferral check (kdump.md §10) on an
//! adopted 2-level stream table, against one stream-table lookup and one dw0 load per
//! StreamID.
//!
//! Setup (as `smmu-testbed/tests/kdump_handover.rs`): kernel 1 brings the driver up on
//! `smmu-model` (2-level table, 16 StreamID bits, SPLIT 8) and probes, through
//! `iommu-core` with DMA default domains:
//!
//! * device 1, StreamID [`ONE_SID`]: DMA default domain (a live stage-1 STE);
//! * device 2, StreamIDs `EIGHT_SIDS[..7]`: attached to a blocked domain (abort STEs,
//!   V = 1, Config = ABORT: not live);
//! * device 3, StreamID `EIGHT_SIDS[7]`: DMA default domain (live).
//!
//! Kernel 1 is forgotten without teardown (`std::mem::forget`, a crash), the model is
//! rebooted as a kdump kernel ([`Testbed::reboot`]), and a new driver adopts the live
//! table. The kdump kernel probes (through `iommu-core`) device [`DEV_ONE`] with
//! [`ONE_SID`] and device [`DEV_EIGHT`] with all of [`EIGHT_SIDS`] (eight L2 tables, so
//! adoption maps eight L2 ranges). Both are deferred. For the 8-StreamID device the
//! answer is decided by its **last** StreamID, so the driver's `any` examines all eight:
//! the worst case of the check.
//!
//! * Subject `driver`: `<SmmuV3 as IommuDriver>::is_attach_deferred(&smmu, desc)`.
//! * Subject `core`: [`IommuCore::is_attach_deferred`] (the flag the core cached at probe,
//!   found by binary search over the probed devices; no driver call).
//! * Subject `lookup_read8`: per StreamID, `stream_table().ste(sid)` and
//!   [`SteSlot::read`](smmu_strtab::SteSlot::read) (all 8 words), deciding on dw0.
//! * Baseline: per StreamID, `stream_table().ste(sid)` and
//!   [`SteSlot::read_word`](smmu_strtab::SteSlot::read_word)`(0)` (one `Acquire` load),
//!   deciding on dw0: the cheapest public "one lookup per StreamID", with the same
//!   short-circuit (`any`) as the driver.

use iommu_core::{
    DefaultDomainKind, DeviceDesc, DeviceId, DomainKind, IommuCore, IommuDriver, StreamId,
};
use smmu_testbed::smmu_model::ModelConfig;
use smmu_testbed::{ModelHal, Testbed};
use smmu_v3_driver::{AdoptSource, AdoptionOutcome, Config, SmmuV3, StrtabSource};

/// The iommu core of this fixture: 16 devices, 16 groups, 32 domains, 8 StreamIDs per
/// device.
pub type DeferredCore = IommuCore<SmmuV3<ModelHal>, 16, 16, 32, 8>;

/// The kdump kernel's device with one StreamID.
pub const DEV_ONE: DeviceId = DeviceId(1);
/// The kdump kernel's device with eight StreamIDs.
pub const DEV_EIGHT: DeviceId = DeviceId(2);
/// The StreamID of [`DEV_ONE`].
pub const ONE_SID: u32 = 0x10;
/// The StreamIDs of [`DEV_EIGHT`]: eight L1 ranges (SID >> 8 = 0x01, 0x09, …, 0x39), so
/// eight L2 tables. Only the last one has a live STE.
pub const EIGHT_SIDS: [u32; 8] = [0x120, 0x921, 0x1122, 0x1923, 0x2124, 0x2925, 0x3126, 0x3927];

/// Which device of the fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// [`DEV_ONE`]: one StreamID.
    One,
    /// [`DEV_EIGHT`]: eight StreamIDs, decided by the last.
    Eight,
}

impl Device {
    /// Bench-id fragment.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::One => "1sid",
            Self::Eight => "8sid",
        }
    }

    /// The number of StreamIDs.
    #[must_use]
    pub const fn sids(self) -> usize {
        match self {
            Self::One => 1,
            Self::Eight => 8,
        }
    }
}

/// Kdump.md §10 on dw0: V = 1 and Config ≠ ABORT (smmuv3.md §2.1: V is bit 0, Config
/// bits 3:1).
#[inline]
const fn live(dw0: u64) -> bool {
    dw0 & 1 != 0 && (dw0 >> 1) & 7 != 0
}

fn small_config() -> Config {
    let mut c = Config::default();
    c.cmdq_log2size = 6;
    c.evtq_log2size = 6;
    c
}

/// The adopted table and the kdump kernel's core with the two devices probed.
pub struct DeferredFixture {
    /// Kept so the model and its memory outlive the driver.
    _testbed: Testbed,
    core: Box<DeferredCore>,
    one: [StreamId; 1],
    eight: [StreamId; 8],
    one_regs: [smmu_regs::StreamId; 1],
    eight_regs: [smmu_regs::StreamId; 8],
}

impl std::fmt::Debug for DeferredFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredFixture")
            .field("one", &self.one)
            .field("eight", &self.eight)
            .finish_non_exhaustive()
    }
}

impl DeferredFixture {
    /// Runs kernel 1, the crash, the adopting kdump driver and its probes, and checks that
    /// every subject and the baseline answer `true` for both devices (and `false` for a
    /// StreamID of kernel 1's blocked device).
    ///
    /// # Panics
    ///
    /// If any step fails (a bench setup error).
    #[must_use]
    pub fn new() -> Self {
        let tb = Testbed::new(ModelConfig::default());
        {
            let mut k1: Box<DeferredCore> = Box::new(IommuCore::new(
                tb.driver(&small_config()).expect("kernel 1 driver"),
                DefaultDomainKind::Dma,
            ));
            let dma1 = [StreamId(ONE_SID)];
            k1.probe_device(DeviceDesc::new(DeviceId(1), &dma1))
                .expect("kernel 1 probe 1");
            let blocked: Vec<StreamId> = EIGHT_SIDS[..7].iter().map(|&s| StreamId(s)).collect();
            k1.probe_device(DeviceDesc::new(DeviceId(2), &blocked))
                .expect("kernel 1 probe 2");
            let dom = k1
                .alloc_domain(DeviceId(2), DomainKind::Blocked)
                .expect("blocked domain");
            k1.attach_device(DeviceId(2), dom).expect("attach blocked");
            let dma3 = [StreamId(EIGHT_SIDS[7])];
            k1.probe_device(DeviceDesc::new(DeviceId(3), &dma3))
                .expect("kernel 1 probe 3");
            // The crash: no teardown, the table stays live.
            std::mem::forget(k1);
        }
        let kd = tb.reboot(true);
        let mut core: Box<DeferredCore> = Box::new(IommuCore::new(
            kd.driver(&small_config()).expect("kdump driver"),
            DefaultDomainKind::Dma,
        ));
        assert_eq!(
            core.driver().adoption(),
            AdoptionOutcome::Adopted {
                source: AdoptSource::Kdump
            }
        );
        assert_eq!(
            core.driver().strtab_source(),
            StrtabSource::Adopted(AdoptSource::Kdump)
        );
        let one = [StreamId(ONE_SID)];
        let eight = EIGHT_SIDS.map(StreamId);
        core.probe_device(DeviceDesc::new(DEV_ONE, &one))
            .expect("kdump probe 1");
        core.probe_device(DeviceDesc::new(DEV_EIGHT, &eight))
            .expect("kdump probe 2");
        let fx = Self {
            _testbed: kd,
            core,
            one,
            eight,
            one_regs: [smmu_regs::StreamId(ONE_SID)],
            eight_regs: EIGHT_SIDS.map(smmu_regs::StreamId),
        };
        for dev in [Device::One, Device::Eight] {
            assert!(fx.driver(dev), "{dev:?}: driver");
            assert!(fx.core(dev), "{dev:?}: core");
            assert!(fx.baseline(dev), "{dev:?}: baseline");
            assert!(fx.lookup_read8(dev), "{dev:?}: lookup_read8");
        }
        // Only the last of the eight is live: every earlier one is examined and rejected.
        let smmu = fx.core.driver();
        for &sid in &EIGHT_SIDS[..7] {
            let one = [StreamId(sid)];
            assert!(!IommuDriver::is_attach_deferred(
                smmu,
                DeviceDesc::new(DEV_EIGHT, &one)
            ));
            let dw0 = smmu
                .stream_table()
                .ste(smmu_regs::StreamId(sid))
                .expect("live L2")
                .read_word(0)
                .expect("dw0");
            assert_eq!(dw0 & 0xf, 1, "sid {sid:#x}: V = 1, Config = ABORT");
        }
        fx
    }

    /// The kdump kernel's core (its driver: [`IommuCore::driver`]).
    #[must_use]
    pub fn core_ref(&self) -> &DeferredCore {
        &self.core
    }

    /// The driver: `<SmmuV3 as IommuDriver>::is_attach_deferred`.
    #[inline]
    #[must_use]
    pub fn driver(&self, dev: Device) -> bool {
        let desc = match dev {
            Device::One => DeviceDesc::new(DEV_ONE, &self.one),
            Device::Eight => DeviceDesc::new(DEV_EIGHT, &self.eight),
        };
        IommuDriver::is_attach_deferred(self.core.driver(), desc)
    }

    /// The core's cached flag: [`IommuCore::is_attach_deferred`].
    #[inline]
    #[must_use]
    pub fn core(&self, dev: Device) -> bool {
        let id = match dev {
            Device::One => DEV_ONE,
            Device::Eight => DEV_EIGHT,
        };
        self.core.is_attach_deferred(id).unwrap_or(false)
    }

    fn regs(&self, dev: Device) -> &[smmu_regs::StreamId] {
        match dev {
            Device::One => &self.one_regs,
            Device::Eight => &self.eight_regs,
        }
    }

    /// The baseline: one lookup and one dw0 load per StreamID.
    #[inline]
    #[must_use]
    pub fn baseline(&self, dev: Device) -> bool {
        let table = self.core.driver().stream_table();
        self.regs(dev).iter().any(|&sid| {
            table
                .ste(sid)
                .ok()
                .and_then(|slot| slot.read_word(0).ok())
                .is_some_and(live)
        })
    }

    /// One lookup and an 8-word read per StreamID (what the driver did before it read
    /// dw0 only).
    #[inline]
    #[must_use]
    pub fn lookup_read8(&self, dev: Device) -> bool {
        let table = self.core.driver().stream_table();
        self.regs(dev).iter().any(|&sid| {
            table
                .ste(sid)
                .ok()
                .and_then(|slot| slot.read().ok())
                .is_some_and(|ste| live(ste[0]))
        })
    }
}

impl Default for DeferredFixture {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_baseline_agree_on_the_adopted_table() {
        let fx = DeferredFixture::new();
        for dev in [Device::One, Device::Eight] {
            assert_eq!(fx.driver(dev), fx.baseline(dev));
            assert_eq!(fx.core(dev), fx.baseline(dev));
        }
    }
}
