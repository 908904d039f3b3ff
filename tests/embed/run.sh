#!/usr/bin/env bash
# Builds examples/embed as its README says, as a project of its own, and runs it: all five
# example plans to completion, checked over HTTP against `ftq run` on the same data, then SIGINT
# (exit 0); a long query interrupted midway (exit 0 after a final checkpoint) and resumed by the
# same command. Usage:
#   run.sh SOURCE_ROOT BUILD_ROOT WORK_DIR [installed|subproject]
# installed (the default): against BUILD_ROOT's ftq, installed by `meson install --destdir` and
# found through pkg-config; only embed.cpp is compiled, so the test takes seconds.
# subproject: with SOURCE_ROOT as subprojects/ftq, at -O0; compiling ftq again takes minutes.
set -euo pipefail
src=$1 build=$2 work=$3 via=${4:-installed}
ftq=$build/src/cli/ftq
check="python3 $src/tests/embed/check_embed.py"
rm -rf "$work" && mkdir -p "$work"
SECONDS=0

cp -r "$src/examples/embed" "$work/embed"
if [ "$via" = subproject ]; then
  mkdir -p "$work/embed/subprojects"
  ln -s "$src" "$work/embed/subprojects/ftq"
  setup_args=()
else
  meson install -C "$build" --destdir "$work/root" --no-rebuild >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; echo "FAIL: meson install of $build"; exit 1; }
  pcdir=$(dirname "$(find "$work/root" -name ftq.pc | head -1)")
  [ -f "$pcdir/ftq.pc" ] || { echo "FAIL: meson install left no ftq.pc"; exit 1; }
  export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$work/root"
  setup_args=(-Dvia=pkg-config)
fi
# Unoptimized: this proves the build as documented; -O0 compiles fastest.
meson setup "$work/embed/build" "$work/embed" "${setup_args[@]}" -Doptimization=0 -Ddebug=false \
  >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "FAIL: meson setup of examples/embed ($via)"; exit 1; }
ninja -C "$work/embed/build" embed >>"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; echo "FAIL: building examples/embed ($via)"; exit 1; }
embed=$work/embed/build/embed
echo "ok: built examples/embed with ftq $via (${SECONDS}s)"

# The expected result sizes: the command line's answer on the same data.
expect() {  # DATA_DIR OUT.json PLAN_NAME...
  local data=$1 out=$2 sep='{'
  shift 2
  : >"$out.tmp"
  for name in "$@"; do
    "$ftq" run "$src/examples/plans/$name.json" --data "$data" --out "$data/$name.csv" --progress never 2>/dev/null ||
      { echo "FAIL: ftq run $name.json on $data"; exit 1; }
    printf '%s"%s": %d' "$sep" "$name" $(($(wc -l <"$data/$name.csv") - 1)) >>"$out.tmp"
    sep=', '
  done
  echo '}' >>"$out.tmp" && mv "$out.tmp" "$out"
}

# 1. Every example plan at once, to the end; then a clean shutdown.
"$ftq" gen --rows 100000 --out "$work/small" >/dev/null
plans=(q1 q6 join topk distinct)
plan_files=()
for name in "${plans[@]}"; do plan_files+=("$src/examples/plans/$name.json"); done
expect "$work/small" "$work/small.json" "${plans[@]}"
echo "== five plans at once, to the end; expected rows $(cat "$work/small.json")"
$check finish "$work/small.json" -- "$embed" --checkpoint-dir "$work/ckpt-small" "$work/small" "${plan_files[@]}"

# 2. SIGINT while a query runs: it stops after a final checkpoint; the same command resumes it.
"$ftq" gen --rows 2000000 --out "$work/large" >/dev/null
expect "$work/large" "$work/large.json" join
echo "== join interrupted midway, then resumed; expected rows $(cat "$work/large.json")"
$check interrupt join -- "$embed" --checkpoint-dir "$work/ckpt-large" "$work/large" "$src/examples/plans/join.json"
$check resume "$work/large.json" -- "$embed" --checkpoint-dir "$work/ckpt-large" "$work/large" \
  "$src/examples/plans/join.json"
echo "ok: examples/embed passed (${SECONDS}s)"
