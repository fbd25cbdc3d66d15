//! `smmu-qemu-test`: a bare-metal aarch64 program that runs the smmu-rs stack on QEMU's
//! emulated SMMUv3 (`qemu-system-aarch64 -M virt,iommu=smmuv3`) with the `edu` PCI
//! device doing real DMA.
//!
//! Bring-up (this file): boot at EL1 ([`boot`]), find the device tree ([`platform`]), move
//! the console to the PL011 it names ([`console`]), identity-map RAM and devices and turn
//! on the MMU ([`mmu`]), start the bump allocators ([`heap`]), enumerate PCIe through ECAM
//! and set up the edu device ([`pci`], [`edu`]). Then the phase-1 self-test
//! ([`selftest`]), scenario 1 ([`scenario1`]: the driver, through the HAL in [`hal`]) and
//! scenario 2 ([`scenario2`]: kdump adoption of the SMMU a "crashed kernel" left enabled)
//! run their checks, and [`report`] prints the verdict the runner (`run.sh`) reads.
//!
//! See README.md for what each check proves and the QEMU facts it relies on.
#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod console;
mod dma;
mod edu;
mod exit;
mod fdt;
mod hal;
mod heap;
mod mmio;
mod mmu;
mod pci;
mod platform;
mod report;
mod scenario1;
mod scenario2;
mod selftest;
mod time;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::panic::PanicInfo;

use console::println;
use heap::Bump;
use pci::{BarAllocator, Bdf, CMD_BUS_MASTER, CMD_MEMORY, Ecam};
use platform::{PlatformInfo, Range};
use report::Report;

/// The global allocator: a bump allocator over the linker script's heap region.
#[global_allocator]
static HEAP: Bump = Bump::empty();

/// DMA memory of the first (or only) kernel: the linker script's `dma0` region.
pub static DMA0: Bump = Bump::empty();

/// How many equal parts the linker script's `dma1` region is cut into.
pub const DMA1_PARTS: usize = 8;

/// The `dma1` region in [`DMA1_PARTS`] parts (2 MiB each): scenario 2 gives every
/// "kernel" it boots (kernel 1, the kdump kernel, per variant) a part of its own, so a
/// kdump kernel starts on memory the crashed kernel never used.
pub static DMA1: [Bump; DMA1_PARTS] = [const { Bump::empty() }; DMA1_PARTS];

// Symbols defined by link.ld; only their addresses are used.
unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __heap_start: u8;
    static __heap_end: u8;
    static __dma0_start: u8;
    static __dma0_end: u8;
    static __dma1_start: u8;
    static __dma1_end: u8;
}

/// The address of a linker-script symbol.
macro_rules! symbol_addr {
    ($sym:ident) => {
        // Only the address is taken (safe for an extern static); the byte behind it is
        // never read.
        &raw const $sym as usize
    };
}

/// The edu device after PCI set-up.
#[derive(Debug, Clone, Copy)]
pub struct EduFunction {
    /// Where it sits on the bus.
    pub bdf: Bdf,
    /// Its BAR0.
    pub bar0: pci::Bar,
    /// The driver.
    pub dev: edu::Edu,
    /// The StreamID its requester ID maps to, per `iommu-map` (None without an SMMU).
    pub sid: Option<u32>,
    /// The device's `dma_mask` (bus addresses are truncated to it), as the boot arguments
    /// say (`edu.dma_mask=`); QEMU's default (28 bits) when they do not.
    pub dma_mask: u64,
}

/// Everything bring-up found.
#[derive(Clone, Copy)]
pub struct Machine {
    /// The device-tree facts.
    pub info: PlatformInfo,
    /// The SMMU's register frame, if the machine has one.
    pub smmu: Option<mmio::Mmio>,
    /// The edu device.
    pub edu: EduFunction,
}

/// Entered from `_start` at EL1 with a stack and a zeroed `.bss`.
#[unsafe(no_mangle)]
extern "C" fn rust_entry(x0: usize) -> ! {
    let started = time::ticks();
    println!();
    println!("smmu-qemu-test: bare-metal SMMUv3 test on QEMU virt");
    let mut report = Report::new();
    let machine = bring_up(x0, &mut report);
    selftest::run(&machine, &mut report);
    scenario1::run(&machine, &mut report);
    scenario2::run(&machine, &mut report);
    println!("run time: {} ms", time::ms_since(started));
    report.finish()
}

