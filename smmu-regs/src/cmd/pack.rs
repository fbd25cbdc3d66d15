//! Private helpers shared by the command, event and PRI codecs: read a field from an
//! array of words, and write one with the range and alignment checks that turn a bad
//! caller value into a typed [`Error`] instead of a silent truncation.
//!
//! Every helper is total: a [`FieldPos`] whose word index lies outside the array reads
//! as zero and writes nothing (the constants used by this crate never do that).

use crate::error::Error;
use crate::fields::FieldPos;

/// Reads field `pos` from `words`.
#[inline]
pub(crate) fn get(words: &[u64], pos: FieldPos) -> u64 {
    match words.get(pos.word) {
        Some(w) => pos.get(*w),
        None => 0,
    }
}

/// Reads the one-bit field `pos` from `words`.
#[inline]
pub(crate) fn flag(words: &[u64], pos: FieldPos) -> bool {
    get(words, pos) != 0
}

/// Reads an address field in place: the bits of `pos` keep their positions, every other
/// bit is zero (address fields sit at the same bit positions as the address bits they
/// hold, for example `Addr[63:12]` at `dw1[63:12]`).
#[inline]
pub(crate) fn addr(words: &[u64], pos: FieldPos) -> u64 {
    match words.get(pos.word) {
        Some(w) => *w & pos.mask(),
        None => 0,
    }
}

/// Writes `value` into field `pos`, or reports [`Error::FieldOverflow`] naming `field`
/// when `value` has bits above the field's width.
#[inline]
pub(crate) fn put(
    words: &mut [u64],
    pos: FieldPos,
    value: u64,
    field: &'static str,
) -> Result<(), Error> {
    let max = pos.mask() >> pos.lsb;
    if value > max {
        return Err(Error::FieldOverflow {
            field,
            value,
            bits: pos.width,
        });
    }
    if let Some(w) = words.get_mut(pos.word) {
        *w = pos.set(*w, value);
    }
    Ok(())
}

/// Writes a one-bit field.
#[inline]
pub(crate) fn put_flag(words: &mut [u64], pos: FieldPos, value: bool) {
    if let Some(w) = words.get_mut(pos.word) {
        *w = pos.set(*w, u64::from(value));
    }
}

/// Writes an address field in place (see [`addr`]).
///
/// The address must have its bits below `pos.lsb` clear ([`Error::Misaligned`] with
/// `align = 1 << pos.lsb`) and no bit at or above `pos.lsb + pos.width`
/// ([`Error::FieldOverflow`] with `bits` = that top bit number, i.e. the address width
/// the field can express). Alignment is checked first.
#[inline]
pub(crate) fn put_addr(
    words: &mut [u64],
    pos: FieldPos,
    value: u64,
    field: &'static str,
) -> Result<(), Error> {
    let low = match 1u64.checked_shl(pos.lsb) {
        Some(align) => align - 1,
        None => u64::MAX,
    };
    if value & low != 0 {
        return Err(Error::Misaligned {
            field,
            value,
            align: low.wrapping_add(1),
        });
    }
    let top = pos.lsb + pos.width;
    if top < 64 && value >> top != 0 {
        return Err(Error::FieldOverflow {
            field,
            value,
            bits: top,
        });
    }
    if let Some(w) = words.get_mut(pos.word) {
        *w = (*w & !pos.mask()) | (value & pos.mask());
    }
    Ok(())
}

/// The mask of `pos` placed in a `N`-word array (all other words zero).
#[inline]
pub(crate) const fn mask<const N: usize>(pos: FieldPos) -> [u64; N] {
    let mut out = [0u64; N];
    if pos.word < N {
        out[pos.word] = pos.mask();
    }
    out
}

/// Word-wise OR of a list of field masks.
#[inline]
pub(crate) const fn union<const N: usize>(positions: &[FieldPos]) -> [u64; N] {
    let mut out = [0u64; N];
    let mut i = 0;
    while i < positions.len() {
        let m = mask::<N>(positions[i]);
        let mut j = 0;
        while j < N {
            out[j] |= m[j];
            j += 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FieldPos = FieldPos::new(1, 4, 5);
    const A: FieldPos = FieldPos::new(0, 12, 44);

    #[test]
    fn put_checks_width() {
        let mut w = [0u64; 2];
        assert_eq!(put(&mut w, F, 31, "F"), Ok(()));
        assert_eq!(w, [0, 31 << 4]);
        assert_eq!(
            put(&mut w, F, 32, "F"),
            Err(Error::FieldOverflow {
                field: "F",
                value: 32,
                bits: 5
            })
        );
        assert_eq!(get(&w, F), 31);
    }

    #[test]
    fn put_addr_checks_alignment_then_width() {
        let mut w = [0u64; 1];
        assert_eq!(
            put_addr(&mut w, A, 0x0100_0000_0000_0800, "A"),
            Err(Error::Misaligned {
                field: "A",
                value: 0x0100_0000_0000_0800,
                align: 4096
            })
        );
        assert_eq!(
            put_addr(&mut w, A, 0x100_0000_0000_0000, "A"),
            Err(Error::FieldOverflow {
                field: "A",
                value: 0x100_0000_0000_0000,
                bits: 56
            })
        );
        assert_eq!(put_addr(&mut w, A, 0xff_ffff_ffff_f000, "A"), Ok(()));
        assert_eq!(addr(&w, A), 0xff_ffff_ffff_f000);
    }

    #[test]
    fn out_of_range_word_is_inert() {
        let far = FieldPos::new(5, 0, 8);
        let mut w = [7u64; 2];
        assert_eq!(get(&w, far), 0);
        assert_eq!(put(&mut w, far, 1, "far"), Ok(()));
        put_flag(&mut w, far, true);
        assert_eq!(w, [7, 7]);
        assert_eq!(mask::<2>(far), [0, 0]);
    }
}
