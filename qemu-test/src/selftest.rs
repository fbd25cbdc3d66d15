//! The phase-1 self-test: no SMMU programming beyond GBPA.
//!
//! * Without an SMMU (`-M virt`): edu DMA with bus address = physical address, both
//!   directions, exact lengths and offsets.
//! * With `iommu=smmuv3`: the SMMU's ID registers, its state after reset (disabled), and
//!   the same DMA bypassing the disabled SMMU (SMMU_CR0.SMMUEN = 0: GBPA decides). Then
//!   GBPA.ABORT is set and the effect on DMA observed, and GBPA is restored.

use smmu_regs::caps::Capabilities;
use smmu_regs::regs::{Cr0, Gbpa, offset};

use crate::console::println;
use crate::dma::{DmaBuffer, pattern};
use crate::edu::{self, Edu, EduError};
use crate::mmio::Mmio;
use crate::report::Report;
use crate::time::Deadline;
use crate::{DMA0, Machine};

/// The longest transfer QEMU 7.2's edu accepts: 4095 bytes (see [`edu::USABLE_END`]).
const FULL: usize = edu::USABLE_END as usize;
/// The size of the test buffers: one page.
const PAGE: usize = 4096;

/// Runs the phase-1 checks.
pub fn run(m: &Machine, report: &mut Report) {
    if let Some(smmu) = m.smmu {
        smmu_state(&smmu, report);
    }
    // Identity DMA needs the device to reach the buffers' physical addresses (1 GiB and
    // up); QEMU's default edu dma_mask (28 bits) does not.
    let (dma_start, dma_end) = DMA0.region();
    if (dma_end as u64).saturating_sub(1) & !m.edu.dma_mask != 0 || dma_start == 0 {
        println!(
            "NOTE: DMA with bus address = physical address not run: the edu dma_mask {:#x} \
             does not cover the DMA region {dma_start:#x}..{dma_end:#x}",
            m.edu.dma_mask
        );
        return;
    }
    let what = if m.smmu.is_some() {
        "bypassing the disabled SMMU"
    } else {
        "no IOMMU"
    };
    println!("edu DMA with bus address = physical address ({what}):");
    dma_identity(&m.edu.dev, report);
    if let Some(smmu) = m.smmu {
        gbpa_abort(&smmu, &m.edu.dev, report);
    }
}

fn smmu_state(smmu: &Mmio, report: &mut Report) {
    let caps = Capabilities::from_raw(
        smmu.read32(offset::IDR0),
        smmu.read32(offset::IDR1),
        smmu.read32(offset::IDR3),
        smmu.read32(offset::IDR5),
        smmu.read32(offset::AIDR),
    );
    println!(
        "SMMU: IDR0 {:#010x} IDR1 {:#010x} IDR3 {:#010x} IDR5 {:#010x} IIDR {:#010x} AIDR {:#010x}",
        smmu.read32(offset::IDR0),
        smmu.read32(offset::IDR1),
        smmu.read32(offset::IDR3),
        smmu.read32(offset::IDR5),
        smmu.read32(offset::IIDR),
        smmu.read32(offset::AIDR)
    );
    println!(
        "SMMU: {}, stage1 {}, stage2 {}, 2-level strtab {}, SIDSIZE {}, SSIDSIZE {}, OAS {} bits, \
         CMDQS {}, EVENTQS {}, coherent {}, granules 4K {} 16K {} 64K {}",
        caps.version,
        caps.stage1,
        caps.stage2,
        caps.two_level_strtab,
        caps.sid_bits,
        caps.ssid_bits,
        caps.oas_bits(),
        caps.cmdq_max_log2size,
        caps.eventq_max_log2size,
        caps.coherent,
        caps.gran4k,
        caps.gran16k,
        caps.gran64k
    );
    report.check(
        "smmu-idr",
        caps.version.is_v3() && caps.stage1 && caps.two_level_strtab && caps.gran4k,
        format_args!(
            "{}: stage 1, 2-level stream table and 4 KiB granule offered",
            caps.version
        ),
    );
    let cr0 = Cr0::from_bits_retain(smmu.read32(offset::CR0));
    let cr0ack = Cr0::from_bits_retain(smmu.read32(offset::CR0ACK));
    report.check(
        "smmu-disabled-after-reset",
        !cr0.contains(Cr0::SMMUEN) && !cr0ack.contains(Cr0::SMMUEN),
        format_args!("CR0 {:#x}, CR0ACK {:#x}", cr0.bits(), cr0ack.bits()),
    );
    let gbpa = Gbpa::from(smmu.read32(offset::GBPA));
    report.check(
        "smmu-gbpa-bypass",
        !gbpa.abort() && !gbpa.update(),
        format_args!(
            "GBPA {:#010x}: ABORT = 0, so non-secure streams bypass",
            u32::from(gbpa)
        ),
    );
}

