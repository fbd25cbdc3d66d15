//! `kdump`: the kdump handover demo. Kernel 1 runs DMA through the SMMU model and
//! crashes; the kdump kernel adopts the live stream table (or, for comparison, does the
//! old full reset) and each device's driver takes over. See `smmu_examples::kdump`.
//!
//! ```sh
//! cargo run --release -p smmu-examples --bin kdump
//! cargo run --release -p smmu-examples --bin kdump -- --help
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use smmu_examples::cli::USAGE_EXIT;
use smmu_examples::kdump::{self, Options, Parsed, TableFormat};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(Parsed::Help) => {
            print!("{}", kdump::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(o)) => o,
        Err(e) => {
            eprintln!("kdump: {e}\n\n{}", kdump::USAGE);
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let json = options.json;
    let start = Instant::now();
    // The timeline: on stdout, or on stderr when stdout carries the JSON document.
    let mut say = |line: &str| {
        let line = format!("[{:>7.3} s] {line}", start.elapsed().as_secs_f64());
        if json {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let configs = options.run_configs();
    if !json {
        println!(
            "kdump handover demo on the SMMUv3 model: {} devices, {} stream table ({} StreamID \
             bits), seed {}\n",
            options.devices,
            options.table,
            match options.table {
                TableFormat::Linear => kdump::LINEAR_SID_BITS,
                TableFormat::TwoLevel => kdump::TWO_LEVEL_SID_BITS,
            },
            options.seed
        );
    }
    let mut reports = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let title = match config.mode {
            kdump::Mode::Adopt => "adopt: the kdump kernel adopts the live stream table",
            kdump::Mode::Reset => "reset: adoption off (Config::adopt = false), the old behaviour",
        };
        if !json {
            println!("=== run {}/{}: {title} ===", i + 1, configs.len());
        }
        match kdump::run(config, &mut say) {
            Ok(report) => {
                if !json {
                    println!(
                        "\nrun {}/{} ({}, {} table) per device:\n{}",
                        i + 1,
                        configs.len(),
                        report.mode,
                        report.table,
                        report.table()
                    );
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("kdump: the {} run failed: {e}", config.mode);
                return ExitCode::FAILURE;
            }
        }
    }
    if json {
        println!("{}", kdump::runs_to_json(&reports));
    } else {
        println!("legend:\n{}\n", kdump::LEGEND);
        println!("summary:\n{}", kdump::comparison(&reports));
        println!(
            "total time {:.2} s (DMA phases are counted in transactions, not time)",
            start.elapsed().as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}
