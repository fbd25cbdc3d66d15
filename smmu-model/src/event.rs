//! Event records (spec §5) and the model's internal fault log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The event type (`EventID`, spec §5.1): the `smmu-regs` definition, re-exported so that
/// the model and the driver name events the same way.
pub use smmu_regs::event::EventId;

/// The `CLASS` field of a translation-fault record: which kind of access faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultClass {
    /// The fetch of a CD (through stage 2).
    Cd = 0,
    /// A translation-table access.
    TranslationTable = 1,
    /// The input address of the transaction itself.
    InputAddress = 2,
}

/// An event record, as the model produces it (spec §5.2). [`to_words`](Self::to_words)
/// gives the 32-byte queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRecord {
    /// Event type.
    pub id: EventId,
    /// StreamID of the transaction.
    pub sid: u32,
    /// SubstreamID, if the transaction had one.
    pub ssid: Option<u32>,
    /// Input address (translation faults, `F_WALK_EABT`).
    pub input_addr: u64,
    /// Faulting IPA (stage-2 translation faults).
    pub ipa: u64,
    /// Fetch address (`F_STE_FETCH`, `F_CD_FETCH`, `F_WALK_EABT`).
    pub fetch_addr: u64,
    /// `CLASS` (translation faults).
    pub class: FaultClass,
    /// The fault happened at stage 2.
    pub s2: bool,
    /// The transaction was a read.
    pub rnw: bool,
    /// The transaction was an instruction fetch.
    pub ind: bool,
    /// The transaction was privileged.
    pub pnu: bool,
    /// The faulting table access was a read (`F_WALK_EABT`).
    pub ttrnw: bool,
}

impl EventRecord {
    /// A record of type `id` for `sid`/`ssid` with every other field zero.
    #[must_use]
    pub const fn new(id: EventId, sid: u32, ssid: Option<u32>) -> Self {
        Self {
            id,
            sid,
            ssid,
            input_addr: 0,
            ipa: 0,
            fetch_addr: 0,
            class: FaultClass::Cd,
            s2: false,
            rnw: false,
            ind: false,
            pnu: false,
            ttrnw: false,
        }
    }

