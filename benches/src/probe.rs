//! `probe_scaling` fixture: `iommu-core`'s `probe_device` (driver probe, group, deferral
//! check, DMA default domain allocation and attach) through `smmu-v3-driver` on
//! `smmu-model`, in systems of different sizes.
//!
//! A [`ProbeSystem`] is a fresh model (2-level stream table, 16 StreamID bits, SPLIT 8;
//! synchronous command queue), a driver brought up on it, and a boxed [`ProbeCore`] with
//! room for [`MAX_DEVICES`] + 1 devices, so systems of every size use the same core type
//! and only the number of probed devices differs. Device `i` has one StreamID, [`sid`]`(i)`:
//! 16 devices per L2 table, so a system of `n` devices has `n / 16` L2 tables and every
//! 16th probe creates one (the same proportion at every size). Each device gets its own
//! group and DMA default domain (stage 1: page-table root, ASID, CD table, STE write with
//! `CMD_CFGI_STE` + `CMD_SYNC`).

use iommu_core::{DefaultDomainKind, DeviceDesc, DeviceId, IommuCore, StreamId};
use smmu_testbed::smmu_model::{ModelConfig, RegionKind};
use smmu_testbed::{ModelHal, Testbed};
use smmu_v3_driver::{Config, SmmuV3};

/// The largest system the benches build.
pub const MAX_DEVICES: u32 = 4096;
/// Capacity of [`ProbeCore`] in devices, groups and domains: [`MAX_DEVICES`] plus the
/// extra device of [`ProbeSystem::probe_extra`].
pub const CAPACITY: usize = MAX_DEVICES as usize + 1;

/// The core of the probe benches (one StreamID per device).
pub type ProbeCore = IommuCore<SmmuV3<ModelHal>, CAPACITY, CAPACITY, CAPACITY, 1>;

/// Device `i`'s StreamID: L1 range `i / 16`, entry `(i % 16) * 16` of its L2 table.
#[must_use]
pub const fn sid(i: u32) -> u32 {
    (i / 16) * 256 + (i % 16) * 16
}

/// Model RAM [`ProbeSystem::prefault`] touches per device: a probe allocates about
/// 13 KiB ([`ProbeSystem::ram_in_use`] after 4096 probes: page-table root, CD table and a
/// sixteenth of an L2 table, in the model's whole 4 KiB pages).
pub const PREFAULT_PER_DEVICE: u64 = 16 << 10;

/// The StreamID of the extra device: in device 0's L2 table, owned by nobody else.
pub const EXTRA_SID: u32 = 1;

/// A testbed and a core with some devices probed.
pub struct ProbeSystem {
    /// The model and its memory (outlive the driver).
    testbed: Testbed,
    core: Box<ProbeCore>,
    sids: Box<[[StreamId; 1]]>,
    extra: [StreamId; 1],
    probed: u32,
    /// Free model RAM once the driver was up.
    free_at_start: u64,
}

impl std::fmt::Debug for ProbeSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeSystem")
            .field("probed", &self.probed)
            .finish_non_exhaustive()
    }
}

impl ProbeSystem {
    /// A fresh model and driver with no device probed.
    ///
    /// # Panics
    ///
    /// If the driver cannot be brought up (a bench setup error).
    #[must_use]
    pub fn new() -> Self {
        let tb = Testbed::new(ModelConfig::default());
        let mut config = Config::default();
        config.cmdq_log2size = 6;
        config.evtq_log2size = 6;
        let core = Box::new(IommuCore::new(
            tb.driver(&config).expect("driver"),
            DefaultDomainKind::Dma,
        ));
        let free_at_start = tb.mem.free_bytes(RegionKind::Ram);
        Self {
            testbed: tb,
            free_at_start,
            core,
            sids: (0..MAX_DEVICES).map(|i| [StreamId(sid(i))]).collect(),
            extra: [StreamId(EXTRA_SID)],
            probed: 0,
        }
    }

    /// Model RAM (bytes) allocated since the driver came up (by the probes).
    #[must_use]
    pub fn ram_in_use(&self) -> u64 {
        self.free_at_start
            .saturating_sub(self.testbed.mem.free_bytes(RegionKind::Ram))
    }

