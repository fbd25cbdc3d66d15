//! PCIe through the generic ECAM host bridge: configuration access, enumeration of the
//! root bus, BAR sizing and assignment, and the command register.
//!
//! QEMU boots a bare-metal `-kernel` without firmware, so nobody has assigned BARs: the
//! program assigns memory BARs itself from the host bridge's 32-bit memory window. Only
//! the buses the host bridge decodes without bridges are scanned (bus `bus_start`; a
//! device placed behind a root port or bridge with `-device ...,bus=` would need bridge
//! programming, which this program does not do: QEMU puts `-device edu` on bus 0).

use crate::mmio::Mmio;
use crate::platform::{PcieHost, Window};

/// Configuration space offsets used here (type 0 header).
mod cfg {
    pub const VENDOR_DEVICE: usize = 0x00;
    pub const COMMAND: usize = 0x04;
    pub const CLASS_REV: usize = 0x08;
    pub const HEADER: usize = 0x0c;
    pub const BAR0: usize = 0x10;
}

/// Command register: memory space decoding.
pub const CMD_MEMORY: u16 = 1 << 1;
/// Command register: bus master (the device may issue DMA).
pub const CMD_BUS_MASTER: u16 = 1 << 2;

/// Bus / device / function of a PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bdf {
    /// Bus number.
    pub bus: u8,
    /// Device number (0..32).
    pub dev: u8,
    /// Function number (0..8).
    pub func: u8,
}

impl Bdf {
    /// The requester ID the function puts on its DMA: bus in bits 15:8, device in 7:3,
    /// function in 2:0.
    pub fn rid(&self) -> u16 {
        u16::from(self.bus) << 8 | u16::from(self.dev & 0x1f) << 3 | u16::from(self.func & 7)
    }
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

/// A function found by [`Ecam::scan`].
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Where it is.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code (class, subclass, prog-if).
    pub class: u32,
    /// Header type (bit 7 masked off).
    pub header_type: u8,
}

/// The ECAM configuration space of a host bridge.
#[derive(Debug, Clone, Copy)]
pub struct Ecam {
    regs: Mmio,
    bus_start: u8,
    bus_end: u8,
}

impl Ecam {
    /// The ECAM of `host`.
    ///
    /// # Safety
    ///
    /// `host.ecam` is the host bridge's ECAM range, mapped as Device memory.
    pub unsafe fn new(host: &PcieHost) -> Option<Self> {
        let base = usize::try_from(host.ecam.base).ok()?;
        let len = usize::try_from(host.ecam.size).ok()?;
        // The ECAM covers `bus_start ..= bus_end`, 1 MiB per bus.
        let buses = usize::from(host.bus_end.checked_sub(host.bus_start)?) + 1;
        if len < buses << 20 {
            return None;
        }
        Some(Self {
            // SAFETY: the caller guarantees the range is the mapped ECAM.
            regs: unsafe { Mmio::new(base, len) },
            bus_start: host.bus_start,
            bus_end: host.bus_end,
        })
    }

    fn offset(&self, bdf: Bdf, reg: usize) -> Option<usize> {
        let bus = bdf.bus.checked_sub(self.bus_start)?;
        (bdf.bus <= self.bus_end && bdf.dev < 32 && bdf.func < 8 && reg < 4096).then(|| {
            usize::from(bus) << 20 | usize::from(bdf.dev) << 15 | usize::from(bdf.func) << 12 | reg
        })
    }

    /// Reads the 32-bit configuration register `reg` (all ones if out of range).
    pub fn read32(&self, bdf: Bdf, reg: usize) -> u32 {
        self.offset(bdf, reg & !3)
            .map_or(u32::MAX, |off| self.regs.read32(off))
    }

    /// Writes the 32-bit configuration register `reg` (dropped if out of range).
    pub fn write32(&self, bdf: Bdf, reg: usize, value: u32) {
        if let Some(off) = self.offset(bdf, reg & !3) {
            self.regs.write32(off, value);
        }
    }

    /// Every function on the first bus, in device/function order, passed to `found`.
    pub fn scan(&self, mut found: impl FnMut(Function)) {
        let bus = self.bus_start;
        for dev in 0..32 {
            for func in 0..8 {
                let bdf = Bdf { bus, dev, func };
                let id = self.read32(bdf, cfg::VENDOR_DEVICE);
                if id & 0xffff == 0xffff {
                    if func == 0 {
                        break;
                    }
                    continue;
                }
                let header = (self.read32(bdf, cfg::HEADER) >> 16) as u8;
                found(Function {
                    bdf,
                    vendor: id as u16,
                    device: (id >> 16) as u16,
                    class: self.read32(bdf, cfg::CLASS_REV) >> 8,
                    header_type: header & 0x7f,
                });
                if func == 0 && header & 0x80 == 0 {
                    break; // not multi-function
                }
            }
        }
    }

