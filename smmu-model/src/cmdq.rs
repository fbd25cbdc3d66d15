//! Command queue consumer (spec §4, §6) and its opt-in command log.

use std::sync::atomic::Ordering;

use smmu_regs::cmd::Command;

use crate::regs::*;
use crate::smmu::{CdKey, Regs, Smmu, TlbTag, lock};
use crate::structs::field;

/// `CMDQ_CONS.ERR` codes (spec §4.4).
pub(crate) const CERROR_ILL: u32 = 1;
pub(crate) const CERROR_ABT: u32 = 2;

const VA_MASK: u64 = 0x00FF_FFFF_FFFF_FFFF;

enum Outcome {
    Done,
    /// CMD_SYNC that must not complete (fault injection): stop without advancing.
    Stall,
}

/// One command the command-queue consumer processed, as recorded while
/// [`Smmu::record_commands`] is on (read with [`Smmu::take_commands`]).
///
/// Commands are logged in the order the SMMU consumes them, `CMD_SYNC` included, when
/// they complete (CONS moves past them) or when the queue stops on them with an error. A
/// `CMD_SYNC` held by [`Smmu::inject_cmd_sync_stall`] is logged once, when it finally
/// completes. A command whose fetch aborts (`CERROR_ABT`) was never read and is not
/// logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandLogEntry {
    /// The 16 bytes read from the queue slot, as two 64-bit words (dw0, dw1).
    pub words: [u64; 2],
    /// The command, decoded with `smmu_regs::cmd::Command::decode_non_secure`; `None`
    /// when the words do not decode (reserved opcode, `SSec` = 1, `CS` = 0b11, ...), which
    /// stops the queue with `CERROR_ILL`.
    pub command: Option<Command>,
    /// `None` when the command completed; otherwise the `CMDQ_CONS.ERR` code the queue
    /// stopped on it with (spec §4.4: 1 = `CERROR_ILL`), the command having had no
    /// effect.
    pub error: Option<u8>,
}

impl CommandLogEntry {
    /// The opcode, `dw0[7:0]` (spec §4.1), whether or not the command decoded.
    #[must_use]
    pub const fn opcode(&self) -> u8 {
        self.words[0] as u8
    }
}

/// The command log: off by default; grows until taken.
#[derive(Debug, Default)]
pub(crate) struct CommandLog {
    on: bool,
    entries: Vec<CommandLogEntry>,
}

/// An address range of a TLBI command.
#[derive(Clone, Copy)]
struct Range {
    start: u64,
    len: u64,
}

impl Smmu {
    /// Consumes commands until the queue is empty, an error stops it, or a stalled
    /// `CMD_SYNC` is reached.
    pub(crate) fn consume_commands(&self, regs: &mut Regs) {
        loop {
            if self.cr0ack.load(Ordering::Acquire) & CR0_CMDQEN == 0 {
                return;
            }
            if self.gerror_active(GERROR_CMDQ_ERR) {
                return;
            }
            let g = QueueGeom::new(regs.cmdq_base, self.cfg.cmdqs(), 16);
            if g.is_empty(regs.cmdq_prod, regs.cmdq_cons) {
                return;
            }
            let addr = g.base + u64::from(g.index(regs.cmdq_cons)) * 16;
            let fetched = self
                .mem
                .read_u64(addr)
                .and_then(|d0| Ok((d0, self.mem.read_u64(addr + 8)?)));
            let result = match fetched {
                Ok((dw0, dw1)) => {
                    // Reserved / Secure-only opcodes, SSec = 1, CS = 0b11, Resp = 0b11 and
                    // the reserved TLBI range encoding are CERROR_ILL whatever the ID
                    // registers say.
                    let cmd = Command::decode_non_secure([dw0, dw1], false).ok();
                    let result = cmd.map_or(Err(CERROR_ILL), |c| self.exec_command(c));
                    self.log_command([dw0, dw1], cmd, &result);
                    result
                }
                Err(_) => Err(CERROR_ABT),
            };
            match result {
                Ok(Outcome::Done) => {
                    self.counters.commands.fetch_add(1, Ordering::Relaxed);
                    regs.cmdq_cons = (regs.cmdq_cons & !0xF_FFFF) | g.inc(regs.cmdq_cons);
                }
                Ok(Outcome::Stall) => return,
                Err(code) => {
                    // ERR is written before GERROR.CMDQ_ERR is toggled; CONS stays on
                    // the failing command.
                    regs.cmdq_cons = (regs.cmdq_cons & 0xF_FFFF) | (code & 0x7F) << 24;
                    self.raise_gerror(GERROR_CMDQ_ERR);
                    return;
                }
            }
        }
    }

    /// Appends a consumed command to the log while recording is on (a stalled
    /// `CMD_SYNC` is logged when it completes).
    fn log_command(
        &self,
        words: [u64; 2],
        command: Option<Command>,
        result: &Result<Outcome, u32>,
    ) {
        let error = match result {
            Ok(Outcome::Done) => None,
            Ok(Outcome::Stall) => return,
            Err(code) => Some((*code & 0x7F) as u8),
        };
        let mut log = lock(&self.cmd_log);
        if log.on {
            log.entries.push(CommandLogEntry {
                words,
                command,
                error,
            });
        }
    }

