#!/usr/bin/env bash
# Instructions per alloc+free pair of this project and of gpu-alloc 0.6.2 on each
# `--quick` trace of the null device, counted by callgrind (repeatable whatever
# else the machine does, unlike times). Needs valgrind.
#
#   bench/callgrind.sh [TRACE...]     (default: every trace)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/callgrind"
CARGO_PROFILE_RELEASE_DEBUG=true cargo build -q --release -p gpu-alloc-bench --bin traces
bin="$CARGO_TARGET_DIR/release/traces"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
[ $# -gt 0 ] || set -- "churn small" "churn mixed" "frame staging" "level load" \
    "VMA case, free fwd" "VMA case, free rnd" "1000 live" "10000 live" "100000 live"
printf '%-20s %8s %8s %6s\n' trace ours 0.6.2 ratio
for trace in "$@"; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" --quick --no-vulkan \
        --only "$trace" >/dev/null 2>&1
    # Inclusive cost and call count of each allocator's alloc and dealloc entry
    # points (ours: `alloc`, `dealloc`; 0.6.2: `alloc_internal`, `dealloc`).
    callgrind_annotate --inclusive=yes "$out/cg" 2>/dev/null \
        | grep -E "=> .*GpuAllocator<M>::(alloc|alloc_internal|dealloc) \(" \
        | python3 -c '
import re, sys
ours, old = [0, 0], [0, 0]
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+).*=> (\S+):.*GpuAllocator<M>::(\w+) \(([\d,]+)x\)", line)
    if not m:
        continue
    cost, calls = int(m[1].replace(",", "")), int(m[4].replace(",", ""))
    is_old = "gpu-alloc-0.6.2" in m[2]
    if m[3] == "alloc" and is_old:
        continue  # 0.6.2 alloc forwards to alloc_internal
    side = old if is_old else ours
    side[0] += cost
    if m[3] != "dealloc":
        side[1] = max(side[1], calls)
o, p = ours[0] / max(ours[1], 1), old[0] / max(old[1], 1)
print(f"{sys.argv[1]:20s} {o:8.0f} {p:8.0f} {o / p:6.2f}")
' "$trace"
done
