//! Model DMA devices that run on their own threads, with a ledger per device so that
//! each device moves through the phases ([`BEFORE_CRASH`], [`DURING_HANDOVER`],
//! [`AFTER_REATTACH`]) at its own pace: a device's phase changes when *its* driver takes
//! over, while the others keep running.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smmu_testbed::Testbed;
use smmu_testbed::smmu_model::{Counts, DmaDevice, DmaProgram, ExpectedMapping, Ledger, Outcome};

use crate::{AFTER_REATTACH, BEFORE_CRASH, DURING_HANDOVER};

/// Ledger entries kept per device (the counters are unlimited).
const KEPT_ENTRIES: usize = 4096;

/// One device's transaction counters in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    /// Issued before kernel 1 crashed.
    pub before_crash: Counts,
    /// Issued from the crash until the device's kdump-kernel driver quiesced it.
    pub during_handover: Counts,
    /// Issued after the device's kdump-kernel driver re-attached it.
    pub after_reattach: Counts,
}

impl PhaseCounts {
    /// The three phases in order.
    #[must_use]
    pub const fn phases(&self) -> [Counts; 3] {
        [self.before_crash, self.during_handover, self.after_reattach]
    }

    /// The sum over all phases.
    #[must_use]
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.phases() {
            t.completed += c.completed;
            t.faulted += c.faulted;
            t.aborted += c.aborted;
            t.misdirected += c.misdirected;
        }
        t
    }
}

/// How fast a device thread issues its transactions: `burst` back to back, then a
/// `pause`. Pacing keeps a few dozen device threads from starving the "CPU" (the
/// thread running the kernels) on a small host; phases are still measured in
/// transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Transactions issued back to back.
    pub burst: u32,
    /// The pause after each burst.
    pub pause: Duration,
}

impl Pace {
    /// No pause at all.
    pub const FULL_SPEED: Self = Self {
        burst: u32::MAX,
        pause: Duration::ZERO,
    };

    /// A pace for `devices` concurrent device threads: bursts of 8, with a pause that
    /// grows with the number of devices (10 µs per device).
    #[must_use]
    pub fn shared_by(devices: usize) -> Self {
        Self {
            burst: 8,
            pause: Duration::from_micros(10 * devices.max(1) as u64),
        }
    }
}

/// A model DMA device with its own ledger and expected-mapping oracle, optionally
/// running its program on a thread. Dropping it stops and joins the thread.
#[derive(Debug)]
pub struct LiveDevice {
    /// The device.
    pub dma: Arc<DmaDevice>,
    /// Its ledger (this device only).
    pub ledger: Arc<Ledger>,
    /// Where its driver means each IOVA to land (the ledger's "intended" oracle).
    pub mapping: Arc<ExpectedMapping>,
    thread: Option<JoinHandle<u64>>,
}

impl LiveDevice {
    /// A device named `name` with StreamID `sid` on `tb`'s model, with an empty
    /// (non-identity) expected mapping, in phase [`BEFORE_CRASH`].
    #[must_use]
    pub fn new(tb: &Testbed, name: &str, sid: u32) -> Self {
        let ledger = Arc::new(Ledger::with_max_entries(KEPT_ENTRIES));
        ledger.set_phase(BEFORE_CRASH);
        let mapping = Arc::new(ExpectedMapping::new());
        let dma = Arc::new(DmaDevice::new(
            name,
            sid,
            Arc::clone(&tb.smmu),
            Arc::clone(&ledger),
            Arc::clone(&mapping),
        ));
        Self {
            dma,
            ledger,
            mapping,
            thread: None,
        }
    }

    /// Starts phase `label` for this device.
    pub fn set_phase(&self, label: &str) {
        self.ledger.set_phase(label);
    }

    /// Loads `program` and runs it on a new thread at `pace`, until it ends or
    /// [`stop`](Self::stop) is called.
    pub fn start(&mut self, program: DmaProgram, pace: Pace) {
        self.stop();
        self.dma.load(program);
        self.thread = Some(self.dma.spawn_paced(pace.burst, pace.pause));
    }

    /// Whether a thread is running this device's program.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Stops the thread (after its current transaction) and waits for it; returns the
    /// transactions it issued (0 when none was running).
    pub fn stop(&mut self) -> u64 {
        match self.thread.take() {
            Some(t) => {
                self.dma.stop();
                // A panic in the device thread would be a model bug; count nothing.
                t.join().unwrap_or(0)
            }
            None => 0,
        }
    }

    /// Waits for a finite program to end (without stopping it); returns the
    /// transactions it issued (0 when none was running).
    pub fn finish(&mut self) -> u64 {
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }

    /// Transactions issued in phase `label`.
    #[must_use]
    pub fn issued_in(&self, label: &str) -> u64 {
        self.ledger.counts_in_phase(self.dma.index(), label).total()
    }

    /// How the transactions of phase `label` ended, by kind ("completed", "aborted",
    /// "bus error", or the fault's event name), in order of first occurrence. Counted
    /// from the ledger's kept entries (the first 4096 of the device).
    #[must_use]
    pub fn outcomes_in(&self, label: &str) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        let phase = (0..)
            .map_while(|i| self.ledger.phase_name(i))
            .position(|p| p == label);
        let Some(phase) = phase else {
            return out;
        };
        for e in self.ledger.entries().iter().filter(|e| e.phase == phase) {
            let kind = match e.outcome {
                Outcome::Completed { .. } => "completed".to_owned(),
                Outcome::Faulted { event, .. } => event.to_string(),
                Outcome::Aborted => "aborted".to_owned(),
                Outcome::BusError { .. } => "bus error".to_owned(),
            };
            match out.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => out.push((kind, 1)),
            }
        }
        out
    }

    /// The counters of the three phases.
    #[must_use]
    pub fn counts(&self) -> PhaseCounts {
        let c = |label| self.ledger.counts_in_phase(self.dma.index(), label);
        PhaseCounts {
            before_crash: c(BEFORE_CRASH),
            during_handover: c(DURING_HANDOVER),
            after_reattach: c(AFTER_REATTACH),
        }
    }
}

impl Drop for LiveDevice {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until each running device in `targets` has issued at least its target number
/// of transactions in phase `label`. Count-based, with `deadline` as a guard against a
/// stalled device.
///
/// # Errors
///
/// A message naming the first device that did not get there in time.
pub fn wait_for(
    targets: &[(&LiveDevice, u64)],
    label: &str,
    deadline: Duration,
) -> Result<(), String> {
    let end = Instant::now() + deadline;
    for &(d, want) in targets.iter().filter(|(d, _)| d.is_running()) {
        while d.issued_in(label) < want {
            if Instant::now() > end {
                return Err(format!(
                    "DMA of {} stalled: {} of {want} transactions {label} after {deadline:?}",
                    d.dma.name(),
                    d.issued_in(label)
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(())
}

/// Waits until every running device in `devices` has issued `more` transactions in
/// phase `label` beyond what it had issued when called (see [`wait_for`]).
///
/// # Errors
///
/// As [`wait_for`].
pub fn wait_more<'a>(
    devices: impl IntoIterator<Item = &'a LiveDevice>,
    label: &str,
    more: u64,
    deadline: Duration,
) -> Result<(), String> {
    let targets: Vec<(&LiveDevice, u64)> = devices
        .into_iter()
        .map(|d| (d, d.issued_in(label) + more))
        .collect();
    wait_for(&targets, label, deadline)
}
