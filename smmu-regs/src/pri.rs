//! PRI queue entries (project spec §5.4; Linux `PRIQ_*`).
//!
//! A PRI queue entry is 16 bytes, two little-endian 64-bit words, recording one PCIe
//! Page Request from an endpoint. Software answers the page request group (PRG) with
//! [`Command::PriResp`](crate::cmd::Command::PriResp) once the entry with
//! [`PriEntry::last`] set has been handled.
//!
//! [`PriEntry::decode`] is total; RES0 bits (`dw0[57:52]`, `dw1[11:9]`) are ignored and
//! reported by [`PriEntry::reserved_bits`]. For every `words`,
//! `decode(words).encode() == Ok(words & PriEntry::FIELD_MASK)`.
//!
//! ```
//! use smmu_regs::pri::PriEntry;
//! use smmu_regs::{Iova, StreamId, SubstreamId};
//!
//! let req = PriEntry {
//!     sid: StreamId(0x10),
//!     ssid: SubstreamId(5),
//!     ssid_valid: true,
//!     perm_priv: false,
//!     perm_exec: false,
//!     perm_read: true,
//!     perm_write: true,
//!     last: true,
//!     prg_index: 0x1ff,
//!     addr: Iova(0x7fff_0000),
//! };
//! let words = req.encode()?;
//! assert_eq!(words, [0xf000_0005_0000_0010, 0x7fff_01ff]);
//! assert_eq!(PriEntry::decode(words), req);
//! # Ok::<(), smmu_regs::Error>(())
//! ```

use crate::cmd::pack;
use crate::error::Error;
use crate::ids::{Iova, StreamId, SubstreamId};

/// Size of a PRI queue entry in bytes.
pub const PRI_ENTRY_BYTES: usize = 16;

/// Number of 64-bit words in a PRI queue entry.
pub const PRI_ENTRY_WORDS: usize = 2;

/// Bit positions of the PRI queue entry fields.
pub mod field {
    use crate::fields::FieldPos;

    /// `dw0[31:0]` SID.
    pub const SID: FieldPos = FieldPos::new(0, 0, 32);
    /// `dw0[51:32]` SSID.
    pub const SSID: FieldPos = FieldPos::new(0, 32, 20);
    /// `dw0[58]` PERM_PRIV.
    pub const PERM_PRIV: FieldPos = FieldPos::new(0, 58, 1);
    /// `dw0[59]` PERM_EXEC.
    pub const PERM_EXEC: FieldPos = FieldPos::new(0, 59, 1);
    /// `dw0[60]` PERM_READ.
    pub const PERM_READ: FieldPos = FieldPos::new(0, 60, 1);
    /// `dw0[61]` PERM_WRITE.
    pub const PERM_WRITE: FieldPos = FieldPos::new(0, 61, 1);
    /// `dw0[62]` PRG_LAST.
    pub const PRG_LAST: FieldPos = FieldPos::new(0, 62, 1);
    /// `dw0[63]` SSID_V.
    pub const SSID_V: FieldPos = FieldPos::new(0, 63, 1);
    /// `dw1[8:0]` PRG_IDX.
    pub const PRG_IDX: FieldPos = FieldPos::new(1, 0, 9);
    /// `dw1[63:12]` ADDR.
    pub const ADDR: FieldPos = FieldPos::new(1, 12, 52);
}

use field as f;

/// One PRI queue entry: a PCIe Page Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PriEntry {
    /// SID, `dw0[31:0]`: the requesting stream.
    pub sid: StreamId,
    /// SSID, `dw0[51:32]` (20 bits): the PASID, meaningful when `ssid_valid`.
    pub ssid: SubstreamId,
    /// SSID_V, `dw0[63]`: the request carried a PASID.
    pub ssid_valid: bool,
    /// PERM_PRIV, `dw0[58]`: privileged access requested.
    pub perm_priv: bool,
    /// PERM_EXEC, `dw0[59]`: execute access requested.
    pub perm_exec: bool,
    /// PERM_READ, `dw0[60]`: read access requested.
    pub perm_read: bool,
    /// PERM_WRITE, `dw0[61]`: write access requested.
    pub perm_write: bool,
    /// PRG_LAST, `dw0[62]`: last request of its page request group; a response is due.
    pub last: bool,
    /// PRG_IDX, `dw1[8:0]` (9 bits): page request group index, echoed in
    /// `CMD_PRI_RESP.PRGIndex`.
    pub prg_index: u16,
    /// ADDR, `dw1[63:12]`: the page address (bits `[11:0]` must be zero).
    pub addr: Iova,
}