    /// Touches the model RAM that probing `devices` more devices will use, so that those
    /// probes take no first-touch page faults of the host (the model's RAM is committed
    /// lazily): allocates [`PREFAULT_PER_DEVICE`] bytes per device plus 1 MiB of model RAM
    /// (the model zeroes it, touching every page) and frees it again. The model's
    /// first-fit allocator then hands out the same, now resident, addresses.
    ///
    /// # Panics
    ///
    /// If the model RAM cannot hold that much (a bench setup error).
    pub fn prefault(&self, devices: u32) {
        let mem = &self.testbed.mem;
        let len = u64::from(devices) * PREFAULT_PER_DEVICE + (1 << 20);
        let pa = mem.alloc(RegionKind::Ram, len, 4096).expect("prefault");
        mem.free(pa, len).expect("prefault free");
    }

    /// Number of devices probed by [`probe_next`](Self::probe_next).
    #[must_use]
    pub const fn probed(&self) -> u32 {
        self.probed
    }

    /// The core.
    #[must_use]
    pub fn core(&self) -> &ProbeCore {
        &self.core
    }

    /// Probes the next device (device [`probed`](Self::probed), StreamID [`sid`] of it).
    ///
    /// # Panics
    ///
    /// If the probe fails or [`MAX_DEVICES`] are probed already.
    #[inline]
    pub fn probe_next(&mut self) {
        let i = self.probed;
        let desc = DeviceDesc::new(DeviceId(i), &self.sids[i as usize]);
        self.core.probe_device(desc).expect("probe");
        self.probed += 1;
    }

    /// Probes devices until `n` are probed.
    ///
    /// # Panics
    ///
    /// As [`probe_next`](Self::probe_next).
    pub fn fill(&mut self, n: u32) {
        while self.probed < n {
            self.probe_next();
        }
    }

    /// The extra device's id: one past the largest system, never probed by
    /// [`probe_next`](Self::probe_next).
    pub const EXTRA: DeviceId = DeviceId(MAX_DEVICES);

    /// Probes the extra device ([`Self::EXTRA`], StreamID [`EXTRA_SID`]).
    ///
    /// # Panics
    ///
    /// If the probe fails (for example when it is probed already).
    #[inline]
    pub fn probe_extra(&mut self) {
        self.core
            .probe_device(DeviceDesc::new(Self::EXTRA, &self.extra))
            .expect("probe extra");
    }

    /// Releases the extra device (its group and default domain are freed).
    ///
    /// # Panics
    ///
    /// If it is not probed.
    pub fn release_extra(&mut self) {
        self.core
            .release_device(Self::EXTRA)
            .expect("release extra");
    }
}

impl Default for ProbeSystem {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_core::IommuDriver;

    #[test]
    fn sids_are_distinct_and_sixteen_per_l2_table() {
        let sids: std::collections::BTreeSet<u32> = (0..MAX_DEVICES).map(sid).collect();
        assert_eq!(sids.len(), MAX_DEVICES as usize);
        assert!(sids.iter().all(|&s| s < 1 << 16));
        assert!(!sids.contains(&EXTRA_SID));
        let l2: std::collections::BTreeSet<u32> = sids.iter().map(|s| s >> 8).collect();
        assert_eq!(l2.len(), MAX_DEVICES as usize / 16);
    }

    #[test]
    fn probed_devices_are_attached_to_their_default_domains() {
        // The core is large (heapless tables of 4097 entries): give the test a big stack.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let mut sys = ProbeSystem::new();
                let before = sys.ram_in_use();
                sys.prefault(48);
                assert_eq!(sys.ram_in_use(), before, "prefault frees what it took");
                sys.fill(48);
                assert!(sys.ram_in_use() - before <= 48 * PREFAULT_PER_DEVICE);
                sys.probe_extra();
                sys.release_extra();
                sys.probe_extra();
                let core = sys.core();
                assert_eq!(core.driver().probed_devices(), 49);
                assert_eq!(core.domains().count(), 49);
                for i in [0, 17, 47] {
                    let info = core.device(DeviceId(i)).expect("probed");
                    let ste = core.driver().ste(smmu_regs::StreamId(sid(i))).expect("STE");
                    // V = 1, Config = S1 (the DMA default domain is stage 1).
                    assert_eq!(ste[0] & 0xf, 0b1011, "device {i}");
                    assert!(core.domain_data(info.domain).is_ok());
                    assert!(!IommuDriver::is_attach_deferred(
                        core.driver(),
                        DeviceDesc::new(DeviceId(i), &[StreamId(sid(i))])
                    ));
                }
            })
            .expect("thread")
            .join()
            .expect("test thread");
    }
}
