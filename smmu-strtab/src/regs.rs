//! The register and structure encodings this crate uses, taken from `smmu-regs`: the STE
//! and CD field tables, the L1STD type, STRTAB_BASE / STRTAB_BASE_CFG and the encodings
//! of the fields the used-bit rules look at.

use smmu_regs::PhysAddr;
use smmu_regs::l1std::L1Std;
use smmu_regs::regs::{StrtabBase, StrtabBaseCfg, StrtabFmt};
use smmu_regs::ste::{Config, Eats, S1Dss};

/// CD field positions (spec §2.5).
pub(crate) use smmu_regs::cd::field as cd;
/// STE field positions (spec §2.1).
pub(crate) use smmu_regs::ste::field as ste;

/// STE.Config = bypass, as a field value.
pub(crate) const CONFIG_BYPASS: u64 = Config::Bypass.raw() as u64;
/// STE.S1DSS = bypass, as a field value.
pub(crate) const S1DSS_BYPASS: u64 = S1Dss::Bypass.raw() as u64;
/// STE.EATS = full ATS: the bit that may be update-safe.
pub(crate) const EATS_TRANS: u64 = Eats::Full.raw() as u64;
/// The EATS bit set by the split-stage encodings (0b10 S1CHK and 0b11).
pub(crate) const EATS_S1CHK_BIT: u64 = Eats::SplitStage.raw() as u64;

/// STE dw0 with V = 1.
pub(crate) const STE_V: u64 = ste::V.set(0, 1);

/// The abort and bypass STEs (bypass with SHCFG = incoming).
pub(crate) const STE_ABORT: [u64; 8] = smmu_regs::ste::Ste::ABORT.to_words();
pub(crate) const STE_BYPASS: [u64; 8] = smmu_regs::ste::Ste::BYPASS.to_words();

/// The Span of an L1 descriptor.
pub(crate) const fn l1_span(desc: u64) -> u8 {
    L1Std::from_raw(desc).span()
}

/// The L2 pointer field of an L1 descriptor (bits \[55:6\], in place).
pub(crate) const fn l1_l2ptr(desc: u64) -> PhysAddr {
    L1Std::from_raw(desc).l2ptr()
}

/// An L1 descriptor pointing at `l2` (aligned to its size) with `span` (1..=11), or
/// `None` if smmu-regs rejects the pair (never for tables this crate allocates).
pub(crate) const fn l1_encode(l2: PhysAddr, span: u8) -> Option<u64> {
    match L1Std::new(l2, span) {
        Ok(d) => Some(d.raw()),
        Err(_) => None,
    }
}

/// STRTAB_BASE_CFG.FMT field values.
pub(crate) const FMT_LINEAR: u8 = StrtabFmt::Linear as u8;
pub(crate) const FMT_TWO_LEVEL: u8 = StrtabFmt::TwoLevel as u8;

/// Decoded STRTAB_BASE_CFG: (FMT, SPLIT, LOG2SIZE), raw field values as written.
pub(crate) fn cfg_decode(cfg: u32) -> (u8, u8, u8) {
    let c = StrtabBaseCfg::from(cfg);
    (c.fmt() as u8, c.split(), c.log2size())
}

/// STRTAB_BASE_CFG for a geometry (values already validated by the caller).
pub(crate) fn cfg_encode(two_level: bool, split: u8, log2size: u8) -> u32 {
    let fmt = if two_level {
        StrtabFmt::TwoLevel
    } else {
        StrtabFmt::Linear
    };
    StrtabBaseCfg::new()
        .with_fmt(fmt)
        .with_split(split & 0x1f)
        .with_log2size(log2size & 0x3f)
        .into()
}

/// The table address of a STRTAB_BASE value, ADDR = bits \[55:6\] (RA and reserved bits
/// dropped).
pub(crate) fn base_addr(base: u64) -> PhysAddr {
    StrtabBase::from(base).address()
}

/// A STRTAB_BASE value for a table at `pa` (bits of `pa` outside \[55:6\] are dropped).
pub(crate) fn base_encode(pa: PhysAddr, ra: bool) -> u64 {
    StrtabBase::new()
        .with_addr((pa.0 >> 6) & ((1 << 50) - 1))
        .with_ra(ra)
        .into()
}
