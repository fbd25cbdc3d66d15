//! Masters: the devices the driver has probed, the StreamIDs they own, and their CD
//! tables.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use iommu_core::DeviceId;
use smmu_regs::{Asid, StreamId};

use crate::cdtab::CdTable;
use crate::error::Error;

/// What a master's STEs currently point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attached {
    /// Nothing attached yet (the STEs are the table's default: abort).
    None,
    /// Abort STEs.
    Blocked,
    /// Bypass STEs.
    Identity,
    /// Stage-1 STEs pointing at the master's CD table, whose CD 0 carries this ASID.
    Stage1(Asid),
    /// Stage-2 STEs of a domain.
    Stage2,
}

/// A probed device.
pub(crate) struct Master {
    /// Its StreamIDs, as firmware listed them.
    pub(crate) sids: Vec<StreamId>,
    /// SubstreamID bits of its CD table: min(device PASID bits, IDR1.SSIDSIZE).
    pub(crate) ssid_bits: u8,
    /// The CD table, created at the first stage-1 attach and kept until release.
    pub(crate) cd_table: Option<CdTable>,
    /// What its STEs point at.
    pub(crate) attached: Attached,
}

/// Every probed device, and the owner of each StreamID.
pub(crate) struct Masters {
    by_dev: BTreeMap<DeviceId, Master>,
    by_sid: BTreeMap<u32, DeviceId>,
}

impl Masters {
    pub(crate) const fn new() -> Self {
        Self {
            by_dev: BTreeMap::new(),
            by_sid: BTreeMap::new(),
        }
    }

    /// Checks that `dev` is new and that its StreamIDs are distinct and owned by nobody.
    pub(crate) fn check_new(&self, dev: DeviceId, sids: &[StreamId]) -> Result<(), Error> {
        if self.by_dev.contains_key(&dev) {
            return Err(Error::DeviceExists(dev));
        }
        for (i, sid) in sids.iter().enumerate() {
            if sids.get(..i).is_some_and(|before| before.contains(sid)) {
                return Err(Error::DuplicateStreamId {
                    sid: *sid,
                    owner: dev,
                });
            }
            if let Some(owner) = self.by_sid.get(&sid.0) {
                return Err(Error::DuplicateStreamId {
                    sid: *sid,
                    owner: *owner,
                });
            }
        }
        Ok(())
    }

    /// Records a new master (after [`check_new`](Self::check_new)).
    pub(crate) fn insert(&mut self, dev: DeviceId, master: Master) {
        for sid in &master.sids {
            self.by_sid.insert(sid.0, dev);
        }
        self.by_dev.insert(dev, master);
    }

    /// Forgets a master and its StreamIDs.
    pub(crate) fn remove(&mut self, dev: DeviceId) -> Option<Master> {
        let master = self.by_dev.remove(&dev)?;
        for sid in &master.sids {
            self.by_sid.remove(&sid.0);
        }
        Some(master)
    }

    /// Takes a master out for an update (its StreamIDs stay owned); give it back with
    /// [`put_back`](Self::put_back).
    pub(crate) fn take(&mut self, dev: DeviceId) -> Result<Master, Error> {
        self.by_dev.remove(&dev).ok_or(Error::UnknownDevice(dev))
    }

    /// Puts back a master taken with [`take`](Self::take).
    pub(crate) fn put_back(&mut self, dev: DeviceId, master: Master) {
        self.by_dev.insert(dev, master);
    }

    pub(crate) fn get(&self, dev: DeviceId) -> Result<&Master, Error> {
        self.by_dev.get(&dev).ok_or(Error::UnknownDevice(dev))
    }

    /// Number of probed devices.
    pub(crate) fn len(&self) -> usize {
        self.by_dev.len()
    }
}
