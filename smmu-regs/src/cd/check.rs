//! CD validity (spec §2.5, Arm IHI0070 §5.4.2 `CdIllegal`).

use super::Cd;
use crate::fields::Granule;
use crate::ste::{Ste, StreamWorld, effective_ps_bits, fits_in, txsz_in_range};

/// The SMMU properties that decide whether a CD is ILLEGAL (spec §2.5). Plain values,
/// filled from the ID registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdCheckCaps {
    /// Effective Non-secure IDR0.STALL_MODEL (0 stall and terminate, 1 terminate only,
    /// 2 stall forced).
    pub stall_model: u8,
    /// IDR0.TERM_MODEL: 1 = RAZ/WI termination not supported, CD.A must be 1.
    pub term_model: bool,
    /// IDR0.TTENDIAN: 0 mixed, 1 reserved, 2 little-endian only, 3 big-endian only.
    pub ttendian: u8,
    /// IDR0.TTF\[0\]: VMSAv8-32 LPAE tables supported.
    pub ttf_aarch32: bool,
    /// IDR0.TTF\[1\]: VMSAv8-64 tables supported.
    pub ttf_aarch64: bool,
    /// IDR0.HTTU: 0 none, 1 Access flag, 2 Access + dirty, 3 also table Access flag.
    pub httu: u8,
    /// IDR0.ASID16: 16-bit ASIDs.
    pub asid16: bool,
    /// IDR3.STT: small translation tables.
    pub stt: bool,
    /// IDR5.GRAN4K.
    pub gran4k: bool,
    /// IDR5.GRAN16K.
    pub gran16k: bool,
    /// IDR5.GRAN64K.
    pub gran64k: bool,
    /// IDR5.DS: 52-bit addresses with 4 KB / 16 KB granules.
    pub ds: bool,
    /// IDR5.VAX: 0 = 48-bit VAs, 1 = 52-bit, 2 = 56-bit.
    pub vax: u8,
    /// IDR5.OAS as a number of bits (32, 36, 40, 42, 44, 48, 52 or 56).
    pub oas_bits: u8,
    /// Architecture minor revision (AIDR.ArchMinorRev): 0 = SMMUv3.0, 1 = v3.1, …
    pub version: u8,
}

impl CdCheckCaps {
    /// Whether the SMMU implements `granule`.
    #[must_use]
    pub const fn granule_supported(&self, granule: Granule) -> bool {
        match granule {
            Granule::Size4K => self.gran4k,
            Granule::Size16K => self.gran16k,
            Granule::Size64K => self.gran64k,
        }
    }
}

/// The properties of the STE through which a CD is reached that affect the CD's validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdStreamContext {
    /// The stream's StreamWorld.
    pub stream_world: StreamWorld,
    /// STE.S1STALLD.
    pub s1stalld: bool,
    /// Stage 2 translates with VMSAv8-32 LPAE tables (STE.Config = 0b11x, S2AA64 = 0).
    pub stage2_aarch32: bool,
}

impl CdStreamContext {
    /// The context given by `ste` on an SMMU with IDR0.HYP = `hyp` and CR2.E2H = `e2h`
    /// (stage 1 is assumed implemented, since a CD is being used).
    #[must_use]
    pub const fn from_ste(ste: &Ste, hyp: bool, e2h: bool) -> Self {
        Self {
            stream_world: ste.stream_world(true, hyp, e2h),
            s1stalld: ste.s1stalld(),
            stage2_aarch32: ste.config().stage2_enabled() && !ste.s2aa64(),
        }
    }
}

