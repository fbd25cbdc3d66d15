//! The error type of this crate.

/// Errors reported when a typed value cannot be encoded into a register or structure.
///
/// Parsing never fails: every bit pattern read from hardware or memory decodes to a value
/// (reserved encodings included). Errors arise only when *building* an encoding from
/// caller-supplied values that do not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A value does not fit in the bits the architecture gives its field.
    #[error("value {value:#x} does not fit in field {field} ({bits} bits)")]
    FieldOverflow {
        /// The field, named as in the Arm specification.
        field: &'static str,
        /// The value that was supplied.
        value: u64,
        /// The width of the field in bits.
        bits: u32,
    },
    /// An address has set bits below the alignment its field requires.
    #[error("address {value:#x} for field {field} is not {align}-byte aligned")]
    Misaligned {
        /// The field, named as in the Arm specification.
        field: &'static str,
        /// The address that was supplied.
        value: u64,
        /// The required alignment in bytes.
        align: u64,
    },
    /// A value is representable but not allowed by the architecture in this position
    /// (for example a queue LOG2SIZE above 19).
    #[error("value {value:#x} is not valid for field {field}")]
    InvalidValue {
        /// The field, named as in the Arm specification.
        field: &'static str,
        /// The value that was supplied.
        value: u64,
    },
}
