//! `corrupt-table`: the kdump kernel meets a corrupted stream table, falls back to the
//! full reset and says why. See `smmu_examples::corrupt`.
//!
//! ```sh
//! cargo run -p smmu-examples --bin corrupt-table -- --list
//! cargo run -p smmu-examples --bin corrupt-table -- --corruption ste-vmid-zero
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use smmu_examples::cli::USAGE_EXIT;
use smmu_examples::corrupt::{self, Options};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kinds = match Options::parse(&args) {
        Ok(Options::Help) => {
            print!("{}", corrupt::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Options::List) => {
            print!("{}", corrupt::list());
            return ExitCode::SUCCESS;
        }
        Ok(Options::Run(kinds)) => kinds,
        Err(e) => {
            eprintln!("corrupt-table: {e}\n\n{}", corrupt::USAGE);
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let start = Instant::now();
    let mut say = |line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{:>7.3} s] {line}", start.elapsed().as_secs_f64());
        let _ = out.flush();
    };
    let mut summary = Vec::with_capacity(kinds.len());
    for kind in &kinds {
        println!("=== corruption {kind}: {} ===", kind.what());
        println!("    rule: kdump.md {}\n", kind.rule());
        let report = match corrupt::run(*kind, &mut say) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("corrupt-table: the {kind} run failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("\n{}", report.table());
        let outcome = match report.fallback_reason() {
            Some(reason) => format!("fell back to the full reset: {reason} ({reason:?})"),
            None => format!("{:?}", report.adoption),
        };
        println!("result: {outcome}\n");
        summary.push((*kind, outcome));
    }
    if summary.len() > 1 {
        println!("summary:");
        for (kind, outcome) in summary {
            println!("  {:<28} {outcome}", kind.name());
        }
    }
    ExitCode::SUCCESS
}