fn current_el() -> u64 {
    let el: u64;
    // SAFETY: reading CurrentEL has no side effects.
    unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    (el >> 2) & 3
}

/// Fails the run at once: bring-up cannot go on.
fn fatal(report: &mut Report, name: &str, detail: core::fmt::Arguments<'_>) -> ! {
    report.check(name, false, detail);
    report.finish()
}

fn bring_up(x0: usize, report: &mut Report) -> Machine {
    let el = current_el();
    report.check("boot-el1", el == 1, format_args!("running at EL{el}"));

    let image = Range {
        base: symbol_addr!(__image_start) as u64,
        size: (symbol_addr!(__image_end) - symbol_addr!(__image_start)) as u64,
    };
    // SAFETY: the MMU is off; x0 is the boot register; the image starts 2 MiB above RAM.
    let info = match unsafe { platform::discover(x0, image.base as usize) } {
        Ok(info) => info,
        Err(e) => fatal(report, "dtb", format_args!("{e:?} (x0 = {x0:#x})")),
    };
    exit::set_psci_conduit(info.psci);
    if let Some(uart) = info.uart.and_then(|u| usize::try_from(u).ok()) {
        // SAFETY: the device tree names a PL011 there; `map_devices` below maps it as
        // Device memory before the MMU is turned on (with the MMU off it is Device anyway).
        unsafe { console::set_base(uart) };
    }
    report.check(
        "dtb",
        true,
        format_args!(
            "{} bytes at {:#x}{}",
            info.dtb_range.size,
            info.dtb_range.base,
            if info.dtb_range.base == x0 as u64 {
                " (from x0)"
            } else {
                " (start of RAM)"
            }
        ),
    );
    print_facts(&info);
    let fits = info.ram.contains_range(image)
        && info.ram.contains_range(info.dtb_range)
        && (info.dtb_range.end() <= image.base || info.dtb_range.base >= image.end());
    report.check(
        "memory-layout",
        fits,
        format_args!(
            "image {:#x}..{:#x} (with stack, heap, DMA regions), DTB {:#x}..{:#x}, RAM {:#x}..{:#x}",
            image.base,
            image.end(),
            info.dtb_range.base,
            info.dtb_range.end(),
            info.ram.base,
            info.ram.end()
        ),
    );
    if !fits {
        report.finish();
    }

    // The identity map: RAM as Normal memory, every device range the program touches as
    // Device memory.
    let mut maps = mmu::map(info.ram.base, info.ram.size, mmu::Kind::Normal);
    let Some(pcie) = info.pcie else {
        fatal(
            report,
            "pcie-host",
            format_args!("no pci-host-ecam-generic node"),
        )
    };
    let console = Range {
        base: info.uart.unwrap_or(console::VIRT_PL011 as u64),
        size: console::PL011_SIZE as u64,
    };
    let devices = [
        Some(console),
        info.smmu.map(|s| s.regs),
        Some(pcie.ecam),
        pcie.mem32.map(|w| Range {
            base: w.cpu_base,
            size: w.size,
        }),
    ];
    for range in devices.iter().flatten() {
        maps = maps.and(mmu::map(range.base, range.size, mmu::Kind::Device));
    }
    if let Err(e) = maps {
        fatal(report, "mmu", format_args!("identity map: {e:?}"));
    }
    // SAFETY: at EL1 with the MMU off; the map covers the image, stack and heap (inside
    // RAM, checked by memory-layout) and every device range used from here on.
    unsafe { mmu::enable() };
    report.check(
        "mmu",
        mmu::enabled(),
        format_args!("identity map on, RAM cacheable"),
    );

    // SAFETY: the linker script reserves these regions inside the image's span (inside
    // RAM, now Normal memory) for the heap and for DMA memory only; the `dma1` parts are
    // disjoint slices of `dma1`; each allocator is initialised once, before any
    // allocation.
    unsafe {
        HEAP.init(symbol_addr!(__heap_start), symbol_addr!(__heap_end));
        DMA0.init(symbol_addr!(__dma0_start), symbol_addr!(__dma0_end));
        let (start, end) = (symbol_addr!(__dma1_start), symbol_addr!(__dma1_end));
        let part = ((end - start) / DMA1_PARTS) & !0xfff;
        for (i, bump) in DMA1.iter().enumerate() {
            bump.init(start + i * part, start + (i + 1) * part);
        }
    }
    check_allocator(report);

    // SAFETY: `pcie.ecam` is the host bridge's ECAM, mapped as Device memory above.
    let Some(ecam) = (unsafe { Ecam::new(&pcie) }) else {
        fatal(
            report,
            "pcie-ecam",
            format_args!("ECAM {:?} does not cover the bus range", pcie.ecam),
        )
    };
    let edu = setup_edu(&ecam, &info, report);
    let smmu = info.smmu.and_then(|s| {
        let base = usize::try_from(s.regs.base).ok()?;
        let len = usize::try_from(s.regs.size).ok()?;
        // SAFETY: the device tree's SMMUv3 register frame, mapped as Device memory above.
        Some(unsafe { mmio::Mmio::new(base, len) })
    });
    Machine { info, smmu, edu }
}