/// Where a transfer failed, for the check detail.
fn dma_result(step: &str, r: Result<(), EduError>) -> Result<(), (&str, EduError)> {
    r.map_err(|e| (step, e))
}

fn dma_identity(edu: &Edu, report: &mut Report) {
    let (Some(src), Some(dst)) = (DmaBuffer::new(&DMA0, PAGE), DmaBuffer::new(&DMA0, PAGE)) else {
        report.check("dma-buffers", false, format_args!("DMA region exhausted"));
        return;
    };
    let reach = src.pa().max(dst.pa()) + PAGE as u64;
    println!(
        "  src {:#x}, dst {:#x} (edu dma_mask must cover {:#x}: the default {:#x} does not)",
        src.pa(),
        dst.pa(),
        reach - 1,
        edu::DEFAULT_DMA_MASK
    );

    // Full buffer: RAM -> edu -> RAM.
    src.fill_pattern(0x3c);
    dst.fill(0);
    // SAFETY: `src` and `dst` are DMA buffers owned here, accessed only by volatile byte
    // accesses; nothing else refers to them. Without an IOMMU the bus address is the PA.
    let transfer = unsafe {
        dma_result("RAM->edu", edu.dma_from_ram(src.pa(), 0, FULL as u64))
            .and_then(|()| dma_result("edu->RAM", edu.dma_to_ram(0, dst.pa(), FULL as u64)))
    };
    let mismatch = dst.first_mismatch(0..FULL, |i| pattern(0x3c, i));
    let beyond = dst.get(FULL);
    report.check(
        "dma-identity-roundtrip",
        transfer.is_ok() && mismatch.is_none() && beyond == 0,
        format_args!(
            "{FULL} bytes RAM {:#x} -> edu 0x40000 -> RAM {:#x}: {transfer:?}, first mismatch \
             {mismatch:?}, byte {FULL} untouched: {}",
            src.pa(),
            dst.pa(),
            beyond == 0
        ),
    );

    // Offsets and a short length: only the addressed bytes move.
    src.fill_pattern(0x5a);
    dst.fill(0xee);
    let (src_off, dev_off, dst_off, len) = (0x10usize, 0x100u64, 0x30usize, 0x200usize);
    // SAFETY: as above.
    let transfer = unsafe {
        dma_result(
            "RAM->edu",
            edu.dma_from_ram(src.pa() + src_off as u64, dev_off, len as u64),
        )
        .and_then(|()| {
            dma_result(
                "edu->RAM",
                edu.dma_to_ram(dev_off, dst.pa() + dst_off as u64, len as u64),
            )
        })
    };
    let moved = dst.first_mismatch(dst_off..dst_off + len, |i| {
        pattern(0x5a, i - dst_off + src_off)
    });
    let untouched = dst
        .first_mismatch(0..dst_off, |_| 0xee)
        .or_else(|| dst.first_mismatch(dst_off + len..PAGE, |_| 0xee));
    report.check(
        "dma-identity-offsets",
        transfer.is_ok() && moved.is_none() && untouched.is_none(),
        format_args!(
            "{len:#x} bytes src+{src_off:#x} -> edu+{dev_off:#x} -> dst+{dst_off:#x}: {transfer:?}, \
             mismatch {moved:?}, bytes outside touched {untouched:?}"
        ),
    );

    // The driver refuses (before QEMU would abort) a range outside the usable buffer,
    // including one ending exactly at its end.
    // SAFETY: the transfers are refused before any register is written.
    let refused = unsafe {
        [
            edu.dma_to_ram(0xf00, dst.pa(), 0x200),
            edu.dma_to_ram(0, dst.pa(), 4096),
        ]
    };
    report.check(
        "edu-range-guard",
        refused.iter().all(|r| *r == Err(EduError::BufferRange)),
        format_args!("edu buffer 0xf00+0x200 and 0+0x1000 refused: {refused:?}"),
    );
}

/// An optional register value, printed as hex or "timeout".
struct Hex(Option<u32>);

impl core::fmt::Display for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(v) => write!(f, "GBPA = {v:#010x}"),
            None => f.write_str("Update never cleared (timeout)"),
        }
    }
}