    /// Encodes the record as the four 64-bit words of an event queue entry, with
    /// `smmu_regs::event::Event::encode` (spec §5.2):
    ///
    /// * dw0: EventID`[7:0]`, SSV`[11]`, SubstreamID`[31:12]`, StreamID`[63:32]`
    ///   (`C_BAD_SUBSTREAMID` carries the SubstreamID without SSV, `F_STREAM_DISABLED`
    ///   carries none);
    /// * dw1 (translation faults and `F_WALK_EABT`): PnU`[33]`, InD`[34]`, RnW`[35]`, S2`[39]`,
    ///   CLASS`[41:40]`;
    /// * dw2: InputAddr;
    /// * dw3: IPA`[55:12]` for stage-2 translation faults, FetchAddr`[55:3]` for
    ///   `F_STE_FETCH`, `F_CD_FETCH` and `F_WALK_EABT`.
    #[must_use]
    pub fn to_words(&self) -> [u64; 4] {
        use smmu_regs::event::{
            Event, FaultClass as Class, TranslationFault, TranslationFaultKind,
        };
        use smmu_regs::{Iova, PhysAddr, StreamId, SubstreamId};
        let sid = StreamId(self.sid);
        let (ssv, ssid) = match self.ssid {
            Some(s) => (true, SubstreamId(s & 0xF_FFFF)),
            None => (false, SubstreamId(0)),
        };
        let class = match self.class {
            FaultClass::Cd => Class::Cd,
            FaultClass::TranslationTable => Class::TranslationTable,
            FaultClass::InputAddress => Class::InputAddr,
        };
        let fetch_addr = PhysAddr(self.fetch_addr & 0x00FF_FFFF_FFFF_FFF8);
        let ev = match self.id {
            EventId::C_BAD_STREAMID => Event::BadStreamId { sid, ssv, ssid },
            EventId::F_STE_FETCH => Event::SteFetch {
                sid,
                ssv,
                ssid,
                reason: 0,
                gpcf: false,
                fetch_addr,
            },
            EventId::C_BAD_STE => Event::BadSte { sid, ssv, ssid },
            EventId::F_STREAM_DISABLED => Event::StreamDisabled { sid },
            EventId::C_BAD_SUBSTREAMID => Event::BadSubstreamId { sid, ssid },
            EventId::F_CD_FETCH => Event::CdFetch {
                sid,
                ssv,
                ssid,
                reason: 0,
                gpcf: false,
                fetch_addr,
            },
            EventId::C_BAD_CD => Event::BadCd { sid, ssv, ssid },
            EventId::F_WALK_EABT => Event::WalkEabt {
                sid,
                ssv,
                ssid,
                reason: 0,
                pnu: self.pnu,
                ind: self.ind,
                rnw: self.rnw,
                s2: self.s2,
                class,
                input_addr: Iova(self.input_addr),
                fetch_addr,
            },
            id => match TranslationFaultKind::from_id(smmu_regs::event::EventId(id.0)) {
                Some(kind) => Event::TranslationFault(TranslationFault {
                    kind,
                    sid,
                    ssv,
                    ssid,
                    stall: false,
                    stag: 0,
                    pnu: self.pnu,
                    ind: self.ind,
                    rnw: self.rnw,
                    s2: self.s2,
                    class,
                    ttrnw: self.ttrnw,
                    input_addr: Iova(self.input_addr),
                    ipa: smmu_regs::ids::Ipa(if self.s2 {
                        self.ipa & 0x00FF_FFFF_FFFF_F000
                    } else {
                        0
                    }),
                }),
                None => return self.own_encoding(),
            },
        };
        ev.encode().unwrap_or_else(|_| self.own_encoding())
    }

    /// The model's own encoding (used as a fallback and to cross-check smmu-regs).
    pub(crate) fn own_encoding(&self) -> [u64; 4] {
        let mut dw0 = u64::from(self.id.0) | u64::from(self.sid) << 32;
        if let Some(ssid) = self.ssid {
            if self.id != EventId::F_STREAM_DISABLED {
                dw0 |= u64::from(ssid & 0xF_FFFF) << 12;
            }
            if self.id != EventId::C_BAD_SUBSTREAMID && self.id != EventId::F_STREAM_DISABLED {
                dw0 |= 1 << 11;
            }
        }
        let mut dw1 = 0u64;
        let mut dw2 = 0u64;
        let mut dw3 = 0u64;
        let fetch_mask = 0x00FF_FFFF_FFFF_FFF8u64;
        match self.id {
            EventId::F_STE_FETCH | EventId::F_CD_FETCH => dw3 = self.fetch_addr & fetch_mask,
            EventId::F_WALK_EABT => {
                dw1 = self.attr_bits();
                dw2 = self.input_addr;
                dw3 = self.fetch_addr & fetch_mask;
            }
            id if id.is_translation_fault() => {
                dw1 = self.attr_bits() | u64::from(self.ttrnw) << 44;
                dw2 = self.input_addr;
                if self.s2 {
                    dw3 = self.ipa & 0x00FF_FFFF_FFFF_F000;
                }
            }
            _ => {}
        }
        [dw0, dw1, dw2, dw3]
    }

    fn attr_bits(&self) -> u64 {
        u64::from(self.pnu) << 33
            | u64::from(self.ind) << 34
            | u64::from(self.rnw) << 35
            | u64::from(self.s2) << 39
            | (self.class as u64) << 40
    }
}

/// What happened to an event the SMMU raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Written to the event queue.
    Written,
    /// Not written because recording is disabled for it (`CD.R` = 0, `STE.S2R` = 0,
    /// `CR2.RECINVSID` = 0).
    NotRecorded,
    /// Discarded because `EVENTQEN` = 0 (does not count as an overflow).
    QueueDisabled,
    /// Discarded because the event queue was full (overflow).
    Overflow,
    /// The write of the record to memory aborted (`GERROR.EVENTQ_ABT_ERR`).
    WriteAborted,
}