fn print_facts(info: &PlatformInfo) {
    println!("  RAM        {:#x} + {:#x}", info.ram.base, info.ram.size);
    match info.uart {
        Some(uart) => println!("  UART       PL011 at {uart:#x}"),
        None => println!(
            "  UART       not in the DTB, using {:#x}",
            console::VIRT_PL011
        ),
    }
    println!("  PSCI       {:?}", info.psci);
    match &info.pcie {
        Some(p) => {
            println!(
                "  PCIe ECAM  {:#x} + {:#x}, buses {}..={}, dma-coherent {}",
                p.ecam.base, p.ecam.size, p.bus_start, p.bus_end, p.dma_coherent
            );
            println!("  PCI MEM32  {}", WindowText(p.mem32));
            println!("  PCI MEM64  {}", WindowText(p.mem64));
            println!("  PCI I/O    {}", WindowText(p.io));
            for e in p.iommu_map.iter().flatten() {
                println!(
                    "  iommu-map  RID {:#x}+{:#x} -> IOMMU phandle {:#x}, StreamID {:#x}; iommu-map-mask {:#x}",
                    e.rid_base, e.length, e.iommu, e.sid_base, p.iommu_map_mask
                );
            }
        }
        None => println!("  PCIe       none"),
    }
    match &info.smmu {
        Some(s) => println!(
            "  SMMUv3     {:#x} + {:#x}, phandle {:#x}, dma-coherent {}",
            s.regs.base,
            s.regs.size,
            s.phandle.unwrap_or(0),
            s.coherent
        ),
        None => println!("  SMMUv3     none (QEMU without iommu=smmuv3)"),
    }
}

/// A PCI window, printed on one line.
struct WindowText(Option<platform::Window>);

impl core::fmt::Display for WindowText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(w) => write!(
                f,
                "PCI {:#x} = CPU {:#x}, size {:#x}{}",
                w.pci_base,
                w.cpu_base,
                w.size,
                if w.prefetchable { ", prefetchable" } else { "" }
            ),
            None => f.write_str("none"),
        }
    }
}

fn check_allocator(report: &mut Report) {
    let before = HEAP.used();
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1000u64 {
        v.push(i * i);
    }
    let boxed = Box::new([0xa5u8; 100]);
    let sum: u64 = v.iter().sum();
    let ok = sum == 332_833_500 && boxed.iter().all(|&b| b == 0xa5) && HEAP.used() > before;
    let (start, end) = HEAP.region();
    report.check(
        "alloc",
        ok,
        format_args!(
            "bump heap {start:#x}..{end:#x}: Vec and Box work, {} bytes used",
            HEAP.used()
        ),
    );
}

