//! Boot code: the entry point `_start`, the drop from EL2 to EL1 (when QEMU starts us at
//! EL2 with `virtualization=on`), the stack, `.bss` zeroing, and the EL1 exception vector
//! table.
//!
//! QEMU's `virt` machine without `virtualization=on` / `secure=on` implements no EL2/EL3,
//! so `-kernel` starts the ELF at its entry point at EL1h with the MMU off and all
//! interrupts masked. x0 holds the DTB address only for a Linux-style boot; for a
//! bare-metal ELF QEMU leaves the DTB at the start of RAM (see [`crate::platform`]), so the
//! boot code passes x0 on and lets Rust decide.

use crate::{console, exit};

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mov     x19, x0                 // DTB pointer of a Linux-style boot (may be 0)
    mrs     x1, CurrentEL
    ubfx    x1, x1, #2, #2
    cmp     x1, #2
    b.eq    1f
    cmp     x1, #1
    b.eq    2f
    b       9f                      // EL3 (or EL0): not supported, park
1:  // EL2 -> EL1
    mov     x1, #3
    msr     cnthctl_el2, x1         // EL1 may read the physical counter and use its timer
    msr     cntvoff_el2, xzr
    mov     x1, #(1 << 31)
    msr     hcr_el2, x1             // EL1 is AArch64; no stage 2, no traps
    mov     x1, #0x3c5
    msr     spsr_el2, x1            // EL1h with D, A, I and F masked
    adr     x1, 2f
    msr     elr_el2, x1
    eret
2:  // EL1
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1           // FP/SIMD not trapped: compiled Rust uses NEON registers
    isb
    ldr     x1, =__stack_top
    mov     sp, x1
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
3:  cmp     x1, x2
    b.hs    4f
    str     xzr, [x1], #8
    b       3b
4:  ldr     x1, =exception_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      rust_entry
9:  wfe
    b       9b

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
exception_vectors:
    .irp    kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    mov     x0, #\kind
    b       5f
    .endr
5:  ldr     x4, =__exc_stack_top    // a fresh stack, even after a stack overflow
    mov     sp, x4
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      exception_entry
6:  wfe
    b       6b
"#
);

/// The vector-table slot names, indexed by the slot number the vector stub passes.
const VECTOR_NAMES: [&str; 16] = [
    "sync, current EL, SP_EL0",
    "IRQ, current EL, SP_EL0",
    "FIQ, current EL, SP_EL0",
    "SError, current EL, SP_EL0",
    "sync, current EL, SP_ELx",
    "IRQ, current EL, SP_ELx",
    "FIQ, current EL, SP_ELx",
    "SError, current EL, SP_ELx",
    "sync, lower EL, AArch64",
    "IRQ, lower EL, AArch64",
    "FIQ, lower EL, AArch64",
    "SError, lower EL, AArch64",
    "sync, lower EL, AArch32",
    "IRQ, lower EL, AArch32",
    "FIQ, lower EL, AArch32",
    "SError, lower EL, AArch32",
];

/// Every exception ends here: the program takes none on purpose, except the semihosting
/// `HLT` of [`exit::exit`] when QEMU runs without `-semihosting`, which [`exit`] turns into
/// a PSCI power-off. Anything else is reported on the console and fails the run.
#[unsafe(no_mangle)]
extern "C" fn exception_entry(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    if exit::exit_in_progress() {
        exit::semihosting_unavailable();
    }
    let name = usize::try_from(kind)
        .ok()
        .and_then(|k| VECTOR_NAMES.get(k))
        .copied()
        .unwrap_or("unknown");
    console::println!(
        "EXCEPTION: {name}: ESR_EL1={esr:#x} (EC={:#x}) ELR_EL1={elr:#x} FAR_EL1={far:#x}",
        (esr >> 26) & 0x3f
    );
    console::println!("CHECK no-unexpected-exception: FAIL");
    exit::exit(exit::FAILURE)
}
