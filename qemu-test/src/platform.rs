//! What the program learns from the device tree QEMU generates for `virt`.
//!
//! Where the DTB is: QEMU passes it in x0 only for a Linux-style boot; for a bare-metal
//! ELF loaded with `-kernel` it writes the blob to the start of RAM (0x4000_0000 on
//! `virt`, documented in QEMU's `docs/system/arm/virt.rst`) and leaves x0 = 0. The program
//! accepts a valid blob in x0 and otherwise looks at the start of RAM.
//!
//! Facts taken from the tree (values on QEMU 7.2 `-M virt,iommu=smmuv3 -m 512M`):
//!
//! | fact | node / property | QEMU 7.2 value |
//! |---|---|---|
//! | RAM | `/memory@40000000` `reg` | 0x4000_0000, 512 MiB |
//! | console | `/chosen` `stdout-path` → `pl011@9000000` `reg` | 0x0900_0000 |
//! | PSCI conduit | `/psci` `method` | `hvc` |
//! | ECAM | `pci-host-ecam-generic` `reg` | 0x40_1000_0000, 256 MiB (high ECAM) |
//! | PCI windows | same node, `ranges` | I/O 0x3eff_0000 (64 KiB), MEM32 0x1000_0000 (0x2eff_0000), MEM64 0x80_0000_0000 |
//! | RID → StreamID | same node, `iommu-map` (`iommu-map-mask` absent) | `<0 &smmu 0 0x10000>`: StreamID = RID |
//! | SMMU | `arm,smmu-v3` `reg`, `dma-coherent` | 0x0905_0000, 128 KiB, coherent |
//! | edu `dma_mask` | `/chosen` `bootargs` (`-append "edu.dma_mask=0x..."`) | what the runner passed to `-device edu` |

use crate::exit::Conduit;
use crate::fdt::{Fdt, Node, read_cells};

/// Start of RAM on QEMU's `virt` machine, where QEMU leaves the DTB for a bare-metal ELF.
pub const VIRT_RAM_BASE: usize = 0x4000_0000;

/// A physical address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Range {
    /// One past the last address (saturating).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains_range(&self, other: Range) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }
}

/// A PCI address window of the host bridge (`ranges` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Address on the PCI bus (what a BAR holds).
    pub pci_base: u64,
    /// Address the CPU uses.
    pub cpu_base: u64,
    /// Length in bytes.
    pub size: u64,
    /// The prefetchable bit of the entry.
    pub prefetchable: bool,
}

/// One `iommu-map` entry: RIDs `rid_base .. rid_base + length` map to StreamIDs from
/// `sid_base` on the IOMMU `iommu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IommuMapEntry {
    /// First requester ID.
    pub rid_base: u32,
    /// Phandle of the IOMMU.
    pub iommu: u32,
    /// StreamID of `rid_base`.
    pub sid_base: u32,
    /// Number of RIDs.
    pub length: u32,
}

/// Most `iommu-map` entries kept.
pub const MAX_IOMMU_MAP: usize = 8;

/// The generic ECAM PCIe host bridge (`pci-host-ecam-generic`).
#[derive(Debug, Clone, Copy)]
pub struct PcieHost {
    /// The ECAM configuration space.
    pub ecam: Range,
    /// First bus number (`bus-range`).
    pub bus_start: u8,
    /// Last bus number.
    pub bus_end: u8,
    /// The I/O space window.
    pub io: Option<Window>,
    /// The 32-bit memory window.
    pub mem32: Option<Window>,
    /// The 64-bit memory window.
    pub mem64: Option<Window>,
    /// `dma-coherent`.
    pub dma_coherent: bool,
    /// `iommu-map` entries.
    pub iommu_map: [Option<IommuMapEntry>; MAX_IOMMU_MAP],
    /// `iommu-map-mask` (all ones when absent).
    pub iommu_map_mask: u32,
}

