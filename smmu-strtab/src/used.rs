//! "Used bits" and "update-safe bits" of STEs and CDs (spec smmuv3.md §8.1, 2025 rules).
//!
//! `used(entry)` is, per 64-bit word, the mask of bits the SMMU reads for that entry;
//! `update_safe(cur, target)` the bits that may change while the entry is live without
//! breaking translation. The entry writer ([`EntrySlot::write`](crate::EntrySlot::write))
//! sequences an update from these two functions.

use smmu_regs::FieldPos;

use crate::regs::{self, cd, ste};

/// Sets the bits of every field in `fields` in `used`.
fn mark(used: &mut [u64; 8], fields: &[FieldPos]) {
    for f in fields {
        if let Some(w) = used.get_mut(f.word) {
            *w |= f.mask();
        }
    }
}

/// The per-word masks of `fields`, at compile time (fields outside the 8 words have no
/// bits, as in [`mark`]).
const fn masks(fields: &[FieldPos]) -> [u64; 8] {
    let mut m = [0u64; 8];
    let mut i = 0;
    while i < fields.len() {
        let f = fields[i];
        if f.word < 8 {
            m[f.word] |= f.mask();
        }
        i += 1;
    }
    m
}

/// ORs `mask` into `used`, word by word.
#[inline]
fn add(used: &mut [u64; 8], mask: &[u64; 8]) {
    for (u, m) in used.iter_mut().zip(mask) {
        *u |= m;
    }
}

/// STE bits used in every entry.
const STE_ALWAYS: [u64; 8] = masks(&[ste::V]);
/// STE bits used when V = 1.
const STE_VALID: [u64; 8] = masks(&[ste::CONFIG]);
/// STE bits used with stage 1 (Config bit 0).
const STE_S1: [u64; 8] = masks(&[
    ste::S1FMT,
    ste::S1_CONTEXT_PTR,
    ste::S1CDMAX,
    ste::S1DSS,
    ste::S1CIR,
    ste::S1COR,
    ste::S1CSH,
    ste::S1STALLD,
    ste::STRW,
    ste::EATS,
    ste::MEV,
    ste::S2VMID,
]);
/// STE bits used with stage 2 (Config bit 1).
const STE_S2: [u64; 8] = masks(&[
    ste::S2FWB,
    ste::EATS,
    ste::SHCFG,
    ste::MEV,
    ste::S2VMID,
    ste::S2T0SZ,
    ste::S2SL0,
    ste::S2IR0,
    ste::S2OR0,
    ste::S2SH0,
    ste::S2TG,
    ste::S2PS,
    ste::S2AA64,
    ste::S2ENDI,
    ste::S2PTW,
    ste::S2S,
    ste::S2R,
    ste::S2TTB,
]);
/// SHCFG (stage 1 with S1DSS = bypass, or Config = bypass).
const STE_SHCFG: [u64; 8] = masks(&[ste::SHCFG]);

/// Reads a field of an entry (0 if the field's word is out of range, which the field
/// tables never produce).
#[inline]
fn field(entry: &[u64; 8], f: FieldPos) -> u64 {
    entry.get(f.word).map_or(0, |&w| f.get(w))
}

/// The bits of each word of `ste` that the SMMU uses (spec §8.1, STE table):
///
/// | condition | used |
/// |---|---|
/// | always | V |
/// | V = 1 | Config |
/// | Config bit 0 (stage 1) | S1Fmt, S1ContextPtr, S1CDMax, S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, STRW, EATS, MEV, S2VMID; SHCFG when S1DSS = bypass |
/// | Config bit 1 (stage 2) | S2FWB, EATS, SHCFG, MEV, S2VMID, dw2\[50:32\] (VTCR), S2AA64, S2ENDI, S2PTW, S2S, S2R, S2TTB |
/// | Config = bypass | SHCFG |
#[must_use]
pub fn ste_used(ste: &[u64; 8]) -> [u64; 8] {
    let mut used = STE_ALWAYS;
    if field(ste, ste::V) == 0 {
        return used;
    }
    add(&mut used, &STE_VALID);
    let config = field(ste, ste::CONFIG);
    if config & 0b001 != 0 {
        add(&mut used, &STE_S1);
        if field(ste, ste::S1DSS) == regs::S1DSS_BYPASS {
            add(&mut used, &STE_SHCFG);
        }
    }
    if config & 0b010 != 0 {
        add(&mut used, &STE_S2);
    }
    if config == regs::CONFIG_BYPASS {
        add(&mut used, &STE_SHCFG);
    }
    used
}

/// The STE bits that may change while the entry is live (spec §8.1, 2025 rules):
///
/// * MEV always (it only changes how many fault events are merged);
/// * the "full ATS" bit of EATS (EATS\[0\]), unless either entry has EATS\[1\] set
///   (split-stage S1CHK, or the 0b11 encoding) or S2S = 1.
///
/// The writer counts a safe bit only where both the current and the target entry use it.
#[must_use]
pub fn ste_update_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8] {
    let mut safe = [0u64; 8];
    mark(&mut safe, &[ste::MEV]);
    let s1chk = (field(cur, ste::EATS) | field(target, ste::EATS)) & regs::EATS_S1CHK_BIT != 0;
    let s2s = (field(cur, ste::S2S) | field(target, ste::S2S)) != 0;
    if !s1chk
        && !s2s
        && let Some(w) = safe.get_mut(ste::EATS.word)
    {
        *w |= ste::EATS.set(0, regs::EATS_TRANS);
    }
    safe
}