fn setup_edu(ecam: &Ecam, info: &PlatformInfo, report: &mut Report) -> EduFunction {
    let mut found = None;
    println!("  PCI functions on bus {:#x}:", ecam_bus(info));
    ecam.scan(|f| {
        println!(
            "    {} {:04x}:{:04x} class {:06x} header {}",
            f.bdf, f.vendor, f.device, f.class, f.header_type
        );
        if f.vendor == edu::VENDOR && f.device == edu::DEVICE && found.is_none() {
            found = Some(f);
        }
    });
    let Some(func) = found else {
        fatal(
            report,
            "pci-edu-found",
            format_args!("no 1234:11e8 function (pass -device edu)"),
        )
    };
    report.check("pci-edu-found", true, format_args!("edu at {}", func.bdf));

    let Some(window) = info.pcie.and_then(|p| p.mem32) else {
        fatal(report, "pci-bar0", format_args!("no 32-bit memory window"))
    };
    let bars = match BarAllocator::new(window).assign(ecam, func.bdf) {
        Ok(bars) => bars,
        Err(e) => fatal(report, "pci-bar0", format_args!("{e:?}")),
    };
    let Some(bar0) = bars[0].filter(|b| b.size == edu::BAR_SIZE as u64) else {
        fatal(
            report,
            "pci-bar0",
            format_args!("BAR0 missing or not 1 MiB: {:?}", bars[0]),
        )
    };
    ecam.set_command(
        func.bdf,
        ecam.command(func.bdf) | CMD_MEMORY | CMD_BUS_MASTER,
    );
    let command = ecam.command(func.bdf);
    report.check(
        "pci-bar0",
        command & (CMD_MEMORY | CMD_BUS_MASTER) == CMD_MEMORY | CMD_BUS_MASTER,
        format_args!(
            "BAR0 = {:#x} (CPU {:#x}), {:#x} bytes; command {:#06x} (memory + bus master)",
            bar0.pci_addr, bar0.cpu_addr, bar0.size, command
        ),
    );
    let Ok(bar0_cpu) = usize::try_from(bar0.cpu_addr) else {
        fatal(
            report,
            "pci-bar0",
            format_args!("BAR0 beyond the address space"),
        )
    };
    // SAFETY: BAR0 of the edu function was just assigned inside the 32-bit window (mapped
    // as Device memory) and memory decoding is on.
    let dev = unsafe { edu::Edu::new(bar0_cpu) };
    let id = dev.id();
    report.check(
        "edu-id",
        id == edu::ID_VALUE,
        format_args!(
            "identification register {id:#010x}, expected {:#010x}",
            edu::ID_VALUE
        ),
    );
    let probe = 0x1234_5678;
    let back = dev.liveness(probe);
    report.check(
        "edu-liveness",
        back == !probe,
        format_args!("wrote {probe:#010x}, read {back:#010x}"),
    );

    let rid = func.bdf.rid();
    let sid = match (info.pcie, info.smmu) {
        (Some(p), Some(s)) => {
            let mapped = p.rid_to_sid(rid);
            let ok = mapped.is_some_and(|(phandle, _)| Some(phandle) == s.phandle);
            report.check(
                "edu-streamid",
                ok,
                format_args!(
                    "RID {rid:#06x} -> StreamID {:#x} on IOMMU phandle {:#x} (iommu-map)",
                    mapped.map_or(0, |m| m.1),
                    mapped.map_or(0, |m| m.0)
                ),
            );
            mapped.map(|(_, sid)| sid)
        }
        _ => None,
    };
    let dma_mask = info
        .bootarg("edu.dma_mask")
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(edu::DEFAULT_DMA_MASK);
    println!(
        "  edu dma_mask {dma_mask:#x} ({})",
        if info.bootarg("edu.dma_mask").is_some() {
            "from the boot arguments"
        } else {
            "QEMU's default"
        }
    );
    EduFunction {
        bdf: func.bdf,
        bar0,
        dev,
        sid,
        dma_mask,
    }
}

fn ecam_bus(info: &PlatformInfo) -> u8 {
    info.pcie.map_or(0, |p| p.bus_start)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    println!("PANIC: {info}");
    println!("CHECK no-panic: FAIL");
    exit::exit(exit::FAILURE)
}