impl PcieHost {
    /// Translates a requester ID into (IOMMU phandle, StreamID) through `iommu-map`, as
    /// the device-tree binding `pci/pci-iommu.yaml` defines it.
    pub fn rid_to_sid(&self, rid: u16) -> Option<(u32, u32)> {
        let rid = u32::from(rid) & self.iommu_map_mask;
        self.iommu_map.iter().flatten().find_map(|e| {
            let offset = rid.checked_sub(e.rid_base)?;
            (offset < e.length).then(|| (e.iommu, e.sid_base.wrapping_add(offset)))
        })
    }
}

/// The SMMUv3 node (`arm,smmu-v3`).
#[derive(Debug, Clone, Copy)]
pub struct SmmuNode {
    /// The register frame (page 0 and page 1).
    pub regs: Range,
    /// Its phandle (what `iommu-map` refers to).
    pub phandle: Option<u32>,
    /// `dma-coherent`.
    pub coherent: bool,
}

/// Everything the program takes from the device tree.
#[derive(Clone, Copy)]
pub struct PlatformInfo {
    /// The blob itself.
    pub dtb: Fdt<'static>,
    /// Where the blob lies.
    pub dtb_range: Range,
    /// The first RAM range of `/memory`.
    pub ram: Range,
    /// The console PL011 base.
    pub uart: Option<u64>,
    /// PSCI conduit.
    pub psci: Option<Conduit>,
    /// The PCIe host bridge.
    pub pcie: Option<PcieHost>,
    /// The SMMUv3.
    pub smmu: Option<SmmuNode>,
    /// `/chosen/bootargs` (QEMU `-append`).
    pub bootargs: Option<&'static str>,
}