/// The bits of each word of `cd` that the SMMU uses (spec §8.1, CD table): only V when
/// V = 0; every bit when V = 1, except T0SZ, TG0, IR0, OR0, SH0 and TTB0 when EPD0 = 1.
#[must_use]
pub fn cd_used(cd: &[u64; 8]) -> [u64; 8] {
    let mut used = [0u64; 8];
    mark(&mut used, &[cd::V]);
    if field(cd, cd::V) == 0 {
        return used;
    }
    used = [u64::MAX; 8];
    if field(cd, cd::EPD0) != 0 {
        for f in [cd::T0SZ, cd::TG0, cd::IR0, cd::OR0, cd::SH0, cd::TTB0] {
            if let Some(w) = used.get_mut(f.word) {
                *w &= !f.mask();
            }
        }
    }
    used
}

/// The CD bits that may change while the entry is live: none (spec §8.1).
#[must_use]
pub const fn cd_update_safe(_cur: &[u64; 8], _target: &[u64; 8]) -> [u64; 8] {
    [0; 8]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected masks written from the spec tables' bit numbers, not from the field tables.
    #[test]
    fn ste_used_by_config() {
        // V = 0: only V.
        assert_eq!(
            ste_used(&[0x8, 0xffff, 0, 0, 0, 0, 0, 0]),
            [1, 0, 0, 0, 0, 0, 0, 0]
        );
        // Abort: V and Config.
        assert_eq!(
            ste_used(&[0x1, 0, 0, 0, 0, 0, 0, 0]),
            [0xf, 0, 0, 0, 0, 0, 0, 0]
        );
        // Bypass: + SHCFG dw1[45:44].
        assert_eq!(
            ste_used(&[0x9, 0, 0, 0, 0, 0, 0, 0]),
            [0xf, 3 << 44, 0, 0, 0, 0, 0, 0]
        );
        // Stage 1, S1DSS = terminate.
        let s1_dw0 = 0xf | (0b11 << 4) | (((1u64 << 50) - 1) << 6) | (0x1f << 59);
        let s1_dw1 = 0xff | (1 << 19) | (1 << 27) | (0b11 << 28) | (0b11 << 30);
        assert_eq!(
            ste_used(&[0xb, 0, 0, 0, 0, 0, 0, 0]),
            [s1_dw0, s1_dw1, 0xffff, 0, 0, 0, 0, 0]
        );
        // Stage 1, S1DSS = bypass adds SHCFG.
        assert_eq!(ste_used(&[0xb, 1, 0, 0, 0, 0, 0, 0])[1], s1_dw1 | (3 << 44));
        // Stage 2.
        let s2_dw1 = (1 << 25) | (0b11 << 28) | (3 << 44) | (1 << 19);
        let s2_dw2 = 0xffff
            | (((1u64 << 19) - 1) << 32)
            | (1 << 51)
            | (1 << 52)
            | (1 << 54)
            | (1 << 57)
            | (1 << 58);
        let s2_dw3 = ((1u64 << 52) - 1) << 4;
        assert_eq!(
            ste_used(&[0xd, 0, 0, 0, 0, 0, 0, 0]),
            [0xf, s2_dw1, s2_dw2, s2_dw3, 0, 0, 0, 0]
        );
        // Nested: union.
        assert_eq!(
            ste_used(&[0xf, 0, 0, 0, 0, 0, 0, 0]),
            [s1_dw0, s1_dw1 | s2_dw1, s2_dw2, s2_dw3, 0, 0, 0, 0]
        );
    }

    #[test]
    fn ste_safe_bits() {
        let plain = [0xb, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(ste_update_safe(&plain, &plain)[1], (1 << 19) | (1 << 28));
        let s1chk = [0xf, 2 << 28, 0, 0, 0, 0, 0, 0];
        assert_eq!(ste_update_safe(&plain, &s1chk)[1], 1 << 19);
        let stall = [0xd, 0, 1 << 57, 0, 0, 0, 0, 0];
        assert_eq!(ste_update_safe(&stall, &plain)[1], 1 << 19);
    }

    #[test]
    fn cd_used_by_v_and_epd0() {
        assert_eq!(cd_used(&[!(1u64 << 31); 8]), [1 << 31, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(cd_used(&[1 << 31, 0, 0, 0, 0, 0, 0, 0]), [u64::MAX; 8]);
        let used = cd_used(&[(1 << 31) | (1 << 14), 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(used[0], !0x3fff);
        assert_eq!(used[1], !(((1u64 << 52) - 1) << 4));
        assert_eq!(&used[2..], &[u64::MAX; 6]);
    }
}
