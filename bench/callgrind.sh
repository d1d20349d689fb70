#!/usr/bin/env bash
# Instructions per alloc+free pair of this project and of gpu-alloc 0.6.2 on each
# `--quick` trace of the null device, counted by callgrind (repeatable whatever
# else the machine does, unlike times), and on the VMA case of our virtual
# allocator and of offset-allocator (columns `virtual` and `offset`, `-` on the
# other traces). Needs valgrind.
#
#   bench/callgrind.sh [TRACE...]     (default: every trace)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/callgrind"
# One codegen unit: with the default 16, a change to one crate can move code of
# the others between units and change what is inlined (0.6.2's count on frame
# staging moved from 482 to 490 with no change to its code); with one, counts
# move only with the code they measure.
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}"
CARGO_PROFILE_RELEASE_DEBUG=true cargo build -q --release -p gpu-alloc-bench --bin traces
bin="$CARGO_TARGET_DIR/release/traces"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
[ $# -gt 0 ] || set -- "churn small" "churn mixed" "frame staging" "level load" \
    "VMA case, free fwd" "VMA case, free rnd" "1000 live" "10000 live" "100000 live"
printf '%-20s %8s %8s %6s %8s %8s\n' trace ours 0.6.2 ratio virtual offset
for trace in "$@"; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" --quick --no-vulkan \
        --only "$trace" >/dev/null 2>&1
    # Inclusive cost and call count of each row's alloc and free (the bench's
    # `BenchAlloc` impls, never inlined: the allocator's own entry points may be
    # inlined into them), which build the request and call `alloc`/`dealloc`.
    # The rows are generic over whether hints are given (`OursSim<_>`); one
    # trace uses one of the two.
    callgrind_annotate --inclusive=yes "$out/cg" 2>/dev/null \
        | grep -E "=> .*<gpu_alloc_bench::sim::(OursSim|Old062|Virtual|Offset)(<_>)? as gpu_alloc_bench::BenchAlloc>::(alloc|free) \(" \
        | python3 -c '
import re, sys
sides = {"OursSim": [0, 0], "Old062": [0, 0], "Virtual": [0, 0], "Offset": [0, 0]}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+).*sim::(\w+)(?:<_>)? as gpu_alloc_bench::BenchAlloc>::(\w+) \(([\d,]+)x\)", line)
    if not m:
        continue
    cost, calls = int(m[1].replace(",", "")), int(m[4].replace(",", ""))
    side = sides[m[2]]
    side[0] += cost
    if m[3] == "alloc":
        side[1] = max(side[1], calls)
ours, old = sides["OursSim"], sides["Old062"]
o, p = ours[0] / max(ours[1], 1), old[0] / max(old[1], 1)
def per(side):
    return "%8.0f" % (side[0] / side[1]) if side[1] else "%8s" % "-"
print(f"{sys.argv[1]:20s} {o:8.0f} {p:8.0f} {o / p:6.2f} " + per(sides["Virtual"]) + " " + per(sides["Offset"]))
' "$trace"
done
