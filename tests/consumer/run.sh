#!/usr/bin/env bash
# Proves ftq is consumable: (1) as a meson subproject, (2) installed by `meson install` and found
# through pkg-config. Usage: run.sh SOURCE_ROOT BUILD_ROOT WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
expected=$'1,3\n2,1\n3,1'

# (1) subproject
cp -r "$src/tests/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/ftq"
# Unoptimized: this proves the build wiring, and -O0 halves the time to compile ftq again.
meson setup "$work/sub/build" "$work/sub" -Doptimization=0 -Ddebug=false >"$work/sub.log" 2>&1 || { cat "$work/sub.log"; exit 1; }
ninja -C "$work/sub/build" >>"$work/sub.log" 2>&1 || { tail -40 "$work/sub.log"; exit 1; }
got=$("$work/sub/build/consumer")
[ "$got" = "$expected" ] || { echo "subproject consumer printed: $got"; exit 1; }
echo "ok: meson subproject"

# (2) meson install + pkg-config
meson install -C "$build" --destdir "$work/root" --no-rebuild >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
pcdir=$(dirname "$(find "$work/root" -name ftq.pc | head -1)")
[ -f "$pcdir/ftq.pc" ] || { echo "no ftq.pc installed"; exit 1; }
[ -f "$work/root$prefix/include/ftq/engine.hpp" ] || { echo "headers not installed"; exit 1; }
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$work/root"
cp -r "$src/tests/consumer" "$work/pc"
meson setup "$work/pc/build" "$work/pc" -Dvia=pkg-config >"$work/pc.log" 2>&1 || { cat "$work/pc.log"; exit 1; }
ninja -C "$work/pc/build" >>"$work/pc.log" 2>&1 || { tail -40 "$work/pc.log"; exit 1; }
got=$("$work/pc/build/consumer")
[ "$got" = "$expected" ] || { echo "pkg-config consumer printed: $got"; exit 1; }
echo "ok: pkg-config"
