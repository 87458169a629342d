#!/usr/bin/env bash
# The package test: builds the .deb (cpack in the build folder), unpacks it into a temporary root, checks every ELF
# file with readelf (no CUDA library NEEDED, no RUNPATH/RPATH, stripped), runs the unpacked programs with a bare
# environment (mixq --paths, devices, info, score with the built-in calibration, plan, export; mixq-studio
# --screenshot offscreen on the unpacked demo model) and runs lintian when present (errors fail).
# --apt-root (root only, needs debootstrap and Debian's mirror): also installs the .deb with apt into a clean
# bookworm root and runs the same commands there (a few minutes; not part of the default test run).
# --no-build: package what the build folder already holds (ctest's label `package` uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MIXQ_BUILD_DIR:-build}"
APT_ROOT=0 BUILD=1
for a in "$@"; do
  case "$a" in
    --apt-root) APT_ROOT=1 ;;
    --no-build) BUILD=0 ;;
    *) echo "usage: scripts/test-package.sh [--no-build] [--apt-root]" >&2; exit 2 ;;
  esac
done
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
say() { echo "test-package: $*"; }
for tool in cpack dpkg-deb readelf; do command -v "$tool" >/dev/null || fail "$tool not found"; done

if [ "$BUILD" = 1 ] && [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
if [ "$BUILD" = 1 ]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target mixq mixq-studio mixq_package_files >/dev/null
fi
WORK="$(mktemp -d /tmp/mixq-package.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
(cd "$BUILD_DIR" && cpack -G DEB -B "$WORK/out" >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; fail "cpack failed"; }
grep "shlibdeps:" "$WORK/cpack.log" || true
DEB="$(ls "$WORK"/out/*.deb)"
say "$(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB, installed size $(dpkg-deb -f "$DEB" Installed-Size) KiB"
say "Depends: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -f "$DEB" Depends | grep -qi "cuda\|cublas" && fail "Depends names a CUDA package"

# --- unpack and inspect the ELF files ---
ROOT="$WORK/root"
dpkg-deb -x "$DEB" "$ROOT"
for f in copyright changelog.Debian.gz; do [ -s "$ROOT/usr/share/doc/mixq-studio/$f" ] || fail "no /usr/share/doc/mixq-studio/$f"; done
for m in mixq mixq-studio; do [ -s "$ROOT/usr/share/man/man1/$m.1.gz" ] || fail "no man page for $m"; done
nelf=0
while IFS= read -r -d '' f; do
  [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] || continue
  nelf=$((nelf + 1))
  dyn="$(readelf -d "$f")"
  if grep -E "NEEDED.*(libcuda|libcudart|libcublas|libnv)" <<<"$dyn"; then fail "$f NEEDs a CUDA library"; fi
  if grep -E "\((RUNPATH|RPATH)\)" <<<"$dyn"; then fail "$f carries a RUNPATH/RPATH"; fi
  if readelf -S "$f" | grep -qE "\.symtab|\.debug_info"; then fail "$f is not stripped"; fi
  if ldd "$f" 2>/dev/null | grep "not found"; then fail "$f has unresolved libraries"; fi
done < <(find "$ROOT" -type f -print0)
[ "$nelf" -ge 2 ] || fail "expected the two programs in the package, found $nelf ELF files"
say "$nelf ELF files: no CUDA library NEEDED, no RUNPATH, stripped"

# --- the programs, run as a user would: bare environment, data found beside the executable ---
# run_session PREFIX RUNNER...: RUNNER runs a command line (directly, or inside a chroot); PREFIX is where the
# package's /usr is as the programs see it; SCRATCH is a folder they can write.
run_session() {
  local usr="$1" scratch="$2"; shift 2
  local model="$usr/share/mixq-studio/demo-model"
  local out
  out="$("$@" "$usr/bin/mixq" --paths)" || fail "mixq --paths"
  echo "$out"
  grep -qx "demo model: $model" <<<"$out" || fail "demo model not found beside the executable ($model)"
  grep -qx "calibration text: $usr/share/mixq-studio/calibration/builtin.txt" <<<"$out" \
    || fail "calibration text not found beside the executable"
  out="$("$@" "$usr/bin/mixq" devices 2>&1)" || fail "mixq devices: $out"
  echo "$out"
  # Without a GPU, one line says why and that the CPU is used; with one, the device is listed.
  grep -qE "^cuda: none \(.+\); the CPU path is used$|^cuda:0 " <<<"$out" || fail "mixq devices gave no CUDA line"
  "$@" "$usr/bin/mixq" info "$model" >/dev/null || fail "mixq info"
  "$@" "$usr/bin/mixq" score "$model" --out "$scratch/scores.json" --samples 2 --seq-len 32 2>/dev/null \
    || fail "mixq score with the built-in calibration"
  "$@" "$usr/bin/mixq" plan "$model" --scores "$scratch/scores.json" --target-bits 5 --out "$scratch/plan.json" \
    >/dev/null || fail "mixq plan"
  "$@" "$usr/bin/mixq" export "$model" --plan "$scratch/plan.json" --out "$scratch/onnx" >/dev/null \
    || fail "mixq export"
  # No task flags: the MMLU and PIQA data shipped in the package are the default.
  "$@" "$usr/bin/mixq" eval "$scratch/onnx" --limit 3 --no-baseline --out "$scratch/eval.json" >/dev/null 2>&1 \
    || fail "mixq eval with the shipped MMLU / PIQA data"
  # No MODEL: the app opens the demo model it finds beside itself; the CLI's scores spare it a second scoring run.
  "$@" "$usr/bin/mixq-studio" --scores "$scratch/scores.json" --screenshot "$scratch/shot.png" >/dev/null 2>&1 \
    || fail "mixq-studio --screenshot"
}
check_session() {
  local dir="$1"
  grep -q '"source": *"builtin"' "$dir/scores.json" || fail "scores.json was not made with the built-in calibration"
  [ -s "$dir/onnx/model.onnx" ] && [ -s "$dir/onnx/genai_config.json" ] || fail "export wrote no model.onnx"
  grep -q '"mmlu": *"[^"]*/share/mixq-studio/eval-data/mmlu"' "$dir/eval.json" || fail "eval did not use the shipped MMLU"
  grep -q '"n": *3' "$dir/eval.json" || fail "eval.json has no task with n = 3"
  for f in mmlu/LICENSE-CC-BY-4.0.txt mmlu/LICENSE-MIT-MMLU.txt piqa/LICENSE-AFL-3.0.txt README.md; do
    [ -s "$ROOT/usr/share/mixq-studio/eval-data/$f" ] || fail "eval-data/$f missing from the package"
  done
  [ "$(head -c8 "$dir/shot.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "no PNG screenshot"
  [ "$(stat -c %s "$dir/shot.png")" -gt 20000 ] || fail "screenshot is suspiciously small"
}
mkdir -p "$WORK/run" "$WORK/home"
bare=(env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8)
t0=$(date +%s)
run_session "$ROOT/usr" "$WORK/run" "${bare[@]}"
check_session "$WORK/run"
say "unpacked package: mixq info/score/plan/export and mixq-studio --screenshot OK ($(( $(date +%s) - t0 )) s)"

# --- lintian ---
if command -v lintian >/dev/null; then
  lintian --fail-on error "$DEB" || fail "lintian reports errors"
  say "lintian: no errors"
else
  say "lintian not installed: skipped (scripts/install-deps.sh installs it)"
fi

# --- optional: apt install into a clean bookworm root ---
# The clean root is made once with debootstrap (minbase) and kept as a tarball in the build folder; each run
# unpacks a fresh copy, installs the .deb with apt (pulling its Depends from the mirror) and runs the session.
if [ "$APT_ROOT" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || fail "--apt-root needs root"
  command -v debootstrap >/dev/null || fail "--apt-root needs debootstrap (apt-get install debootstrap)"
  MIRROR="${MIXQ_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  CACHE="$BUILD_DIR/bookworm-minbase.tar"
  t0=$(date +%s)
  if [ ! -s "$CACHE" ]; then
    say "debootstrap bookworm from $MIRROR (once; cached in $CACHE)"
    debootstrap --variant=minbase bookworm "$WORK/base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
    tar -C "$WORK/base" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
    rm -rf "$WORK/base"
  fi
  CH="$WORK/chroot"
  mkdir -p "$CH" && tar -C "$CH" -xf "$CACHE"
  cp /etc/resolv.conf "$CH/etc/resolv.conf"
  cp "$DEB" "$CH/tmp/"
  mount -t proc proc "$CH/proc"
  trap 'umount "$CH/proc" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  chroot "$CH" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq /tmp/$(basename "$DEB")" >"$WORK/apt.log" 2>&1 \
    || { tail -30 "$WORK/apt.log"; fail "apt-get install of the .deb into the clean root failed"; }
  say "installed into a clean bookworm root with apt ($(( $(date +%s) - t0 )) s)"
  mkdir -p "$CH/tmp/run" "$CH/tmp/home"
  run_session /usr /tmp/run chroot "$CH" env -i PATH=/usr/bin:/bin HOME=/tmp/home LANG=C.UTF-8
  check_session "$CH/tmp/run"
  say "clean bookworm root: the session runs with no extra environment ($(( $(date +%s) - t0 )) s in all)"
  umount "$CH/proc"
fi
say "OK"
