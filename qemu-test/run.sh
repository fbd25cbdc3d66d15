#!/usr/bin/env bash
# Runner for the bare-metal SMMUv3 test (issue 9): builds the aarch64 image, boots it on
# QEMU's `virt` machine in each configuration below, streams the UART log, and fails on
# any failed check, a missing verdict, a missing required check, a non-zero exit status
# or a timeout.
#
# Usage: qemu-test/run.sh [CONFIG...]      (default: every configuration)
# Environment: QEMU (default qemu-system-aarch64), QEMU_TIMEOUT (seconds per run,
# default 120), CARGO_TARGET_DIR (default qemu-test/target).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
qemu=${QEMU:-qemu-system-aarch64}
timeout_s=${QEMU_TIMEOUT:-120}
target_dir=${CARGO_TARGET_DIR:-$here/target}
elf=$target_dir/aarch64-unknown-none/release/smmu-qemu-test
log_dir=$target_dir/qemu-logs

# name | -machine value | edu dma_mask | required checks (space separated)
# The identity (bus address = PA) DMA checks use buffers at 1 GiB+, beyond the edu
# device's default 28-bit dma_mask, so those configurations widen it; `smmuv3-dma28`
# keeps QEMU's default and relies on the SMMU to reach RAM (see README). The mask is also
# passed to the program in the boot arguments, since it cannot read it from the device.
# Scenario 2 (kdump adoption) runs wherever scenario 1 does; its disable-window DMA needs a
# dma_mask that reaches RAM, so only `smmuv3` requires it.
s1_checks="s1-probe s1-reset s1-attach-dma-domain s1-map s1-iova-below-dma-mask s1-dma-translated s1-write-blocked-after-unmap s1-write-fault-event s1-read-fault-event s1-no-gerror"
s2_checks="s2-k1 s2-dma-after-crash s2-kdump-probe s2-adopted s2-adopt-reset s2-adopt-reset-writes s2-k1-id-reserved s2-deferred s2-k1-memory-intact s2-handover-dma s2-deferred-attach s2-ste-in-kdump-memory s2-k1-memory-only-ste-rewritten s2-dma-lands-in-b2 s2-smmu-stayed-enabled s2-fallback-k1 s2-fallback-fell-back s2-fallback-full-reset s2-fallback-not-deferred s2-fallback-old-mapping-gone s2-fallback-remap-dma"
configs=(
  "no-iommu|virt|0xffffffffff|dma-identity-roundtrip dma-identity-offsets"
  "smmuv3|virt,iommu=smmuv3|0xffffffffff|edu-streamid smmu-idr smmu-disabled-after-reset dma-identity-roundtrip smmu-bypass-after-gbpa-restore $s1_checks $s2_checks s2-fallback-disable-window"
  "smmuv3-dma28|virt,iommu=smmuv3|0xfffffff|edu-streamid $s1_checks $s2_checks"
)

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "run.sh: $qemu not found (Debian: apt-get install qemu-system-arm)" >&2
  exit 1
fi

echo "==> building $elf"
(cd "$here" && cargo build --release --target aarch64-unknown-none)
mkdir -p "$log_dir"
echo "==> $("$qemu" --version | head -n1)"

selected=("$@")
total_pass=0
total_fail=0
failed_runs=()

for config in "${configs[@]}"; do
  IFS='|' read -r name machine dma_mask required <<<"$config"
  if ((${#selected[@]})) && [[ ! " ${selected[*]} " == *" $name "* ]]; then
    continue
  fi
  uart_log=$log_dir/$name.uart.log
  qemu_log=$log_dir/$name.qemu.log
  cmd=("$qemu" -machine "$machine" -cpu cortex-a57 -m 512M -smp 1
    -nodefaults -display none -monitor none -serial stdio
    -semihosting-config enable=on,target=native
    -device "edu,dma_mask=$dma_mask" -append "edu.dma_mask=$dma_mask"
    -d guest_errors,unimp -D "$qemu_log"
    -kernel "$elf")
  echo
  echo "==> [$name] timeout ${timeout_s}s ${cmd[*]}"
  set +e
  timeout -k 5 "$timeout_s" "${cmd[@]}" </dev/null | tr -d '\r' | tee "$uart_log"
  status=${PIPESTATUS[0]}
  set -e

  problems=()
  if ((status == 124 || status == 137)); then
    problems+=("timed out after ${timeout_s}s")
  elif ((status != 0)); then
    problems+=("QEMU exited with status $status")
  fi
  if grep -q '^CHECK .*: FAIL' "$uart_log"; then
    problems+=("failed checks: $(grep '^CHECK .*: FAIL' "$uart_log" | sed 's/^CHECK \(.*\): FAIL.*/\1/' | tr '\n' ' ')")
  fi
  if ! grep -qx 'ALL CHECKS PASSED' "$uart_log"; then
    problems+=("no 'ALL CHECKS PASSED' line")
  fi
  for check in $required; do
    if ! grep -q "^CHECK $check: PASS" "$uart_log"; then
      problems+=("required check '$check' did not pass")
    fi
  done
  if [[ -s $qemu_log ]]; then
    echo "--- [$name] QEMU diagnostics (-d guest_errors,unimp), counted with addresses folded:"
    sed -E 's/(addr |iova=)0x[0-9a-fA-F]+/\10x.../g' "$qemu_log" | sort | uniq -c
  fi

  pass=$(grep -c '^CHECK .*: PASS' "$uart_log" || true)
  fail=$(grep -c '^CHECK .*: FAIL' "$uart_log" || true)
  total_pass=$((total_pass + pass))
  if ((${#problems[@]})); then
    # A run that failed without a FAIL line (timeout, crash) still counts as a failure.
    total_fail=$((total_fail + (fail > 0 ? fail : 1)))
    failed_runs+=("$name")
    echo "==> [$name] FAILED: ${problems[*]}"
  else
    echo "==> [$name] ok: $pass checks passed"
  fi
done

echo
if ((${#failed_runs[@]})); then
  echo "==> qemu-test FAILED in: ${failed_runs[*]} (logs in $log_dir)"
  echo "qemu-test: $total_pass passed, $total_fail failed"
  exit 1
fi
if ((total_pass == 0)); then
  echo "run.sh: no configuration ran (unknown name in: $*)" >&2
  exit 1
fi
echo "qemu-test: $total_pass passed, $total_fail failed"