impl PriEntry {
    /// The bits of `[dw0, dw1]` that carry a field.
    pub const FIELD_MASK: [u64; 2] = pack::union(&[
        f::SID,
        f::SSID,
        f::PERM_PRIV,
        f::PERM_EXEC,
        f::PERM_READ,
        f::PERM_WRITE,
        f::PRG_LAST,
        f::SSID_V,
        f::PRG_IDX,
        f::ADDR,
    ]);

    /// The PASID when the request carried one.
    #[inline]
    #[must_use]
    pub const fn substream(&self) -> Option<SubstreamId> {
        if self.ssid_valid {
            Some(self.ssid)
        } else {
            None
        }
    }

    /// Parses a PRI queue entry. Total; RES0 bits are ignored.
    #[must_use]
    pub fn decode(words: [u64; 2]) -> Self {
        let w = &words;
        Self {
            sid: StreamId(pack::get(w, f::SID) as u32),
            ssid: SubstreamId(pack::get(w, f::SSID) as u32),
            ssid_valid: pack::flag(w, f::SSID_V),
            perm_priv: pack::flag(w, f::PERM_PRIV),
            perm_exec: pack::flag(w, f::PERM_EXEC),
            perm_read: pack::flag(w, f::PERM_READ),
            perm_write: pack::flag(w, f::PERM_WRITE),
            last: pack::flag(w, f::PRG_LAST),
            prg_index: pack::get(w, f::PRG_IDX) as u16,
            addr: Iova(pack::addr(w, f::ADDR)),
        }
    }

    /// The RES0 bits of `words` that are set.
    #[must_use]
    pub const fn reserved_bits(words: [u64; 2]) -> [u64; 2] {
        [
            words[0] & !Self::FIELD_MASK[0],
            words[1] & !Self::FIELD_MASK[1],
        ]
    }

    /// Builds the PRI queue entry (for a model of the SMMU).
    ///
    /// # Errors
    /// * [`Error::FieldOverflow`] `"SSID"` (20 bits) or `"PRG_IDX"` (9 bits).
    /// * [`Error::Misaligned`] `"ADDR"` (4096) when `addr` has bits `[11:0]` set.
    pub fn encode(&self) -> Result<[u64; 2], Error> {
        let mut w = [0u64; 2];
        pack::put(&mut w, f::SID, u64::from(self.sid.0), "SID")?;
        pack::put(&mut w, f::SSID, u64::from(self.ssid.0), "SSID")?;
        pack::put_flag(&mut w, f::PERM_PRIV, self.perm_priv);
        pack::put_flag(&mut w, f::PERM_EXEC, self.perm_exec);
        pack::put_flag(&mut w, f::PERM_READ, self.perm_read);
        pack::put_flag(&mut w, f::PERM_WRITE, self.perm_write);
        pack::put_flag(&mut w, f::PRG_LAST, self.last);
        pack::put_flag(&mut w, f::SSID_V, self.ssid_valid);
        pack::put(&mut w, f::PRG_IDX, u64::from(self.prg_index), "PRG_IDX")?;
        pack::put_addr(&mut w, f::ADDR, self.addr.0, "ADDR")?;
        Ok(w)
    }
}

impl From<[u64; 2]> for PriEntry {
    #[inline]
    fn from(words: [u64; 2]) -> Self {
        Self::decode(words)
    }
}

impl TryFrom<PriEntry> for [u64; 2] {
    type Error = Error;

    #[inline]
    fn try_from(entry: PriEntry) -> Result<Self, Error> {
        entry.encode()
    }
}
