//! Command queue consumption (spec §4, §6, §7.7 "spec" column).

mod common;
use common::*;
use smmu_model::{CmdqMode, ModelConfig, Transaction};

const CONS_ERR_SHIFT: u32 = 24;

#[test]
fn cmd_sync_msi_completion_write() {
    let rig = Rig::new();
    // Linux MSIPOLL: MSIAddr = the CMD_SYNC's own slot, MSIData = 0.
    let prod = rig.smmu.read32(CMDQ_PROD);
    let slot = rig.cmdq + u64::from(prod) * 16;
    // CMD_SYNC: CS[13:12] = 1 (SIG_IRQ), MSIData[63:32] = 0; dw1 MSIAddr[55:2].
    rig.submit(0x46 | 1 << 12, slot);
    assert_eq!(rig.mem.read_u32(slot).unwrap(), 0, "first word overwritten");
    // With data.
    let msi = rig.alloc(4096, 4096);
    rig.submit(0x46 | 1 << 12 | 0xCAFE_F00D << 32, msi);
    assert_eq!(rig.mem.read_u32(msi).unwrap(), 0xCAFE_F00D);
    assert_eq!(rig.smmu.stats().syncs, 2);
    assert_eq!(rig.smmu.stats().msi_writes, 2);
    assert_eq!(rig.smmu.read32(CMDQ_CONS), rig.smmu.read32(CMDQ_PROD));
}

#[test]
fn illegal_command_sets_cons_err_and_gerror_then_restarts() {
    let rig = Rig::new();
    rig.submit(CMD_SYNC, 0);
    let cons_before = rig.smmu.read32(CMDQ_CONS);
    rig.submit(0x00, 0); // opcode 0: reserved
    rig.submit(CMD_SYNC, 0); // behind the bad one: must not run
    let cons = rig.smmu.read32(CMDQ_CONS);
    assert_eq!(
        cons & 0xF_FFFF,
        cons_before,
        "CONS stays on the failing command"
    );
    assert_eq!((cons >> CONS_ERR_SHIFT) & 0x7F, 1, "CERROR_ILL");
    let gerror = rig.smmu.read32(GERROR);
    assert_eq!(
        (gerror ^ rig.smmu.read32(GERRORN)) & 1,
        1,
        "CMDQ_ERR active"
    );
    assert_eq!(rig.smmu.stats().syncs, 1);
    // Nothing runs while CMDQ_ERR is active, even when PROD moves.
    rig.submit(CMD_SYNC, 0);
    assert_eq!(rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF, cons_before);
    // Software replaces the bad command with a CMD_SYNC and acknowledges.
    let idx = u64::from(cons_before);
    rig.mem.write_u64(rig.cmdq + idx * 16, CMD_SYNC).unwrap();
    rig.smmu.write32(GERRORN, gerror);
    assert_eq!(
        rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF,
        rig.smmu.read32(CMDQ_PROD)
    );
    assert_eq!(rig.smmu.stats().syncs, 4);
}

#[test]
fn illegal_parameters() {
    // (opcode dword 0, why it is illegal)
    let rig = Rig::with_config(ModelConfig::default().stage2(false).hyp(false).ats(false));
    let cases: [(u64, &str); 7] = [
        (0x46 | 3 << 12, "CMD_SYNC with CS = 3"),
        (0x03 | 1 << 10, "CFGI_STE with SSec = 1"),
        (0x28, "TLBI_S12_VMALL without stage 2"),
        (0x2A, "TLBI_S2_IPA without stage 2"),
        (0x20, "TLBI_EL2_ALL without HYP"),
        (0x40, "ATC_INV without ATS"),
        (0x44, "RESUME with STALL_MODEL = 1"),
    ];
    for (dw0, why) in cases {
        rig.submit(dw0, 0);
        let cons = rig.smmu.read32(CMDQ_CONS);
        assert_eq!((cons >> CONS_ERR_SHIFT) & 0x7F, 1, "{why}");
        // Skip it Linux-style: overwrite with CMD_SYNC, acknowledge.
        let idx = u64::from(cons & ((1 << CMDQ_LOG2) - 1));
        rig.mem.write_u64(rig.cmdq + idx * 16, CMD_SYNC).unwrap();
        rig.smmu.write32(GERRORN, rig.smmu.read32(GERROR));
        assert_eq!(
            rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF,
            rig.smmu.read32(CMDQ_PROD),
            "{why}: restarted"
        );
    }
    // Every command the driver uses is accepted on the default (full) model.
    let rig = Rig::new();
    for (dw0, dw1) in [
        (0x01u64, 0u64), // PREFETCH_CONFIG
        (0x02, 0),       // PREFETCH_ADDR
        (0x03, 1),       // CFGI_STE
        (0x04, 31),      // CFGI_ALL
        (0x04, 3),       // CFGI_STE_RANGE
        (0x05, 1),       // CFGI_CD
        (0x06, 0),       // CFGI_CD_ALL
        (0x10, 0),       // TLBI_NH_ALL
        (0x11, 0),       // TLBI_NH_ASID
        (0x12, 0x1000),  // TLBI_NH_VA
        (0x13, 0x1000),  // TLBI_NH_VAA
        (0x20, 0),       // TLBI_EL2_ALL
        (0x21, 0),       // TLBI_EL2_ASID
        (0x22, 0x1000),  // TLBI_EL2_VA
        (0x23, 0x1000),  // TLBI_EL2_VAA
        (0x28, 0),       // TLBI_S12_VMALL
        (0x2A, 0x1000),  // TLBI_S2_IPA
        (0x30, 0),       // TLBI_NSNH_ALL
        (0x40, 52),      // ATC_INV
    ] {
        rig.submit(dw0, dw1);
        assert_eq!(
            rig.smmu.read32(CMDQ_CONS),
            rig.smmu.read32(CMDQ_PROD),
            "opcode {dw0:#x} accepted"
        );
    }
    assert_eq!(rig.smmu.stats().atc_invs, 1);
}

