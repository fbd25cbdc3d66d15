//! Time from the generic timer's virtual counter (CNTVCT_EL0 at CNTFRQ_EL0 Hz; 62.5 MHz
//! on QEMU 7.2 `virt`), for timeouts and for timing the run.

/// Counter ticks per second.
pub fn frequency() -> u64 {
    let freq: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects; EL1 may read it.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) freq, options(nomem, nostack)) };
    freq.max(1)
}

/// The current counter value.
pub fn ticks() -> u64 {
    let now: u64;
    // SAFETY: `isb` then reading CNTVCT_EL0: no side effects; EL1 may read it.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) now, options(nomem, nostack)) };
    now
}

/// A point in time after which a wait gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(u64);

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Self {
        Self(ticks().saturating_add(frequency().saturating_mul(ms) / 1000))
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        ticks() >= self.0
    }
}

/// Milliseconds since counter value `start`.
pub fn ms_since(start: u64) -> u64 {
    ticks().saturating_sub(start).saturating_mul(1000) / frequency()
}