    /// Reads the command register.
    pub fn command(&self, bdf: Bdf) -> u16 {
        self.read32(bdf, cfg::COMMAND) as u16
    }

    /// Writes the command register (the status half of the word is written as zero,
    /// which leaves its write-1-to-clear bits alone).
    pub fn set_command(&self, bdf: Bdf, command: u16) {
        self.write32(bdf, cfg::COMMAND, u32::from(command));
    }
}

/// A memory BAR after assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// BAR index (0..6; a 64-bit BAR also occupies index + 1).
    pub index: usize,
    /// The address programmed into the BAR (PCI bus address).
    pub pci_addr: u64,
    /// Where the CPU reaches it.
    pub cpu_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// 64-bit BAR.
    pub is_64bit: bool,
    /// Prefetchable.
    pub prefetchable: bool,
}

/// Why BAR assignment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// The window is full.
    WindowFull,
}

/// Hands out BAR addresses from a memory window, naturally aligned.
#[derive(Debug, Clone, Copy)]
pub struct BarAllocator {
    window: Window,
    next: u64,
}

impl BarAllocator {
    /// An allocator over `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            next: window.pci_base,
        }
    }

    fn take(&mut self, size: u64) -> Result<u64, BarError> {
        let addr = self
            .next
            .checked_next_multiple_of(size)
            .ok_or(BarError::WindowFull)?;
        let end = addr.checked_add(size).ok_or(BarError::WindowFull)?;
        if end > self.window.pci_base.saturating_add(self.window.size) {
            return Err(BarError::WindowFull);
        }
        self.next = end;
        Ok(addr)
    }

    /// Sizes every memory BAR of `bdf` (with memory decoding off), assigns it an address
    /// from the window and returns the assigned BARs. I/O BARs are left unassigned. 64-bit
    /// BARs get an address below 4 GiB (the window is the 32-bit one).
    pub fn assign(&mut self, ecam: &Ecam, bdf: Bdf) -> Result<[Option<Bar>; 6], BarError> {
        let mut bars = [None; 6];
        let command = ecam.command(bdf);
        ecam.set_command(bdf, command & !(CMD_MEMORY | CMD_BUS_MASTER));
        let mut index = 0;
        let mut result = Ok(());
        while index < 6 {
            let reg = cfg::BAR0 + index * 4;
            let original = ecam.read32(bdf, reg);
            if original & 1 != 0 {
                index += 1; // I/O BAR
                continue;
            }
            let is_64bit = (original >> 1) & 3 == 2 && index < 5;
            ecam.write32(bdf, reg, u32::MAX);
            let low = ecam.read32(bdf, reg) & !0xf;
            let high = if is_64bit {
                ecam.write32(bdf, reg + 4, u32::MAX);
                ecam.read32(bdf, reg + 4)
            } else {
                0
            };
            let mask = u64::from(high) << 32 | u64::from(low);
            let step = if is_64bit { 2 } else { 1 };
            if mask == 0 {
                ecam.write32(bdf, reg, original);
                index += step;
                continue; // unimplemented BAR
            }
            // Sizing: the writable address bits read back as ones; a 32-bit BAR's upper
            // half counts as all ones.
            let full = if is_64bit {
                mask
            } else {
                mask | 0xffff_ffff_0000_0000
            };
            let size = (!full).wrapping_add(1);
            match self.take(size) {
                Ok(pci_addr) => {
                    ecam.write32(bdf, reg, pci_addr as u32 | (original & 0xf));
                    if is_64bit {
                        ecam.write32(bdf, reg + 4, (pci_addr >> 32) as u32);
                    }
                    bars[index] = Some(Bar {
                        index,
                        pci_addr,
                        cpu_addr: pci_addr - self.window.pci_base + self.window.cpu_base,
                        size,
                        is_64bit,
                        prefetchable: original & 8 != 0,
                    });
                }
                Err(e) => {
                    ecam.write32(bdf, reg, original);
                    result = Err(e);
                    break;
                }
            }
            index += step;
        }
        ecam.set_command(bdf, command);
        result.map(|()| bars)
    }
}
