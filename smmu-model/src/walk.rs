//! AArch64 (VMSAv8-64) translation-table walks over raw descriptors, for stage 1 and
//! stage 2, with 4 KiB, 16 KiB and 64 KiB granules and up to 48-bit output addresses.
//!
//! The walker is written from the Arm architecture rules (descriptor types per level,
//! block levels per granule, address-size checks, hierarchical table attributes), not
//! from any other project crate.

use crate::mem::PhysMemory;

/// Which translation stage a walk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    S1,
    S2,
}

/// The parameters of one walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalkParams {
    pub(crate) stage: Stage,
    /// log2 of the granule: 12, 14 or 16.
    pub(crate) granule: u32,
    /// Input address size in bits (64 − TxSZ).
    pub(crate) input_bits: u32,
    /// First level of the walk (0..=3).
    pub(crate) start_level: u32,
    /// Base of the start-level table (PA, or IPA when the fetches go through stage 2).
    pub(crate) ttb: u64,
    /// Output (and table) address size in bits, for address-size faults.
    pub(crate) oa_bits: u32,
    /// Ignore hierarchical attributes in table descriptors (CD.HADx).
    pub(crate) had: bool,
}

/// The leaf a walk ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// Output address of the start of the block or page.
    pub(crate) out_base: u64,
    /// log2 of the size of the block or page.
    pub(crate) size_log2: u32,
    /// Attribute bits of the leaf descriptor (bits [11:0] and [63:50]).
    pub(crate) attrs: u64,
    /// Accumulated table attributes: bit 0 APTable[0] (no EL0), bit 1 APTable[1] (no
    /// write), bit 2 UXNTable/XNTable, bit 3 PXNTable.
    pub(crate) table: u8,
}

/// Why a walk failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkError<E> {
    /// Invalid descriptor, block at a level that has none, input out of range.
    Translation,
    /// A table or output address at or above 2^oa_bits.
    AddrSize,
    /// External abort reading a descriptor at this (physical) address.
    Abort(u64),
    /// Translating a table address (through stage 2) failed.
    Nested(E),
}

/// Mask of the address bits [51:0] a descriptor can carry; the walker treats bits
/// [51:48] as part of the address so that stray high bits give address-size faults.
const OA_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// The start level for a stage-1 walk of `input_bits` with granule `granule`.
pub(crate) fn s1_start_level(granule: u32, input_bits: u32) -> u32 {
    let stride = granule - 3;
    let levels = (input_bits.saturating_sub(granule)).div_ceil(stride);
    4u32.saturating_sub(levels)
}

/// Whether a block descriptor is allowed at `level` for `granule` (no 52-bit
/// extensions).
fn block_allowed(granule: u32, level: u32) -> bool {
    match granule {
        12 => level == 1 || level == 2,
        _ => level == 2,
    }
}

