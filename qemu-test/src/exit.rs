//! Leaving QEMU with a status.
//!
//! Two mechanisms, tried in this order:
//!
//! 1. **Semihosting `SYS_EXIT`** (`HLT #0xF000`, operation 0x18 with
//!    `ADP_Stopped_ApplicationExit` and the status as subcode): QEMU exits with that status.
//!    It needs `-semihosting` (the runner passes it). Without it the `HLT` is an undefined
//!    instruction; the exception handler sees that an exit is in progress and falls
//!    through to 2.
//! 2. **PSCI `SYSTEM_OFF`** through the conduit the device tree names (`hvc` on `virt`
//!    without EL2/EL3, `smc` with `virtualization=on` or `secure=on`): QEMU exits with
//!    status 0 whatever the program's verdict, so the runner always judges the UART log
//!    too and only uses the status as a second signal.
//!
//! If both fail the CPU parks in `WFE` and the runner's timeout ends QEMU.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Status for a run whose checks all passed.
pub const SUCCESS: u32 = 0;
/// Status for a failed check, a panic or an unexpected exception.
pub const FAILURE: u32 = 1;

/// How PSCI calls reach the PSCI implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0` (QEMU implements PSCI itself when the guest has no EL2).
    Hvc,
    /// `SMC #0`.
    Smc,
}

const CONDUIT_NONE: u8 = 0;
const CONDUIT_HVC: u8 = 1;
const CONDUIT_SMC: u8 = 2;

static CONDUIT: AtomicU8 = AtomicU8::new(CONDUIT_HVC);
static EXITING: AtomicBool = AtomicBool::new(false);

/// PSCI 0.2+ `SYSTEM_OFF` function id (SMC32 calling convention).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
/// Semihosting operation `SYS_EXIT`.
const SYS_EXIT: u64 = 0x18;
/// Semihosting reason code `ADP_Stopped_ApplicationExit`.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Records the PSCI conduit found in the device tree (`None`: no PSCI node).
pub fn set_psci_conduit(conduit: Option<Conduit>) {
    let value = match conduit {
        None => CONDUIT_NONE,
        Some(Conduit::Hvc) => CONDUIT_HVC,
        Some(Conduit::Smc) => CONDUIT_SMC,
    };
    CONDUIT.store(value, Ordering::Relaxed);
}

/// Whether [`exit`] has started (read by the exception handler).
pub fn exit_in_progress() -> bool {
    EXITING.load(Ordering::Relaxed)
}

/// Ends the program: QEMU exits with `status` if semihosting is enabled, otherwise it is
/// powered off through PSCI.
pub fn exit(status: u32) -> ! {
    EXITING.store(true, Ordering::Relaxed);
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: the semihosting call reads the two-word parameter block, which lives on
    // this stack frame for the duration of the call, and does not return when QEMU
    // implements it. Without semihosting the HLT raises an undefined-instruction
    // exception that `exception_entry` turns into `semihosting_unavailable` (it never
    // returns here either). No Rust-visible state is changed.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            inout("x0") SYS_EXIT => _,
            in("x1") block.as_ptr(),
            options(nostack, readonly),
        );
    }
    psci_system_off()
}

/// Called by the exception handler when the semihosting `HLT` trapped: powers off
/// through PSCI instead.
pub fn semihosting_unavailable() -> ! {
    psci_system_off()
}

fn psci_system_off() -> ! {
    match CONDUIT.load(Ordering::Relaxed) {
        // SAFETY: PSCI SYSTEM_OFF through the conduit the firmware (QEMU) advertises in
        // the device tree; it does not return on success and touches no memory of ours.
        CONDUIT_HVC => unsafe {
            core::arch::asm!("hvc #0", inout("x0") PSCI_SYSTEM_OFF => _, clobber_abi("C"), options(nostack, nomem));
        },
        // SAFETY: as above, through SMC.
        CONDUIT_SMC => unsafe {
            core::arch::asm!("smc #0", inout("x0") PSCI_SYSTEM_OFF => _, clobber_abi("C"), options(nostack, nomem));
        },
        _ => {}
    }
    loop {
        core::hint::spin_loop();
    }
}
