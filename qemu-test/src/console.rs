//! The UART console: a polled PL011 transmitter behind `core::fmt::Write`, and the
//! `println!` macro.
//!
//! QEMU's PL011 needs no initialisation (it transmits whether or not UARTCR.UARTEN is
//! set, and ignores the baud rate), so the driver only waits while the transmit FIFO is
//! full and writes the data register. Before the device tree is parsed the console uses
//! the `virt` address 0x0900_0000 so that an early panic is still visible; `main` then
//! switches to the address from `/chosen/stdout-path`.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::mmio::Mmio;

/// The PL011 of QEMU's `virt` machine (memory map in `hw/arm/virt.c`, `VIRT_UART`).
pub const VIRT_PL011: usize = 0x0900_0000;
/// Size of the PL011 register block.
pub const PL011_SIZE: usize = 0x1000;

/// UARTDR: data register.
const UARTDR: usize = 0x00;
/// UARTFR: flag register.
const UARTFR: usize = 0x18;
/// UARTFR.TXFF: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;

static BASE: AtomicUsize = AtomicUsize::new(VIRT_PL011);

/// Moves the console to the PL011 at `base`.
///
/// # Safety
///
/// `base .. base + 0x1000` is a PL011 register block, mapped as Device memory (or the MMU
/// is off) for the rest of the program.
pub unsafe fn set_base(base: usize) {
    BASE.store(base, Ordering::Relaxed);
}

/// A handle to the console UART.
pub struct Console {
    regs: Mmio,
}

impl Console {
    /// The console at its current address.
    pub fn get() -> Self {
        // SAFETY: BASE holds either QEMU virt's PL011 (identity-mapped Device memory, or the
        // MMU is off) or an address given to `set_base`, whose contract covers it.
        let regs = unsafe { Mmio::new(BASE.load(Ordering::Relaxed), PL011_SIZE) };
        Self { regs }
    }

    fn put(&self, byte: u8) {
        while self.regs.read32(UARTFR) & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        self.regs.write32(UARTDR, u32::from(byte));
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

/// Prints to the console (used by the macros).
pub fn print_args(args: fmt::Arguments<'_>) {
    // The PL011 write never fails; there is nowhere to report an error anyway.
    let _ = fmt::Write::write_fmt(&mut Console::get(), args);
}

/// Prints a line to the UART console.
macro_rules! println {
    () => {
        $crate::console::print_args(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use println;
