#!/usr/bin/env bash
# Runs every fuzz target (or those named as arguments) for LIFEBOAT_FUZZ_SECONDS each, with the
# committed corpus in fuzz/corpus/TARGET, which the run extends. See fuzz/README.md.
#
#   LIFEBOAT_FUZZ_SECONDS    seconds per target (default 600)
#   LIFEBOAT_FUZZ_JOBS       parallel fuzzing jobs per target (default 1)
#   LIFEBOAT_FUZZ_SANITIZER  none (default: safe Rust, panics are the crashes) or address
#   LIFEBOAT_FUZZ_TOOLCHAIN  the nightly toolchain to use (default nightly)
#
# Exits 1 if any target crashed; crashing inputs are in fuzz/artifacts/TARGET/, the output of
# each target in fuzz/artifacts/TARGET/run.log.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${LIFEBOAT_FUZZ_SECONDS:-600}"
jobs="${LIFEBOAT_FUZZ_JOBS:-1}"
sanitizer="${LIFEBOAT_FUZZ_SANITIZER:-none}"
toolchain="${LIFEBOAT_FUZZ_TOOLCHAIN:-nightly}"

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
    echo "fuzz: the $toolchain toolchain is missing (rustup toolchain install $toolchain)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

# One build for every target (they share the lifeboat crate), so the time limit is all fuzzing.
echo "== build (cargo +$toolchain fuzz build --sanitizer $sanitizer)"
cargo "+$toolchain" fuzz build --sanitizer "$sanitizer"
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "== fuzz $t: ${seconds}s, $jobs job(s), sanitizer $sanitizer"
    args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "dict/$t.dict" ]; then
        args+=(-dict="$PWD/dict/$t.dict")
    fi
    if [ "$jobs" -gt 1 ]; then
        args+=(-jobs="$jobs" -workers="$jobs")
    fi
    if cargo "+$toolchain" fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- "${args[@]}" \
        >"artifacts/$t/run.log" 2>&1; then
        # The last status line: executions, coverage, corpus size.
        grep -E '^#[0-9]+' "artifacts/$t/run.log" | tail -n 1 || true
        grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
            "artifacts/$t/run.log" || true
    else
        echo "fuzz $t: CRASH (see fuzz/artifacts/$t/run.log)" >&2
        grep -E -A3 "panicked at|ERROR: libFuzzer|SUMMARY" "artifacts/$t/run.log" | head -n 20 >&2 || true
        failed+=("$t")
    fi
done

# The backup targets' scratch stores (one per process; see fuzz_targets/common/store.rs).
for d in /dev/shm/lifeboat-fuzz-* "${TMPDIR:-/tmp}"/lifeboat-fuzz-*; do
    [ -d "$d" ] && [ ! -e "/proc/${d##*-}" ] && rm -rf "$d"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
