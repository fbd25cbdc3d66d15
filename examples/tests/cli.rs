//! The programs' command lines: the `kdump` JSON document, `--help`, and bad flags
//! (a message and the usage on stderr, exit code 2).

use std::process::{Command, Output};

use serde_json::Value;
use smmu_examples::kdump::{Mode, Options, Parsed, TableFormat};

fn run(exe: &str, args: &[&str]) -> Output {
    Command::new(exe).args(args).output().unwrap()
}

const KDUMP: &str = env!("CARGO_BIN_EXE_kdump");
const CORRUPT: &str = env!("CARGO_BIN_EXE_corrupt-table");
const QUICKSTART: &str = env!("CARGO_BIN_EXE_quickstart");

#[test]
fn quickstart_runs() {
    let out = run(QUICKSTART, &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("landed at PA"), "{text}");
    assert!(text.contains("Faulted { event: F_TRANSLATION"), "{text}");
    assert!(
        text.contains("event F_TRANSLATION: TranslationFault"),
        "{text}"
    );
}

#[test]
fn corrupt_table_default_run() {
    let out = run(CORRUPT, &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fell back to the full reset: the live stream table is malformed: L1 descriptor 3 has an invalid span 12 (Table(L1SpanInvalid { index: 3, span: 12 }))"),
        "{text}"
    );
}

#[test]
fn kdump_json_document() {
    let out = run(KDUMP, &["--json", "--devices", "4", "--mode", "both"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Exactly one JSON value on stdout, nothing else.
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let top = doc.as_object().unwrap();
    assert_eq!(top.len(), 1);
    let runs = top["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, mode) in runs.iter().zip(["adopt", "reset"]) {
        let run = run.as_object().unwrap();
        let mut keys: Vec<&str> = run.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["devices", "fallback_reason", "mode", "table"]);
        assert_eq!(run["mode"], mode);
        assert_eq!(run["table"], "2level");
        let devices = run["devices"].as_array().unwrap();
        assert_eq!(devices.len(), 4);
        for d in devices {
            let d = d.as_object().unwrap();
            let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "aborted",
                    "after_reattach",
                    "before_crash",
                    "deferred",
                    "domain",
                    "during_handover",
                    "faulted",
                    "misdirected",
                    "sid"
                ]
            );
            assert!(d["sid"].as_u64().unwrap() < 1 << 16);
            let domain = d["domain"].as_str().unwrap();
            assert!(["s1_dma", "s2_dma", "identity", "blocked"].contains(&domain));
            let deferred = d["deferred"].as_bool().unwrap();
            for k in [
                "before_crash",
                "during_handover",
                "after_reattach",
                "faulted",
                "aborted",
                "misdirected",
            ] {
                assert!(d[k].is_u64(), "{k}");
            }
            assert!(d["after_reattach"].as_u64().unwrap() > 0);
            if mode == "adopt" {
                assert_eq!(deferred, domain != "blocked");
                for k in ["faulted", "aborted", "misdirected"] {
                    assert_eq!(d[k], 0, "{k}");
                }
            } else {
                assert!(!deferred);
            }
        }
        if mode == "adopt" {
            assert!(run["fallback_reason"].is_null());
        } else {
            assert_eq!(run["fallback_reason"], "DisabledByConfig");
        }
    }
}

#[test]
fn help_exits_zero() {
    for exe in [KDUMP, CORRUPT] {
        let out = run(exe, &["--help"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage:"));
    }
    let out = run(CORRUPT, &["--list"]);
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("l1-span-too-big (default)"), "{list}");
}

#[test]
fn bad_flags_exit_two() {
    let cases: &[(&str, &[&str], &str)] = &[
        (KDUMP, &["--bogus"], "unknown option"),
        (KDUMP, &["stray"], "unexpected argument"),
        (KDUMP, &["--mode"], "needs a value"),
        (KDUMP, &["--mode", "--json"], "needs a value"),
        (KDUMP, &["--mode", "sideways"], "not one of"),
        (KDUMP, &["--table", "3level"], "not one of"),
        (KDUMP, &["--devices", "0"], "out of range"),
        (KDUMP, &["--devices", "65"], "out of range"),
        (KDUMP, &["--devices", "many"], "not a valid number"),
        (KDUMP, &["--seed", "-1"], "not a valid number"),
        (KDUMP, &["--json=yes"], "takes no value"),
        (CORRUPT, &["--corruption", "nope"], "not one of"),
        (CORRUPT, &["--corruption"], "needs a value"),
        (CORRUPT, &["--fast"], "unknown option"),
    ];
    for (exe, args, message) in cases {
        let out = run(exe, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
}

#[test]
fn kdump_options() {
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
    let Parsed::Run(o) = Options::parse(&[]).unwrap() else {
        panic!("defaults");
    };
    assert_eq!(o, Options::default());
    assert_eq!(o.modes, [Mode::Adopt, Mode::Reset]);
    assert_eq!(
        (o.table, o.devices, o.seed, o.json),
        (TableFormat::TwoLevel, 8, 1, false)
    );
    let Parsed::Run(o) = Options::parse(&args(&[
        "--table",
        "linear",
        "--mode=adopt",
        "--devices",
        "3",
        "--seed",
        "0x10",
        "--json",
    ]))
    .unwrap() else {
        panic!("run");
    };
    assert_eq!(o.modes, [Mode::Adopt]);
    assert_eq!(
        (o.table, o.devices, o.seed, o.json),
        (TableFormat::Linear, 3, 16, true)
    );
    let configs = o.run_configs();
    assert_eq!(configs.len(), 1);
    assert_eq!((configs[0].devices, configs[0].seed), (3, 16));
    assert_eq!(
        Options::parse(&args(&["--devices", "2", "-h"])).unwrap(),
        Parsed::Help
    );
}