/// Writes GBPA the architected way (one write with Update = 1) and waits for Update to
/// clear. Returns the value read back, or `None` on timeout.
fn write_gbpa(smmu: &Mmio, value: Gbpa) -> Option<Gbpa> {
    smmu.write32(offset::GBPA, u32::from(value.with_update(true)));
    let deadline = Deadline::after_ms(100);
    loop {
        let now = Gbpa::from(smmu.read32(offset::GBPA));
        if !now.update() {
            return Some(now);
        }
        if deadline.passed() {
            return None;
        }
    }
}

fn gbpa_abort(smmu: &Mmio, edu: &Edu, report: &mut Report) {
    let (Some(src), Some(dst)) = (DmaBuffer::new(&DMA0, PAGE), DmaBuffer::new(&DMA0, PAGE)) else {
        report.check("dma-buffers", false, format_args!("DMA region exhausted"));
        return;
    };
    let original = Gbpa::from(smmu.read32(offset::GBPA));
    println!("SMMU disabled, writing GBPA.ABORT = 1:");
    let written = original.with_abort(true).with_update(true);
    let aborting = write_gbpa(smmu, original.with_abort(true));
    report.check(
        "smmu-gbpa-update-completes",
        aborting.is_some(),
        format_args!(
            "wrote GBPA {:#010x}, Update read back 0: {}",
            u32::from(written),
            Hex(aborting.map(u32::from))
        ),
    );
    let implemented = aborting.is_some_and(|g| g.abort());
    if !implemented {
        println!(
            "DEVIATION: GBPA reads {:#x} after writing {:#010x}: this QEMU does not implement \
             SMMU_GBPA (RAZ/WI; QEMU implements it from 8.0 on). With SMMUEN = 0 every stream bypasses \
             and GBPA.ABORT cannot stop DMA.",
            aborting.map_or(0, u32::from),
            u32::from(written)
        );
    }

    // Write direction: does the device reach RAM while ABORT is (supposedly) set?
    dst.fill(0xcc);
    // SAFETY: the buffers are owned here and only accessed by volatile byte accesses;
    // bus address = PA while the SMMU is disabled.
    let write = unsafe { edu.dma_to_ram(0, dst.pa(), FULL as u64) };
    let landed = dst.first_mismatch(0..FULL, |_| 0xcc).is_some();
    // Read direction: load RAM with a pattern, let the device fetch it, restore GBPA, then
    // look at what the device buffer holds.
    src.fill_pattern(0x77);
    // SAFETY: as above.
    let read = unsafe { edu.dma_from_ram(src.pa(), 0, FULL as u64) };
    let restored = write_gbpa(smmu, original);
    dst.fill(0xcc);
    // SAFETY: as above.
    let fetch = unsafe { edu.dma_to_ram(0, dst.pa(), FULL as u64) };
    let fetched = dst.first_mismatch(0..FULL, |i| pattern(0x77, i)).is_none();
    let transfers = write.is_ok() && read.is_ok() && fetch.is_ok();
    if implemented {
        report.check(
            "smmu-gbpa-abort-blocks-dma",
            transfers && !landed && !fetched,
            format_args!(
                "with GBPA.ABORT: device write to RAM landed {landed}, device read of RAM \
                 delivered the data {fetched}"
            ),
        );
    } else {
        report.check(
            "smmu-gbpa-razwi-bypass",
            transfers && landed && fetched,
            format_args!(
                "GBPA not implemented: DMA bypasses with SMMUEN = 0 whatever was written \
                 (device write landed {landed}, device read delivered the data {fetched})"
            ),
        );
    }
    report.check(
        "smmu-gbpa-restore",
        restored == Some(original),
        format_args!(
            "GBPA back to its reset value: {}",
            Hex(restored.map(u32::from))
        ),
    );

    // Bypass works after the restore.
    src.fill_pattern(0x19);
    dst.fill(0);
    // SAFETY: as above.
    let transfer = unsafe {
        dma_result("RAM->edu", edu.dma_from_ram(src.pa(), 0, FULL as u64))
            .and_then(|()| dma_result("edu->RAM", edu.dma_to_ram(0, dst.pa(), FULL as u64)))
    };
    let mismatch = dst.first_mismatch(0..FULL, |i| pattern(0x19, i));
    report.check(
        "smmu-bypass-after-gbpa-restore",
        transfer.is_ok() && mismatch.is_none(),
        format_args!("roundtrip: {transfer:?}, first mismatch {mismatch:?}"),
    );
}