#[test]
fn command_fetch_abort_is_cerror_abt_and_retry_works() {
    let rig = Rig::new();
    let prod = rig.smmu.read32(CMDQ_PROD);
    let slot = rig.cmdq + u64::from(prod) * 16;
    rig.mem.inject_read_fault(slot, 16);
    rig.submit(CMD_SYNC, 0);
    let cons = rig.smmu.read32(CMDQ_CONS);
    assert_eq!((cons >> CONS_ERR_SHIFT) & 0x7F, 2, "CERROR_ABT");
    assert_eq!(cons & 0xF_FFFF, prod);
    // Linux retries a CERROR_ABT command as is.
    rig.mem.clear_read_faults();
    rig.smmu.write32(GERRORN, rig.smmu.read32(GERROR));
    assert_eq!(rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF, prod + 1);
}

#[test]
fn cmd_sync_that_never_completes() {
    let rig = Rig::new();
    rig.smmu.inject_cmd_sync_stall(true);
    let prod = rig.smmu.read32(CMDQ_PROD);
    rig.submit(0x30, 0); // TLBI_NSNH_ALL completes
    rig.submit(CMD_SYNC, 0); // never completes
    assert_eq!(rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF, prod + 1);
    rig.smmu.process_commands();
    assert_eq!(rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF, prod + 1);
    rig.smmu.inject_cmd_sync_stall(false);
    rig.smmu.process_commands();
    assert_eq!(rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF, prod + 2);
}

#[test]
fn manual_mode_consumes_only_on_request() {
    let rig = Rig::with_config(ModelConfig::default().cmdq_mode(CmdqMode::Manual));
    rig.submit(CMD_SYNC, 0);
    rig.submit(CMD_SYNC, 0);
    assert_eq!(rig.smmu.read32(CMDQ_CONS), 0);
    rig.smmu.process_commands();
    assert_eq!(rig.smmu.read32(CMDQ_CONS), 2);
}

#[test]
fn no_consumption_while_cmdq_disabled_and_queue_wraps() {
    let rig = Rig::new();
    rig.smmu.write32(CR0, EVENTQEN);
    rig.submit(CMD_SYNC, 0);
    assert_eq!(rig.smmu.read32(CMDQ_CONS), 0);
    rig.smmu.write32(CR0, EVENTQEN | CMDQEN);
    assert_eq!(rig.smmu.read32(CMDQ_CONS), 1, "enabling CMDQEN consumes");
    // Go around the 256-entry ring twice: the wrap bit flips.
    for _ in 0..(2 << CMDQ_LOG2) {
        rig.submit(CMD_SYNC, 0);
    }
    assert_eq!(rig.smmu.read32(CMDQ_CONS), rig.smmu.read32(CMDQ_PROD));
    assert_eq!(rig.smmu.stats().syncs, 1 + (2 << CMDQ_LOG2));
}