    /// Starts (`true`) or stops (`false`) recording the commands the command queue
    /// consumes. Starting discards any earlier record; stopping keeps what was recorded
    /// for [`take_commands`](Self::take_commands). Off when the model is created: the
    /// log is for tests that check a command sequence, and grows until it is taken.
    pub fn record_commands(&self, on: bool) {
        let mut log = lock(&self.cmd_log);
        if on {
            log.entries.clear();
        }
        log.on = on;
    }

    /// Returns the commands recorded so far, oldest first, and empties the record
    /// (recording continues if it is on). See [`CommandLogEntry`] for what is logged.
    #[must_use]
    pub fn take_commands(&self) -> Vec<CommandLogEntry> {
        std::mem::take(&mut lock(&self.cmd_log).entries)
    }

    fn exec_command(&self, cmd: Command) -> Result<Outcome, u32> {
        use smmu_regs::cmd::CompletionSignal;
        let c = &self.cfg;
        let ill = Err(CERROR_ILL);
        let vmid_mask: u16 = if c.vmid16 { 0xFFFF } else { 0xFF };
        let asid_mask: u16 = if c.asid16 { 0xFFFF } else { 0xFF };
        match cmd {
            // Accepted, no effect.
            Command::PrefetchConfig { .. } | Command::PrefetchAddr { .. } => {}
            Command::CfgiSte { sid, leaf, .. } => {
                let sid = sid.0;
                let _w = self.walk_write();
                self.ste_cache.invalidate(|k, _| k.0 == sid);
                self.cd_cache.invalidate(|k, _| k.sid == sid);
                if !leaf {
                    let l1 = sid.checked_shr(self.l1_split()).unwrap_or(0);
                    self.l1_cache.invalidate(|k, _| k.0 == l1);
                }
            }
            Command::CfgiSteRange { sid, range, .. } => {
                let _w = self.walk_write();
                if range >= 31 {
                    self.ste_cache.invalidate(|_, _| true);
                    self.cd_cache.invalidate(|_, _| true);
                    self.l1_cache.invalidate(|_, _| true);
                } else {
                    let n = u32::from(range) + 1;
                    let lo = u64::from(sid.0) & !((1u64 << n) - 1);
                    let hi = lo + (1u64 << n) - 1;
                    let inr = |s: u32| (lo..=hi).contains(&u64::from(s));
                    self.ste_cache.invalidate(|k, _| inr(k.0));
                    self.cd_cache.invalidate(|k, _| inr(k.sid));
                    let split = self.l1_split();
                    let (l1lo, l1hi) = (lo >> split, hi >> split);
                    self.l1_cache
                        .invalidate(|k, _| (l1lo..=l1hi).contains(&u64::from(k.0)));
                }
            }
            Command::CfgiCd { sid, ssid, .. } => {
                let _w = self.walk_write();
                let key = CdKey {
                    sid: sid.0,
                    idx: ssid.0,
                };
                self.cd_cache.invalidate(|k, _| *k == key);
            }
            Command::CfgiCdAll { sid, .. } => {
                let _w = self.walk_write();
                self.cd_cache.invalidate(|k, _| k.sid == sid.0);
            }
            Command::TlbiNhAll { vmid } => {
                if !c.stage1 {
                    return ill;
                }
                let vmid = vmid.0 & vmid_mask;
                self.tlbi(|t, _| matches!(t, TlbTag::Nh { vmid: v, .. } if v == vmid));
            }
            Command::TlbiNhAsid { vmid, asid } => {
                if !c.stage1 {
                    return ill;
                }
                let (vmid, asid) = (vmid.0 & vmid_mask, asid.0 & asid_mask);
                self.tlbi(|t, e| {
                    !e.global
                        && matches!(t, TlbTag::Nh { vmid: v, asid: a } if v == vmid && a == asid)
                });
            }
            Command::TlbiNhVa {
                vmid,
                asid,
                addr,
                range,
                ..
            } => {
                if !c.stage1 {
                    return ill;
                }
                let (vmid, asid) = (vmid.0 & vmid_mask, asid.0 & asid_mask);
                let r = self.tlbi_range(addr.0, range);
                self.tlbi(|t, e| {
                    matches!(t, TlbTag::Nh { vmid: v, asid: a } if v == vmid && (e.global || a == asid))
                        && e.overlaps(r.start, r.len)
                });
            }
            Command::TlbiNhVaa {
                vmid, addr, range, ..
            } => {
                if !c.stage1 {
                    return ill;
                }
                let vmid = vmid.0 & vmid_mask;
                let r = self.tlbi_range(addr.0, range);
                self.tlbi(|t, e| {
                    matches!(t, TlbTag::Nh { vmid: v, .. } if v == vmid)
                        && e.overlaps(r.start, r.len)
                });
            }
            Command::TlbiEl2All => {
                if !c.hyp {
                    return ill;
                }
                self.tlbi(|t, _| matches!(t, TlbTag::El2 { .. }));
            }
            Command::TlbiEl2Asid { asid } => {
                if !c.hyp {
                    return ill;
                }
                let asid = asid.0 & asid_mask;
                self.tlbi(|t, e| !e.global && matches!(t, TlbTag::El2 { asid: a } if a == asid));
            }
            Command::TlbiEl2Va {
                asid, addr, range, ..
            } => {
                if !c.hyp {
                    return ill;
                }
                let asid = asid.0 & asid_mask;
                let r = self.tlbi_range(addr.0, range);
                self.tlbi(|t, e| {
                    matches!(t, TlbTag::El2 { asid: a } if e.global || a == asid)
                        && e.overlaps(r.start, r.len)
                });
            }
            Command::TlbiEl2Vaa { addr, range, .. } => {
                if !c.hyp {
                    return ill;
                }
                let r = self.tlbi_range(addr.0, range);
                self.tlbi(|t, e| matches!(t, TlbTag::El2 { .. }) && e.overlaps(r.start, r.len));
            }
            Command::TlbiS12Vmall { vmid } => {
                if !c.stage2 {
                    return ill;
                }
                let vmid = vmid.0 & vmid_mask;
                self.tlbi(|t, _| {
                    matches!(t, TlbTag::Nh { vmid: v, .. } | TlbTag::S2 { vmid: v } if v == vmid)
                });
            }
            Command::TlbiS2Ipa {
                vmid, ipa, range, ..
            } => {
                if !c.stage2 {
                    return ill;
                }
                let vmid = vmid.0 & vmid_mask;
                let r = self.tlbi_range(ipa.0, range);
                self.tlbi(|t, e| {
                    matches!(t, TlbTag::S2 { vmid: v } if v == vmid) && e.overlaps(r.start, r.len)
                });
            }
            Command::TlbiNsnhAll => {
                self.tlbi(|t, _| matches!(t, TlbTag::Nh { .. } | TlbTag::S2 { .. }));
            }
            // The model has no ATCs: accepted when ATS is implemented.
            Command::AtcInv { .. } => {
                if !c.ats {
                    return ill;
                }
                self.counters.atc_invs.fetch_add(1, Ordering::Relaxed);
            }
            Command::PriResp { .. } => {
                if !c.pri {
                    return ill;
                }
            }
            // Nothing is ever stalled; illegal without stall support.
            Command::Resume { .. } | Command::StallTerm { .. } => {
                if c.stall_model == 1 {
                    return ill;
                }
            }
            Command::Sync {
                cs,
                msi_data,
                msi_addr,
                ..
            } => {
                let irq = matches!(cs, CompletionSignal::SigIrq);
                return self.cmd_sync(irq, msi_data, msi_addr.0);
            }
            // CFGI_VMS_PIDM (no VMS), EL3 TLBIs, IMPLEMENTATION DEFINED and unknown
            // opcodes.
            _ => return ill,
        }
        Ok(Outcome::Done)
    }

