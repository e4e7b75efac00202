#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a while from its committed
# corpus (fuzz/corpus/<target>/, read only: what a run finds goes to a scratch
# folder). Any crash, leak or timeout fails, and its input's path is printed.
#
# Usage: scripts/fuzz.sh [seconds per target]   (default 30)
# Needs cargo-fuzz and, for the sanitizer flags it passes, a nightly toolchain
# (.ci/run installs both). Where no nightly can be installed, the stable
# toolchain is used with RUSTC_BOOTSTRAP=1, which lets it take those flags.
# FUZZ_TOOLCHAIN picks one (default: nightly if installed, else stable).
# FUZZ_TARGET_DIR sets the build folder (default /var/tmp/meridian-fuzz-target);
# FUZZ_WORK keeps the scratch corpora and artifacts there instead of a temporary
# folder that is removed at the end (unless something crashed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
target_dir="${FUZZ_TARGET_DIR:-/var/tmp/meridian-fuzz-target}"
work="${FUZZ_WORK:-$(mktemp -d /var/tmp/meridian-fuzz-XXXXXX)}"
mkdir -p "$work"
# The scratch folder goes at the end, unless it holds a crash's input.
keep=""
trap '[ -n "$keep" ] || [ -n "${FUZZ_WORK:-}" ] || rm -rf "$work"' EXIT
toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
  if rustup toolchain list | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if ! rustc "+$toolchain" --version | grep -q nightly; then
  echo "fuzzing with $toolchain, not a nightly: RUSTC_BOOTSTRAP=1 lets it take the sanitizer flags"
  export RUSTC_BOOTSTRAP=1
fi
fuzz() { cargo "+$toolchain" fuzz "$@"; }

fuzz build --target-dir "$target_dir"
failed=()
for target in $(fuzz list); do
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "fuzz/corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  # The first folder gets what this run finds; the committed corpus only seeds it.
  if ! fuzz run --target-dir "$target_dir" "$target" \
    "$work/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1; then
    failed+=("$target")
  fi
  # Anything libFuzzer wrote as an artifact is a failure, whatever it exited with.
  if [ -n "$(ls -A "$work/artifacts/$target")" ]; then
    echo "FAIL: $target left artifacts:"
    ls -l "$work/artifacts/$target"/*
    [[ " ${failed[*]} " == *" $target "* ]] || failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  keep=yes
  echo "FAIL: fuzz targets that crashed: ${failed[*]}"
  echo "Their inputs are in $work/artifacts/<target>/; replay one with"
  echo "  cargo +$toolchain fuzz run <target> $work/artifacts/<target>/<file>"
  exit 1
fi
echo "== fuzz: every target ran ${seconds}s without a crash"