#[test]
fn cfgi_ste_range_invalidates_an_aligned_block() {
    let mut rig = Rig::new();
    rig.linear_strtab(4);
    for sid in 0..16 {
        rig.write_ste(sid, STE_BYPASS);
    }
    rig.enable();
    for sid in 0..16 {
        rig.smmu
            .translate(&Transaction::read(sid, 0x1000, 4))
            .unwrap();
    }
    for sid in 0..16 {
        rig.write_ste(sid, STE_ABORT);
    }
    // CFGI_STE_RANGE, SID 5, Range 1: the aligned block of 4 SIDs 4..=7.
    rig.submit(0x04 | 5 << 32, 1);
    rig.sync();
    for sid in 0..16 {
        let aborted = rig
            .smmu
            .translate(&Transaction::read(sid, 0x1000, 4))
            .is_err();
        assert_eq!(aborted, (4..8).contains(&sid), "sid {sid}");
    }
}

#[test]
fn command_log_records_consumed_commands_in_order() {
    use smmu_model::CommandLogEntry;
    use smmu_regs::StreamId;
    use smmu_regs::cmd::Command;

    let rig = Rig::new();
    // Off by default.
    rig.submit(CMD_SYNC, 0);
    assert_eq!(rig.smmu.take_commands(), []);

    rig.smmu.record_commands(true);
    // Words written from spec §4.1–§4.2: CFGI_ALL = CFGI_STE_RANGE (0x04) with Range 31;
    // TLBI_NSNH_ALL (0x30); CFGI_STE (0x03) SID 5 [63:32], Leaf = 1; CMD_SYNC (0x46).
    let submitted = [(0x04, 31), (0x30, 0), (0x03 | 5 << 32, 1), (CMD_SYNC, 0)];
    for (dw0, dw1) in submitted {
        rig.submit(dw0, dw1);
    }
    let log = rig.smmu.take_commands();
    let words: Vec<[u64; 2]> = log.iter().map(|e| e.words).collect();
    assert_eq!(words, submitted.map(|(a, b)| [a, b]));
    let opcodes: Vec<u8> = log.iter().map(CommandLogEntry::opcode).collect();
    assert_eq!(opcodes, [0x04, 0x30, 0x03, 0x46]);
    assert!(log.iter().all(|e| e.error.is_none()));
    assert_eq!(
        log[0].command,
        Some(Command::CfgiSteRange {
            ssec: false,
            sid: StreamId(0),
            range: 31
        })
    );
    assert_eq!(log[1].command, Some(Command::TlbiNsnhAll));
    assert_eq!(
        log[2].command,
        Some(Command::CfgiSte {
            ssec: false,
            sid: StreamId(5),
            leaf: true
        })
    );
    assert!(matches!(log[3].command, Some(Command::Sync { .. })));
    assert_eq!(rig.smmu.take_commands(), [], "taking empties the record");

    // A command the SMMU refuses is logged with its CMDQ_CONS.ERR code; the commands
    // behind it are logged only once they run.
    rig.submit(0x00, 0); // opcode 0: reserved → CERROR_ILL
    rig.submit(0x30, 0);
    let log = rig.smmu.take_commands();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].words, log[0].command, log[0].error),
        ([0, 0], None, Some(1))
    );
    let cons = rig.smmu.read32(CMDQ_CONS) & 0xF_FFFF;
    rig.mem
        .write_u64(rig.cmdq + u64::from(cons) * 16, CMD_SYNC)
        .unwrap();
    rig.smmu.write32(GERRORN, rig.smmu.read32(GERROR));
    let opcodes: Vec<u8> = rig
        .smmu
        .take_commands()
        .iter()
        .map(CommandLogEntry::opcode)
        .collect();
    assert_eq!(opcodes, [0x46, 0x30]);

    // A CMD_SYNC held by fault injection is logged once, when it completes.
    rig.smmu.inject_cmd_sync_stall(true);
    rig.submit(CMD_SYNC, 0);
    rig.smmu.process_commands();
    assert_eq!(rig.smmu.take_commands(), []);
    rig.smmu.inject_cmd_sync_stall(false);
    rig.smmu.process_commands();
    assert_eq!(rig.smmu.take_commands().len(), 1);

    // Stopping keeps what was recorded; nothing more is added.
    rig.submit(0x30, 0);
    rig.smmu.record_commands(false);
    rig.submit(CMD_SYNC, 0);
    let log = rig.smmu.take_commands();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].opcode(), 0x30);
    // Starting again discards an earlier record.
    rig.smmu.record_commands(true);
    rig.submit(0x30, 0);
    rig.smmu.record_commands(true);
    assert_eq!(rig.smmu.take_commands(), []);
}
