//! The check log the runner reads: one `CHECK <name>: PASS|FAIL` line per check, then a
//! summary and `ALL CHECKS PASSED` or `SOME CHECKS FAILED`.

use core::fmt;

use crate::console::println;
use crate::exit;

/// Counts checks and prints their outcome.
#[derive(Debug, Default)]
pub struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    /// A report with no checks yet.
    pub const fn new() -> Self {
        Self {
            passed: 0,
            failed: 0,
        }
    }

    /// Records check `name` and prints it with `detail`. Returns `ok`.
    pub fn check(&mut self, name: &str, ok: bool, detail: fmt::Arguments<'_>) -> bool {
        if ok {
            self.passed += 1;
            println!("CHECK {name}: PASS ({detail})");
        } else {
            self.failed += 1;
            println!("CHECK {name}: FAIL ({detail})");
        }
        ok
    }

    /// Prints the summary and leaves QEMU with the matching status.
    pub fn finish(&self) -> ! {
        println!("RESULT: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 && self.passed > 0 {
            println!("ALL CHECKS PASSED");
            exit::exit(exit::SUCCESS)
        } else {
            println!("SOME CHECKS FAILED");
            exit::exit(exit::FAILURE)
        }
    }
}