/// Walks the tables for `input`. `xlate_table` turns a table address (an IPA in a
/// nested stage-1 walk) into a physical address.
pub(crate) fn walk<E>(
    mem: &PhysMemory,
    p: &WalkParams,
    input: u64,
    mut xlate_table: impl FnMut(u64) -> Result<u64, E>,
) -> Result<Leaf, WalkError<E>> {
    let g = p.granule;
    let stride = g - 3;
    if p.start_level > 3 || p.input_bits > 52 || p.input_bits <= g {
        return Err(WalkError::Translation);
    }
    if p.input_bits < 64 && input >> p.input_bits != 0 {
        return Err(WalkError::Translation);
    }
    let start_shift = g + (3 - p.start_level) * stride;
    let start_bits = p.input_bits.saturating_sub(start_shift).max(1);
    // The start table is aligned to its size (at least 8 bytes); lower TTB bits are
    // treated as zero.
    let align = 1u64 << (start_bits + 3).min(63);
    let mut table = p.ttb & !(align - 1);
    let mut tattr = 0u8;
    let oa_limit = 1u64 << p.oa_bits.min(63);
    for level in p.start_level..=3 {
        let shift = g + (3 - level) * stride;
        let bits = if level == p.start_level {
            start_bits
        } else {
            stride
        };
        let idx = (input >> shift) & ((1u64 << bits) - 1);
        let desc_addr = xlate_table(table + idx * 8).map_err(WalkError::Nested)?;
        let desc = match mem.read_u64(desc_addr) {
            Ok(d) => d,
            Err(_) => {
                return Err(WalkError::Abort(desc_addr));
            }
        };
        if desc & 1 == 0 {
            return Err(WalkError::Translation);
        }
        let is_table_or_page = desc & 2 != 0;
        if level < 3 && is_table_or_page {
            let next = desc & OA_MASK & !((1u64 << g) - 1);
            if next >= oa_limit {
                return Err(WalkError::AddrSize);
            }
            if p.stage == Stage::S1 && !p.had {
                tattr |= ((desc >> 61) & 3) as u8; // APTable
                tattr |= (((desc >> 60) & 1) as u8) << 2; // UXNTable / XNTable
                tattr |= (((desc >> 59) & 1) as u8) << 3; // PXNTable
            }
            table = next;
            continue;
        }
        if level == 3 && !is_table_or_page {
            return Err(WalkError::Translation);
        }
        if level < 3 && !block_allowed(g, level) {
            return Err(WalkError::Translation);
        }
        let out = desc & OA_MASK & !((1u64 << shift) - 1);
        if out >= oa_limit {
            return Err(WalkError::AddrSize);
        }
        return Ok(Leaf {
            out_base: out,
            size_log2: shift,
            attrs: desc & 0xFFFC_0000_0000_0FFF,
            table: tattr,
        });
    }
    Err(WalkError::Translation)
}

/// Translation regime of a stage-1 walk, which decides how AP bits are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Regime {
    /// NS-EL1 (EL1&0) or NS-EL2-E2H (EL2&0): AP[1] gives EL0 access, UXN/PXN.
    El10,
    /// NS-EL2 without E2H: a single privilege level, XN at bit 54.
    El2,
}

/// The access being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccessKind {
    pub(crate) write: bool,
    pub(crate) privileged: bool,
    pub(crate) instruction: bool,
}

/// Stage-1 controls from the CD that affect permission checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct S1Controls {
    pub(crate) regime: Regime,
    pub(crate) affd: bool,
    pub(crate) wxn: bool,
    pub(crate) pan: bool,
}

/// Result of a permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PermFault {
    Access,
    Permission,
}

/// Checks a stage-1 leaf (access flag first, then permissions).
pub(crate) fn s1_check(
    attrs: u64,
    table: u8,
    c: &S1Controls,
    a: AccessKind,
) -> Result<(), PermFault> {
    let af = attrs & (1 << 10) != 0;
    if !af && !c.affd {
        return Err(PermFault::Access);
    }
    let ap1 = attrs & (1 << 6) != 0; // AP[1]: EL0 access
    let ap2 = attrs & (1 << 7) != 0; // AP[2]: read-only
    let read_only = ap2 || table & 2 != 0;
    match c.regime {
        Regime::El2 => {
            let xn = attrs & (1 << 54) != 0 || table & 4 != 0;
            if a.write && read_only {
                return Err(PermFault::Permission);
            }
            if a.instruction && !a.write && (xn || (c.wxn && !read_only)) {
                return Err(PermFault::Permission);
            }
            Ok(())
        }
        Regime::El10 => {
            let el0 = ap1 && table & 1 == 0;
            let uxn = attrs & (1 << 54) != 0 || table & 4 != 0;
            let pxn = attrs & (1 << 53) != 0 || table & 8 != 0;
            let writable = !read_only;
            if !a.privileged && !el0 {
                return Err(PermFault::Permission);
            }
            if a.write && read_only {
                return Err(PermFault::Permission);
            }
            if a.instruction && !a.write {
                let no_exec = if a.privileged {
                    // Memory writable at EL0 is never privileged-executable.
                    pxn || (el0 && writable) || (c.wxn && writable)
                } else {
                    uxn || (c.wxn && writable)
                };
                if no_exec {
                    return Err(PermFault::Permission);
                }
            } else if a.privileged && c.pan && el0 {
                return Err(PermFault::Permission);
            }
            Ok(())
        }
    }
}

