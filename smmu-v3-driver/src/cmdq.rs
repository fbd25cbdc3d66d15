//! The command queue (spec §4, §6): batching, `CMD_SYNC` completion, wrap handling,
//! full-queue back-pressure and CONS.ERR recovery.
//!
//! # Design
//!
//! One spin lock protects the producer: a caller takes it, writes its whole batch
//! followed by one `CMD_SYNC`, publishes `CMDQ_PROD`, and waits for the sync with the
//! lock held. Waiting under the lock makes the failing command of a CONS.ERR always
//! belong to the batch of the thread that sees it (it is the only producer between its
//! first write and its sync), which is what lets the error be returned to the right
//! caller. Other threads spin on the lock meanwhile; every wait is bounded by the
//! platform's poll budget.
//!
//! * **Batching:** commands are written to consecutive slots and published with one
//!   `CMDQ_PROD` write. A batch larger than the free space is published in parts as the
//!   SMMU frees slots (back-pressure), each wait bounded ([`Wait::CmdqSpace`]).
//! * **Completion:** with MSIPOLL, the closing `CMD_SYNC` has `CS = SIG_IRQ`,
//!   `MSIAddr` = its own slot and `MSIData = 0`, and the driver polls the slot's first
//!   word until it reads 0; otherwise it polls `CMDQ_CONS` until the queue is empty
//!   ([`Wait::CmdSync`]).
//! * **Errors** (spec §4.4), checked while polling: `CERROR_ILL` (and unknown codes):
//!   the command is replaced with a `CMD_SYNC` and reported (a [`Diagnostic`] now, an
//!   [`Error::CommandError`] for the batch once its sync completed); `CERROR_ABT`: the
//!   command is retried; `CERROR_ATC_INV_SYNC`: the sync is retried. Then GERRORN
//!   acknowledges CMDQ_ERR and the SMMU resumes at CONS.

use core::sync::atomic::{Ordering, fence};

use smmu_regs::PhysAddr;
use smmu_regs::cmd::{Command, CompletionSignal, Opcode};
use smmu_regs::fields::Shareability;
use smmu_regs::regs::{CmdqCons, CommandError, Gerror, QueueKind, QueueSize, offset};
use smmu_strtab::{Coherency, TableMemory};

use crate::error::{Error, Wait};
use crate::hal::{Diagnostic, Platform, Registers};
use crate::ring::Ring;
use crate::spin::SpinMutex;

/// Producer state (under the lock).
#[derive(Debug, Default)]
struct State {
    /// Whether the queue has been programmed and enabled (CR0.CMDQEN).
    enabled: bool,
    /// Next slot to write (index + wrap).
    prod: u32,
    /// Last value written to CMDQ_PROD.
    published: u32,
    /// Last CMDQ_CONS.RD read (a lower bound of the SMMU's progress).
    cons: u32,
}

/// Book-keeping of one batch.
#[derive(Debug, Default)]
struct Batch {
    /// Entries written so far (the closing sync included).
    queued: usize,
    /// Entries published so far.
    published: usize,
    /// The first command error seen in this batch.
    error: Option<Error>,
    /// The last error reported, to report a retried command once.
    reported: Option<(u32, CommandError)>,
}

/// The command queue.
pub(crate) struct CommandQueue<M: TableMemory> {
    ring: Ring<M>,
    state: SpinMutex<State>,
    /// Serialises read-modify-write cycles of GERRORN.
    gerrorn: SpinMutex<()>,
    msi_poll: bool,
}

/// The plain `CMD_SYNC` that replaces an illegal command.
const PLAIN_SYNC: Command = Command::Sync {
    cs: CompletionSignal::SigNone,
    msh: Shareability::NonShareable,
    msi_attr: 0,
    msi_data: 0,
    msi_addr: PhysAddr(0),
};

impl<M: TableMemory> CommandQueue<M> {
    /// Allocates a queue of 2^`log2size` entries.
    pub(crate) fn new(
        mem: M,
        log2size: u8,
        coherency: Coherency,
        msi_poll: bool,
    ) -> Result<Self, Error> {
        Ok(Self {
            ring: Ring::new(mem, QueueKind::Cmdq, log2size, coherency)?,
            state: SpinMutex::new(State::default()),
            gerrorn: SpinMutex::new(()),
            msi_poll,
        })
    }

    /// The CMDQ_BASE value.
    pub(crate) fn base_register(&self) -> Result<u64, Error> {
        self.ring.base_register()
    }