impl PlatformInfo {
    /// The value of `key=value` in the boot arguments.
    pub fn bootarg(&self, key: &str) -> Option<&'static str> {
        self.bootargs?
            .split_ascii_whitespace()
            .find_map(|arg| arg.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Why the device tree could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// No valid blob in x0 nor at the start of RAM.
    NoDtb,
    /// The tree has no usable `/memory` node.
    NoMemory,
}

/// Finds and parses the device tree: `x0` first (Linux-style boot), then the start of RAM.
///
/// # Safety
///
/// The MMU is off or maps RAM; `x0` is the value the boot loader left in x0. The memory
/// at the start of RAM is not used by the program except as the DTB (the linker script
/// starts the image 2 MiB above it).
pub unsafe fn discover(x0: usize, image_start: usize) -> Result<PlatformInfo, PlatformError> {
    // A pointer in x0 is only probed if it lies in RAM below the image: reading an
    // arbitrary address could fault.
    let from_x0 = (x0.is_multiple_of(8) && (VIRT_RAM_BASE..image_start).contains(&x0))
        .then(|| {
            // SAFETY: x0 points into RAM below the image, readable; `from_ptr` only
            // reads the header, then `totalsize` bytes if the magic is present.
            unsafe { Fdt::from_ptr(x0 as *const u8) }.ok()
        })
        .flatten();
    let (dtb, addr) = match from_x0 {
        Some(dtb) => (dtb, x0),
        None => {
            // SAFETY: the start of RAM holds QEMU's DTB for a bare-metal boot, and the
            // image does not overlap it (checked by `main` against `totalsize`).
            let dtb = unsafe { Fdt::from_ptr(VIRT_RAM_BASE as *const u8) }
                .map_err(|_| PlatformError::NoDtb)?;
            (dtb, VIRT_RAM_BASE)
        }
    };
    let dtb_range = Range {
        base: addr as u64,
        size: dtb.totalsize() as u64,
    };
    let ram = dtb
        .nodes()
        .filter(|n| n.prop_str("device_type") == Some("memory"))
        .find_map(|n| n.reg().next())
        .map(|(base, size)| Range { base, size })
        .ok_or(PlatformError::NoMemory)?;
    let uart = dtb
        .find_path("/chosen")
        .and_then(|c| c.prop_str("stdout-path"))
        .and_then(|path| dtb.find_path(path.split(':').next().unwrap_or(path)))
        .or_else(|| dtb.find_compatible("arm,pl011"))
        .and_then(|n| n.reg().next())
        .map(|(base, _)| base);
    let psci = dtb
        .find_path("/psci")
        .and_then(|n| n.prop_str("method"))
        .and_then(|m| match m {
            "hvc" => Some(Conduit::Hvc),
            "smc" => Some(Conduit::Smc),
            _ => None,
        });
    let pcie = dtb
        .find_compatible("pci-host-ecam-generic")
        .and_then(pcie_host);
    let smmu = dtb.find_compatible("arm,smmu-v3").and_then(|n| {
        let (base, size) = n.reg().next()?;
        Some(SmmuNode {
            regs: Range { base, size },
            phandle: n.prop_u32("phandle"),
            coherent: n.prop("dma-coherent").is_some(),
        })
    });
    let bootargs = dtb
        .find_path("/chosen")
        .and_then(|c| c.prop_str("bootargs"));
    Ok(PlatformInfo {
        dtb,
        dtb_range,
        ram,
        uart,
        psci,
        pcie,
        smmu,
        bootargs,
    })
}

fn pcie_host(node: Node<'_>) -> Option<PcieHost> {
    let (base, size) = node.reg().next()?;
    let (bus_start, bus_end) = match node.prop("bus-range") {
        Some(v) => (
            u8::try_from(read_cells(v, 1)?).ok()?,
            u8::try_from(read_cells(v.get(4..)?, 1)?).ok()?,
        ),
        None => (0, 255),
    };
    let mut host = PcieHost {
        ecam: Range { base, size },
        bus_start,
        bus_end,
        io: None,
        mem32: None,
        mem64: None,
        dma_coherent: node.prop("dma-coherent").is_some(),
        iommu_map: [None; MAX_IOMMU_MAP],
        iommu_map_mask: node.prop_u32("iommu-map-mask").unwrap_or(u32::MAX),
    };
    // ranges: <pci address (3 cells)> <cpu address (parent's #address-cells)> <size
    // (this node's #size-cells)>. phys.hi bits 25:24 are the space code, bit 30 the
    // prefetchable flag.
    let ranges = node.prop("ranges").unwrap_or(&[]);
    let parent_cells = node.parent_cells.address as usize;
    let size_cells = node.cells.size as usize;
    let stride = (3 + parent_cells + size_cells) * 4;
    for entry in ranges.chunks_exact(stride) {
        let hi = read_cells(entry, 1)?;
        let pci_base = read_cells(entry.get(4..)?, 2)?;
        let cpu_base = read_cells(entry.get(12..)?, node.parent_cells.address)?;
        let size = read_cells(entry.get((3 + parent_cells) * 4..)?, node.cells.size)?;
        let window = Window {
            pci_base,
            cpu_base,
            size,
            prefetchable: hi & (1 << 30) != 0,
        };
        match (hi >> 24) & 3 {
            1 => host.io = Some(window),
            2 => host.mem32 = Some(window),
            3 => host.mem64 = Some(window),
            _ => {}
        }
    }
    // iommu-map: <rid-base iommu-phandle iommu-base length>, one cell each.
    let map = node.prop("iommu-map").unwrap_or(&[]);
    for (slot, entry) in host.iommu_map.iter_mut().zip(map.chunks_exact(16)) {
        let cell = |i: usize| {
            entry
                .get(i * 4..)
                .and_then(|c| read_cells(c, 1))
                .and_then(|v| u32::try_from(v).ok())
        };
        *slot = Some(IommuMapEntry {
            rid_base: cell(0)?,
            iommu: cell(1)?,
            sid_base: cell(2)?,
            length: cell(3)?,
        });
    }
    Some(host)
}