/// Why a CD is ILLEGAL (C_BAD_CD), one variant per rule of spec §2.5 (Arm IHI0070
/// §5.4.2 `CdIllegal`), in checking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CdIllegal {
    /// V = 0.
    #[error("CD.V is 0")]
    NotValid,
    /// STE.S1STALLD = 1 and CD.S = 1.
    #[error("CD.S = 1 but the STE disallows stalls (S1STALLD = 1)")]
    StallDisabledByStream,
    /// IDR0.TERM_MODEL = 1 and A = 0.
    #[error("CD.A = 0 but the SMMU cannot terminate with RAZ/WI")]
    TermModel,
    /// STALL_MODEL = 0b01 with S = 1, or STALL_MODEL = 0b10 with S = 0.
    #[error("CD.S contradicts the stall model")]
    StallModel,
    /// ENDI contradicts IDR0.TTENDIAN while a TTB is used.
    #[error("CD.ENDI contradicts IDR0.TTENDIAN")]
    EndiannessUnsupported,
    /// AA64 = 0 without IDR0.TTF\[0\], or with StreamWorld EL2-E2H.
    #[error("VMSAv8-32 LPAE tables not allowed")]
    Aarch32Unsupported,
    /// AA64 = 1 without IDR0.TTF\[1\], or with a VMSAv8-32 LPAE stage 2.
    #[error("VMSAv8-64 tables not allowed")]
    Aarch64Unsupported,
    /// HA/HD beyond IDR0.HTTU, or HAFT = 1 with HA = 0 when HTTU = 0b11 (VMSAv8-64).
    #[error("hardware update not supported")]
    HttuUnsupported,
    /// ASID\[15:8\] ≠ 0 without IDR0.ASID16 (StreamWorld NS-EL1 or EL2-E2H).
    #[error("16-bit ASID without IDR0.ASID16")]
    AsidTooWide,
    /// T0SZ out of range while TTB0 is used (VMSAv8-64).
    #[error("CD.T0SZ out of range")]
    T0szOutOfRange,
    /// T1SZ out of range while TTB1 is used (VMSAv8-64).
    #[error("CD.T1SZ out of range")]
    T1szOutOfRange,
    /// TG0 reserved or not implemented while TTB0 is used (VMSAv8-64).
    #[error("CD.TG0 not supported")]
    Tg0Unsupported,
    /// TTB0 outside the effective IPS while TTB0 is used.
    #[error("CD.TTB0 out of range")]
    Ttb0OutOfRange,
    /// TG1 reserved or not implemented while TTB1 is used (VMSAv8-64).
    #[error("CD.TG1 not supported")]
    Tg1Unsupported,
    /// TTB1 outside the effective IPS while TTB1 is used.
    #[error("CD.TTB1 out of range")]
    Ttb1OutOfRange,
}

impl Cd {
    /// Effective (EPD0, EPD1) for `world`: in NS-EL2 (no E2H) only TTB0 exists, so EPD0
    /// is taken as 0 and TTB1 as disabled.
    const fn effective_epd(&self, world: StreamWorld) -> (bool, bool) {
        match world {
            StreamWorld::NsEl2 => (false, true),
            StreamWorld::NsEl1 | StreamWorld::NsEl2E2h => (self.epd0(), self.epd1()),
        }
    }