/// One entry of the internal fault log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultLogEntry {
    /// The event.
    pub record: EventRecord,
    /// What happened to it.
    pub disposition: Disposition,
}

/// The internal log of every fault raised, recorded or not.
pub(crate) struct FaultLog {
    counts: [AtomicU64; 256],
    dispositions: [AtomicU64; 5],
    recent: Mutex<VecDeque<FaultLogEntry>>,
    capacity: usize,
}

impl FaultLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            dispositions: std::array::from_fn(|_| AtomicU64::new(0)),
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    pub(crate) fn push(&self, entry: FaultLogEntry) {
        self.counts[usize::from(entry.record.id.0)].fetch_add(1, Ordering::Relaxed);
        self.dispositions[entry.disposition as usize].fetch_add(1, Ordering::Relaxed);
        if self.capacity == 0 {
            return;
        }
        let mut q = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(entry);
    }

    pub(crate) fn count(&self, id: EventId) -> u64 {
        self.counts[usize::from(id.0)].load(Ordering::Relaxed)
    }

    pub(crate) fn count_disposition(&self, d: Disposition) -> u64 {
        self.dispositions[d as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub(crate) fn recent(&self) -> Vec<FaultLogEntry> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    pub(crate) fn clear(&self) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_translation_fault() {
        let mut r = EventRecord::new(EventId::F_PERMISSION, 0x1234, Some(5));
        r.input_addr = 0xFFFF_0000_1000;
        r.ipa = 0x8000_1234;
        r.s2 = true;
        r.rnw = true;
        r.class = FaultClass::InputAddress;
        let w = r.to_words();
        assert_eq!(w[0], 0x13 | 1 << 11 | 5 << 12 | 0x1234 << 32);
        assert_eq!(w[1], 1 << 35 | 1 << 39 | 2 << 40);
        assert_eq!(w[2], 0xFFFF_0000_1000);
        assert_eq!(w[3], 0x8000_1000);
    }

    #[test]
    fn bad_substreamid_has_no_ssv() {
        let r = EventRecord::new(EventId::C_BAD_SUBSTREAMID, 1, Some(3));
        assert_eq!(r.to_words()[0], 0x08 | 3 << 12 | 1 << 32);
    }

    #[test]
    fn smmu_regs_encoding_matches_own_encoding() {
        let ids = [
            0x02u8, 0x03, 0x04, 0x06, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x11, 0x12, 0x13,
        ];
        for id in ids {
            for ssid in [None, Some(0), Some(0xF_FFFF)] {
                for s2 in [false, true] {
                    let mut r = EventRecord::new(EventId(id), 0xFEED_0001, ssid);
                    r.input_addr = 0xFFFF_8000_1234_5678;
                    r.ipa = 0x0000_00AB_CDEF_0123;
                    r.fetch_addr = 0x0000_0012_3456_7888;
                    r.s2 = s2;
                    r.rnw = true;
                    r.pnu = s2;
                    r.class = FaultClass::TranslationTable;
                    assert_eq!(r.to_words(), r.own_encoding(), "{r:?}");
                }
            }
        }
    }

    #[test]
    fn log_is_bounded() {
        let log = FaultLog::new(2);
        for i in 0..5 {
            log.push(FaultLogEntry {
                record: EventRecord::new(EventId::C_BAD_STE, i, None),
                disposition: Disposition::Written,
            });
        }
        assert_eq!(log.count(EventId::C_BAD_STE), 5);
        assert_eq!(log.total(), 5);
        assert_eq!(log.recent().len(), 2);
        assert_eq!(log.recent()[1].record.sid, 4);
        assert_eq!(log.count_disposition(Disposition::Written), 5);
    }
}