    fn cmd_sync(&self, irq: bool, data: u32, addr: u64) -> Result<Outcome, u32> {
        if self.stall_sync.load(Ordering::Acquire) {
            return Ok(Outcome::Stall);
        }
        // Every earlier command has completed (consumption is in order and
        // synchronous). Wait for translations in flight, so that their event records
        // are visible before the sync completes.
        drop(self.walk_write());
        if irq {
            if self.cfg.msi && addr != 0 {
                if self.mem.write_u32(addr, data).is_ok() {
                    self.counters.msi_writes.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.raise_gerror(GERROR_MSI_CMDQ_ABT_ERR);
                }
            } else {
                self.counters.sync_irqs.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(Outcome::Done)
    }

    fn tlbi(&self, drop: impl Fn(TlbTag, &crate::smmu::TlbEntry) -> bool) {
        let _w = self.walk_write();
        self.tlb.invalidate(|k, e| drop(k.tag, e));
    }

    /// The address range of a TLBI by address (spec §4.3): one address, or
    /// (NUM + 1) × 2^SCALE granules from it when IDR3.RIL = 1 and TG ≠ 0.
    fn tlbi_range(&self, addr: u64, range: smmu_regs::cmd::TlbiRange) -> Range {
        let start = addr & VA_MASK & !0xFFF;
        let len = match (self.cfg.ril, range.granules(), range.tg.shift()) {
            (true, Some(n), Some(shift)) => n.checked_shl(shift).unwrap_or(u64::MAX),
            _ => 1,
        };
        Range { start, len }
    }

    /// The current (effective) SPLIT of a 2-level stream table.
    pub(crate) fn l1_split(&self) -> u32 {
        let cfg = self.strtab_cfg.load(Ordering::Acquire);
        match field(u64::from(cfg), 6, 5) {
            8 => 8,
            10 => 10,
            _ => 6,
        }
    }
}