    /// Records that the hardware pointers were reset to 0 and whether the queue is
    /// enabled.
    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        *self.state.get_mut() = State {
            enabled,
            ..State::default()
        };
    }

    fn size(&self) -> QueueSize {
        self.ring.size()
    }

    /// Writes `cmds` and a closing `CMD_SYNC`, publishes them and waits for the sync.
    ///
    /// Commands are encoded as they are written: a command that cannot be encoded ends
    /// the call with [`Error::Regs`]; what was already published runs, the rest is
    /// dropped.
    pub(crate) fn submit<H, I>(&self, hal: &H, cmds: I) -> Result<(), Error>
    where
        H: Registers + Platform,
        I: IntoIterator<Item = Command>,
    {
        let mut st = self.state.lock();
        if !st.enabled {
            return Err(Error::NotReady);
        }
        let mut batch = Batch::default();
        let result = self.submit_locked(hal, &mut st, &mut batch, cmds);
        if result.is_err() {
            // Unpublished slots are simply overwritten by the next batch.
            st.prod = st.published;
        }
        result?;
        batch.error.map_or(Ok(()), Err)
    }

    fn submit_locked<H, I>(
        &self,
        hal: &H,
        st: &mut State,
        batch: &mut Batch,
        cmds: I,
    ) -> Result<(), Error>
    where
        H: Registers + Platform,
        I: IntoIterator<Item = Command>,
    {
        for cmd in cmds {
            let words = cmd.encode()?;
            self.push(hal, st, batch, &words)?;
        }
        self.wait_for_space(hal, st, batch)?;
        let sync_ptr = st.prod;
        let sync = self.sync_command(sync_ptr).encode()?;
        self.push(hal, st, batch, &sync)?;
        self.publish(hal, st, batch);
        let size = self.size();
        self.poll(hal, st, batch, Wait::CmdSync, |q, hal, st| {
            if q.msi_poll {
                // The SMMU writes MSIData (0) over the low word of dw0 on completion.
                Ok(q.ring.load_first_word(sync_ptr)? & 0xFFFF_FFFF == 0)
            } else {
                q.refresh_cons(hal, st);
                Ok(size.is_empty(st.published, st.cons))
            }
        })
    }

    /// The closing `CMD_SYNC` for slot `ptr`.
    fn sync_command(&self, ptr: u32) -> Command {
        if self.msi_poll {
            Command::Sync {
                cs: CompletionSignal::SigIrq,
                msh: Shareability::Inner,
                // Inner and outer write-back (Linux ARM_SMMU_MEMATTR_OIWB).
                msi_attr: 0xF,
                msi_data: 0,
                msi_addr: self.ring.entry_pa(ptr),
            }
        } else {
            PLAIN_SYNC
        }
    }

    /// Writes one entry, waiting for a free slot first.
    fn push<H: Registers + Platform>(
        &self,
        hal: &H,
        st: &mut State,
        batch: &mut Batch,
        words: &[u64; 2],
    ) -> Result<(), Error> {
        self.wait_for_space(hal, st, batch)?;
        self.ring.write_entry(st.prod, words)?;
        st.prod = self.size().inc(st.prod);
        batch.queued += 1;
        Ok(())
    }

    /// Makes the written entries visible to the SMMU.
    fn publish<H: Registers>(&self, hal: &H, st: &mut State, batch: &mut Batch) {
        if st.prod == st.published {
            return;
        }
        // The entries are written (and cleaned) before PROD moves; the HAL's write also
        // orders prior memory accesses (see `Registers`).
        fence(Ordering::SeqCst);
        hal.write32(offset::CMDQ_PROD, st.prod);
        st.published = st.prod;
        batch.published = batch.queued;
    }

    fn refresh_cons<H: Registers>(&self, hal: &H, st: &mut State) {
        let cons = CmdqCons::from(hal.read32(offset::CMDQ_CONS));
        st.cons = cons.rd() & self.size().pointer_mask();
    }

    /// Waits until at least one slot is free.
    fn wait_for_space<H: Registers + Platform>(
        &self,
        hal: &H,
        st: &mut State,
        batch: &mut Batch,
    ) -> Result<(), Error> {
        let size = self.size();
        if size.has_space(st.prod, st.cons) {
            return Ok(());
        }
        self.refresh_cons(hal, st);
        if size.has_space(st.prod, st.cons) {
            return Ok(());
        }
        // Let the SMMU work on what is already written.
        self.publish(hal, st, batch);
        self.poll(hal, st, batch, Wait::CmdqSpace, |q, hal, st| {
            q.refresh_cons(hal, st);
            Ok(size.has_space(st.prod, st.cons))
        })
    }

    /// Polls `done` within the platform's budget, repairing command errors meanwhile.
    fn poll<H, F>(
        &self,
        hal: &H,
        st: &mut State,
        batch: &mut Batch,
        what: Wait,
        mut done: F,
    ) -> Result<(), Error>
    where
        H: Registers + Platform,
        F: FnMut(&Self, &H, &mut State) -> Result<bool, Error>,
    {
        let mut left = hal.poll_budget();
        loop {
            if done(self, hal, st)? {
                return Ok(());
            }
            // A repair counts against the budget too: a command that fails again at once
            // (a persistent fetch abort) must not keep the loop alive.
            let repaired = self.repair(hal, st, Some(&mut *batch))?;
            if repaired && done(self, hal, st)? {
                return Ok(());
            }
            if left == 0 {
                return Err(Error::Timeout { what });
            }
            left -= 1;
            hal.relax();
        }
    }

    /// Repairs the queue after a command error when no batch is in flight (called from
    /// the GERROR handler). Does nothing if a producer holds the lock: it repairs errors
    /// itself while it waits.
    pub(crate) fn recover<H: Registers + Platform>(&self, hal: &H) -> Result<(), Error> {
        if let Some(mut st) = self.state.try_lock() {
            self.repair(hal, &mut st, None)?;
        }
        Ok(())
    }

    /// Handles an active CMDQ_ERR (spec §4.4); returns whether there was one.
    fn repair<H: Registers + Platform>(
        &self,
        hal: &H,
        st: &mut State,
        batch: Option<&mut Batch>,
    ) -> Result<bool, Error> {
        let gerror = Gerror::from_bits_retain(hal.read32(offset::GERROR));
        let gerrorn = Gerror::from_bits_retain(hal.read32(offset::GERRORN));
        let active = gerror.active(gerrorn);
        if active.contains(Gerror::SFM_ERR) {
            hal.diagnostic(Diagnostic::ServiceFailureMode);
            return Err(Error::ServiceFailureMode);
        }
        if !active.contains(Gerror::CMDQ_ERR) {
            return Ok(false);
        }
        let size = self.size();
        let cons = CmdqCons::from(hal.read32(offset::CMDQ_CONS));
        let code = cons.error();
        let ptr = cons.rd() & size.pointer_mask();
        st.cons = ptr;
        let slot = size.index(ptr);
        let mut words = [0u64; 2];
        self.ring.read_entry(slot, &mut words)?;
        let mut batch = batch;
        let first_report = batch
            .as_deref()
            .is_none_or(|b| b.reported != Some((slot, code)));
        if first_report {
            hal.diagnostic(Diagnostic::CommandError {
                code,
                opcode: Opcode(words[0] as u8),
                slot,
            });
        }
        if let Some(b) = batch.as_deref_mut() {
            b.reported = Some((slot, code));
        }
        match code {
            // Retried as they are.
            CommandError::Abt | CommandError::AtcInvSync => {}
            // CERROR_ILL, and codes this driver does not know: skip the command.
            _ => {
                self.ring.write_entry(slot, &PLAIN_SYNC.encode()?)?;
                if let Some(b) = batch
                    && b.error.is_none()
                {
                    // Entries between the failing one and PROD, the failing one included.
                    let pending = size.used(st.published, ptr) as usize;
                    if let Some(index) = b.published.checked_sub(pending) {
                        b.error = Some(Error::CommandError { code, index });
                    }
                }
            }
        }
        fence(Ordering::SeqCst);
        self.acknowledge(hal, Gerror::CMDQ_ERR);
        Ok(true)
    }

    /// Acknowledges the active errors among `which` through GERRORN.
    pub(crate) fn acknowledge<H: Registers>(&self, hal: &H, which: Gerror) {
        let _serialised = self.gerrorn.lock();
        let gerror = Gerror::from_bits_retain(hal.read32(offset::GERROR));
        let gerrorn = Gerror::from_bits_retain(hal.read32(offset::GERRORN));
        let ack = gerror.acknowledge(gerrorn, which);
        if ack != gerrorn {
            hal.write32(offset::GERRORN, ack.bits());
        }
    }
}
