#!/usr/bin/env python3
"""Prints the subject/baseline ratios of the smmu-benches criterion results.

Usage: python3 benches/ratios.py [CRITERION_DIR ...]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or target/criterion). Every
criterion group of these benches holds one `baseline` and one or more subjects; for each
subject the script prints the subject time, the baseline time and their ratio from the
first directory's latest run (`new`), then the ratio from each further directory. To check
stability, copy the criterion directory after each `cargo bench` run and pass the copies.
Times are criterion's point estimate (the slope of the linear regression when criterion
computed one, the mean otherwise) per iteration, and per element when the group declares a
throughput in elements. Standard library only.
"""

import json
import os
import sys
from pathlib import Path


def estimate(run_dir: Path):
    """Point estimate (ns per iteration) of one run directory, or None."""
    path = run_dir / "estimates.json"
    if not path.is_file():
        return None
    est = json.loads(path.read_text())
    pick = est.get("slope") or est.get("mean")
    return pick["point_estimate"] if pick else None


def fmt(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def load(root: Path):
    """{group: {function: (bench_dir, benchmark.json)}} of one criterion directory."""
    groups = {}
    for bench_json in sorted(root.glob("*/*/new/benchmark.json")):
        meta = json.loads(bench_json.read_text())
        bench_dir = bench_json.parent.parent
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = (bench_dir, meta)
    return groups


def ratio(groups, group, name):
    funcs = groups.get(group, {})
    if "baseline" not in funcs or name not in funcs:
        return None
    s = estimate(funcs[name][0] / "new")
    b = estimate(funcs["baseline"][0] / "new")
    return s / b if s and b else None


def main() -> int:
    roots = [Path(a) for a in sys.argv[1:]]
    if not roots:
        roots = [Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"]
    runs = [load(r) for r in roots]
    first = runs[0]
    if not first:
        print(f"no criterion results under {roots[0]}", file=sys.stderr)
        return 1
    extra = "".join(f" ratio ({r}) |" for r in roots[1:])
    print(f"| group | subject | subject | baseline | ratio |{extra}")
    print("|---|---|---|---|---|" + "---|" * (len(roots) - 1))
    for group, funcs in sorted(first.items()):
        if "baseline" not in funcs:
            continue
        base_dir, _ = funcs["baseline"]
        b = estimate(base_dir / "new")
        for name, (bench_dir, meta) in sorted(funcs.items()):
            if name == "baseline":
                continue
            s = estimate(bench_dir / "new")
            elems = (meta.get("throughput") or {}).get("Elements")
            sub, bas = fmt(s), fmt(b)
            if elems and s and b:
                sub += f" ({fmt(s / elems)}/elem)"
                bas += f" ({fmt(b / elems)}/elem)"
            r = ratio(first, group, name)
            cells = "".join(
                f" {x:.2f}× |" if x else " - |"
                for x in (ratio(run, group, name) for run in runs[1:])
            )
            print(f"| {group} | {name} | {sub} | {bas} | {r:.2f}× |{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
