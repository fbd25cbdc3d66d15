//! Newtypes for the identifiers and addresses that SMMUv3 structures carry, so that a
//! StreamID cannot be passed where a SubstreamID is meant, or an IOVA where a physical
//! address is meant.

use core::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $fmt:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// Returns the raw value.
            #[inline]
            #[must_use]
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl From<$inner> for $name {
            #[inline]
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $inner {
            #[inline]
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}

id_newtype!(
    /// A StreamID: identifies the device (or function) that issued a transaction.
    /// Up to 32 bits (IDR1.SIDSIZE).
    StreamId(u32), "sid:{:#x}"
);
id_newtype!(
    /// A SubstreamID (PASID): selects a context descriptor within a stream.
    /// Up to 20 bits (IDR1.SSIDSIZE).
    SubstreamId(u32), "ssid:{:#x}"
);
id_newtype!(
    /// A physical address, as the SMMU sees it on its output (and as tables are located).
    PhysAddr(u64), "pa:{:#x}"
);
id_newtype!(
    /// An input (IO virtual) address of a device transaction.
    Iova(u64), "iova:{:#x}"
);
id_newtype!(
    /// An intermediate physical address: the output of stage 1 and the input of stage 2
    /// (for example the IPA reported by a stage 2 fault record or taken by
    /// `CMD_TLBI_S2_IPA`).
    Ipa(u64), "ipa:{:#x}"
);
id_newtype!(
    /// A stage 1 address space identifier (8 or 16 bits, IDR0.ASID16).
    Asid(u16), "asid:{}"
);
id_newtype!(
    /// A stage 2 virtual machine identifier (8 or 16 bits, IDR0.VMID16).
    Vmid(u16), "vmid:{}"
);

impl PhysAddr {
    /// Adds a byte offset, wrapping on overflow (physical addresses never reach 2^64 on
    /// real hardware; wrapping keeps the arithmetic total).
    #[inline]
    #[must_use]
    pub const fn wrapping_add(self, offset: u64) -> Self {
        Self(self.0.wrapping_add(offset))
    }

    /// Whether the address is a multiple of `align` (which must be a power of two; any
    /// other `align` gives `false`).
    #[inline]
    #[must_use]
    pub const fn is_aligned(self, align: u64) -> bool {
        align.is_power_of_two() && self.0 & (align - 1) == 0
    }
}