    /// Checks the CD against the validity rules of spec §2.5 (Non-secure subset of Arm
    /// IHI0070 §5.4.2 `CdIllegal`), in the pseudocode's order, returning the first rule
    /// that makes it ILLEGAL. `Err` is what makes the SMMU record C_BAD_CD.
    ///
    /// Details taken from IHI0070:
    ///
    /// * A TTB is "used" unless its effective EPDx is 1. In StreamWorld NS-EL2 (without
    ///   E2H) EPD0 is taken as 0 and TTB1 is unreachable (its fields are RES0 and not
    ///   checked).
    /// * ENDI is checked only if a TTB is used. The TxSZ, TGx and HA/HD/HAFT rules apply
    ///   to VMSAv8-64 only (VMSAv8-32 LPAE ignores them; its TxSZ values are all valid).
    /// * TxSZ range: maximum 39, or with IDR3.STT 48 (4 KB / 16 KB) or 47 (64 KB or a
    ///   reserved TGx); minimum 12 when IDR5.VAX ≠ 0 and (64 KB granule, or DS), else 16.
    ///   Out of range is ILLEGAL in SMMUv3.0 too (one of its permitted behaviours).
    /// * DS is CD.DS with IDR5.DS. TTBx must fit in the effective IPS: MIN(IPS, OAS)
    ///   (IPS 52/56 behave as 48 in v3.0, 56 as 52 in v3.1–v3.3), further limited to 48
    ///   bits for 4 KB / 16 KB granules without DS; 40 bits for VMSAv8-32 LPAE.
    ///
    /// Not modelled: Secure/Realm streams, EL3, VMSAv9-128, permission indirection
    /// (PIE/PIIU/PIIP, which need IDR3.S1PI).
    ///
    /// # Errors
    ///
    /// The first [`CdIllegal`] reason that applies.
    pub fn check(&self, caps: &CdCheckCaps, ctx: &CdStreamContext) -> Result<(), CdIllegal> {
        if !self.v() {
            return Err(CdIllegal::NotValid);
        }
        if ctx.s1stalld && self.s() {
            return Err(CdIllegal::StallDisabledByStream);
        }
        if caps.term_model && !self.a() {
            return Err(CdIllegal::TermModel);
        }
        if (caps.stall_model == 1 && self.s()) || (caps.stall_model == 2 && !self.s()) {
            return Err(CdIllegal::StallModel);
        }
        let (epd0, epd1) = self.effective_epd(ctx.stream_world);
        if (!epd0 || !epd1)
            && ((caps.ttendian == 2 && self.endi()) || (caps.ttendian == 3 && !self.endi()))
        {
            return Err(CdIllegal::EndiannessUnsupported);
        }
        let aa32 = !self.aa64();
        if aa32 && (!caps.ttf_aarch32 || matches!(ctx.stream_world, StreamWorld::NsEl2E2h)) {
            return Err(CdIllegal::Aarch32Unsupported);
        }
        if !aa32 && (!caps.ttf_aarch64 || ctx.stage2_aarch32) {
            return Err(CdIllegal::Aarch64Unsupported);
        }
        if !aa32
            && (((self.ha() || self.hd()) && caps.httu == 0)
                || (self.hd() && caps.httu == 1)
                || (caps.httu == 3 && self.haft() && !self.ha()))
        {
            return Err(CdIllegal::HttuUnsupported);
        }
        if !matches!(ctx.stream_world, StreamWorld::NsEl2)
            && !caps.asid16
            && self.asid().0 >> 8 != 0
        {
            return Err(CdIllegal::AsidTooWide);
        }

        let ds = caps.ds && self.ds();
        let g0 = self.tg0().granule();
        let g1 = self.tg1().granule();
        if !aa32 {
            if !epd0 && !txsz_valid(self.t0sz(), g0, ds, caps) {
                return Err(CdIllegal::T0szOutOfRange);
            }
            if !epd1 && !txsz_valid(self.t1sz(), g1, ds, caps) {
                return Err(CdIllegal::T1szOutOfRange);
            }
        }
        let ipa_range = if aa32 {
            40
        } else {
            effective_ps_bits(self.ips(), caps.version, caps.oas_bits)
        };
        if !epd0 {
            if !aa32 && !granule_supported(g0, caps) {
                return Err(CdIllegal::Tg0Unsupported);
            }
            if !fits_in(self.ttb0().0, ttb_limit(aa32, g0, ds, ipa_range)) {
                return Err(CdIllegal::Ttb0OutOfRange);
            }
        }
        if !epd1 {
            if !aa32 && !granule_supported(g1, caps) {
                return Err(CdIllegal::Tg1Unsupported);
            }
            if !fits_in(self.ttb1().0, ttb_limit(aa32, g1, ds, ipa_range)) {
                return Err(CdIllegal::Ttb1OutOfRange);
            }
        }
        Ok(())
    }
}

const fn granule_supported(g: Option<Granule>, caps: &CdCheckCaps) -> bool {
    match g {
        Some(g) => caps.granule_supported(g),
        None => false,
    }
}

const fn txsz_valid(txsz: u8, g: Option<Granule>, ds: bool, caps: &CdCheckCaps) -> bool {
    let small = matches!(g, Some(Granule::Size4K | Granule::Size16K));
    let max = if !caps.stt {
        39
    } else if small {
        48
    } else {
        47
    };
    let min = if caps.vax != 0 && (matches!(g, Some(Granule::Size64K)) || ds) {
        12
    } else {
        16
    };
    txsz_in_range(txsz, min, max)
}

const fn ttb_limit(aa32: bool, g: Option<Granule>, ds: bool, ipa_range: u32) -> u32 {
    if !aa32 && !matches!(g, Some(Granule::Size64K)) && !ds && ipa_range > 48 {
        48
    } else {
        ipa_range
    }
}