/// Checks a stage-2 leaf (access flag first, then S2AP / XN).
pub(crate) fn s2_check(attrs: u64, affd: bool, a: AccessKind) -> Result<(), PermFault> {
    if attrs & (1 << 10) == 0 && !affd {
        return Err(PermFault::Access);
    }
    let can_read = attrs & (1 << 6) != 0;
    let can_write = attrs & (1 << 7) != 0;
    let xn = attrs & (1 << 54) != 0;
    let ok = if a.write {
        can_write
    } else if a.instruction {
        can_read && !xn
    } else {
        can_read
    };
    if ok {
        Ok(())
    } else {
        Err(PermFault::Permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::RegionKind;

    const BASE: u64 = 0x4000_0000;

    fn mem() -> PhysMemory {
        let m = PhysMemory::new();
        m.add_region(BASE, 0x10_0000, RegionKind::Ram).unwrap();
        m
    }

    fn ident(a: u64) -> Result<u64, ()> {
        Ok(a)
    }

    fn p4k(ttb: u64, bits: u32) -> WalkParams {
        WalkParams {
            stage: Stage::S1,
            granule: 12,
            input_bits: bits,
            start_level: s1_start_level(12, bits),
            ttb,
            oa_bits: 48,
            had: false,
        }
    }

    #[test]
    fn start_levels() {
        assert_eq!(s1_start_level(12, 48), 0);
        assert_eq!(s1_start_level(12, 39), 1);
        assert_eq!(s1_start_level(12, 30), 2);
        assert_eq!(s1_start_level(16, 48), 1);
        assert_eq!(s1_start_level(16, 42), 2);
        assert_eq!(s1_start_level(14, 48), 0);
        assert_eq!(s1_start_level(14, 47), 1);
    }

    #[test]
    fn four_level_4k_walk() {
        let m = mem();
        // L0 @ BASE, L1 @ BASE+0x1000, L2 @ +0x2000, L3 @ +0x3000.
        let va = 0x0000_0012_3456_7000u64;
        let i0 = (va >> 39) & 0x1FF;
        let i1 = (va >> 30) & 0x1FF;
        let i2 = (va >> 21) & 0x1FF;
        let i3 = (va >> 12) & 0x1FF;
        m.write_u64(BASE + i0 * 8, (BASE + 0x1000) | 3).unwrap();
        m.write_u64(BASE + 0x1000 + i1 * 8, (BASE + 0x2000) | 3)
            .unwrap();
        m.write_u64(BASE + 0x2000 + i2 * 8, (BASE + 0x3000) | 3)
            .unwrap();
        m.write_u64(BASE + 0x3000 + i3 * 8, 0x8_0000_0000 | 0x400 | 3)
            .unwrap();
        let leaf = walk(&m, &p4k(BASE, 48), va | 0x123, ident).unwrap();
        assert_eq!(leaf.out_base, 0x8_0000_0000);
        assert_eq!(leaf.size_log2, 12);
        // A 2 MiB block at level 2 instead.
        m.write_u64(BASE + 0x2000 + i2 * 8, 0x8_0020_0000 | 0x400 | 1)
            .unwrap();
        let leaf = walk(&m, &p4k(BASE, 48), va, ident).unwrap();
        assert_eq!(leaf.out_base, 0x8_0020_0000);
        assert_eq!(leaf.size_log2, 21);
        // Input above the region size.
        assert_eq!(
            walk(&m, &p4k(BASE, 39), 1 << 40, ident),
            Err(WalkError::Translation)
        );
        // A block at level 0 is not allowed with 4K.
        m.write_u64(BASE + i0 * 8, 1).unwrap();
        assert_eq!(
            walk(&m, &p4k(BASE, 48), va, ident),
            Err(WalkError::Translation)
        );
        // Table pointing outside RAM.
        m.write_u64(BASE + i0 * 8, 0x7000_0000 | 3).unwrap();
        assert_eq!(
            walk(&m, &p4k(BASE, 48), va, ident),
            Err(WalkError::Abort(0x7000_0000 + i1 * 8))
        );
        // Output above the OAS.
        m.write_u64(BASE + i0 * 8, (BASE + 0x1000) | 3).unwrap();
        m.write_u64(BASE + 0x2000 + i2 * 8, (1u64 << 44) | 0x400 | 1)
            .unwrap();
        let mut p = p4k(BASE, 48);
        p.oa_bits = 40;
        assert_eq!(walk(&m, &p, va, ident), Err(WalkError::AddrSize));
    }

    #[test]
    fn level3_block_encoding_is_invalid() {
        let m = mem();
        // 39-bit VA starts at level 1.
        m.write_u64(BASE, (BASE + 0x1000) | 3).unwrap();
        m.write_u64(BASE + 0x1000, (BASE + 0x2000) | 3).unwrap();
        m.write_u64(BASE + 0x2000, 0x9000_0000 | 1).unwrap();
        assert_eq!(
            walk(&m, &p4k(BASE, 39), 0, ident),
            Err(WalkError::Translation)
        );
    }

    #[test]
    fn granule_64k_two_levels() {
        let m = mem();
        // 42-bit input, 64K granule: start level 2 (13 bits) then level 3.
        let p = WalkParams {
            stage: Stage::S2,
            granule: 16,
            input_bits: 42,
            start_level: 2,
            ttb: BASE,
            oa_bits: 48,
            had: false,
        };
        let ipa = 0x123_4567_0000u64 & ((1 << 42) - 1);
        let i2 = (ipa >> 29) & 0x1FFF;
        let i3 = (ipa >> 16) & 0x1FFF;
        m.write_u64(BASE + i2 * 8, (BASE + 0x10000) | 3).unwrap();
        m.write_u64(BASE + 0x10000 + i3 * 8, 0xA_0000_0000 | 0x4C0 | 3)
            .unwrap();
        let leaf = walk(&m, &p, ipa | 0xABC, ident).unwrap();
        assert_eq!(leaf.out_base, 0xA_0000_0000);
        assert_eq!(leaf.size_log2, 16);
    }

    #[test]
    fn permissions() {
        let el1 = S1Controls {
            regime: Regime::El10,
            affd: false,
            wxn: false,
            pan: false,
        };
        let rd = AccessKind {
            write: false,
            privileged: false,
            instruction: false,
        };
        let wr = AccessKind { write: true, ..rd };
        let prd = AccessKind {
            privileged: true,
            ..rd
        };
        let af = 1 << 10;
        // AP = 0b01: RW at EL0.
        assert_eq!(s1_check(af | 0x40, 0, &el1, wr), Ok(()));
        // AF = 0.
        assert_eq!(s1_check(0x40, 0, &el1, rd), Err(PermFault::Access));
        // AP = 0b11: read-only.
        assert_eq!(s1_check(af | 0xC0, 0, &el1, wr), Err(PermFault::Permission));
        // AP = 0b00: no EL0.
        assert_eq!(s1_check(af, 0, &el1, rd), Err(PermFault::Permission));
        assert_eq!(s1_check(af, 0, &el1, prd), Ok(()));
        // APTable[1] makes it read-only.
        assert_eq!(s1_check(af | 0x40, 2, &el1, wr), Err(PermFault::Permission));
        // PAN blocks privileged data access to EL0 memory.
        let pan = S1Controls { pan: true, ..el1 };
        assert_eq!(
            s1_check(af | 0x40, 0, &pan, prd),
            Err(PermFault::Permission)
        );
        // Stage 2.
        assert_eq!(s2_check(af | 0x40, false, rd), Ok(()));
        assert_eq!(s2_check(af | 0x40, false, wr), Err(PermFault::Permission));
        assert_eq!(s2_check(0xC0, false, rd), Err(PermFault::Access));
        assert_eq!(s2_check(0xC0, true, wr), Ok(()));
    }
}
