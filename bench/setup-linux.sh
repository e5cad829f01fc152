#!/usr/bin/env bash
# Prepare a configured, partly built Linux 6.12 tree for hdrtest's acceptance
# tests and benchmarks (the seed case: i915 GVT-g's gvt.h and KVM's
# kvm_page_track.h).
#
# Usage: bench/setup-linux.sh [TARGET]        (default TARGET: /work/linux)
#
# Result in TARGET:
#   - Debian's linux-source-6.12 sources, committed pristine in a git repo
#     (author hdrtest <hdrtest@localhost>), so tests can `git diff`/`git status`
#     against them; every build output stays untracked and ignored, because
#     Debian's top-level .gitignore ends with `/*`.
#   - .config = x86_64_defconfig + KVM, KVM_INTEL, DRM, DRM_I915, VFIO and
#     DRM_I915_GVT_KVMGT (which selects DRM_I915_GVT, KVM_EXTERNAL_WRITE_TRACKING
#     and VFIO_MDEV); read back and checked.
#   - `make prepare` done, a handful of i915 and gvt objects compiled, and
#     compile_commands.json at the tree root.
#
# Environment: JOBS (default 2), HDRTEST_LINUX_CACHE (where the .deb is kept,
# default /tmp/hdrtest-linux-pkg), LINUX_SOURCE_PKG (default linux-source-6.12),
# GVT (m, the default, builds DRM_I915_GVT_KVMGT as a module the way its author
# does, so gvt/ objects carry -DMODULE; y builds it in), EXTRA_OBJECTS
# (default empty: a space-separated list of further objects compiled in step 6
# with the i915 ones, e.g. "init/main.o kernel/fork.o mm/memory.o", so the
# compile database holds the flags that core code's headers are built with;
# each must be one the configuration builds).
# Must run as root (apt-get). Re-running skips the steps already done.
set -euo pipefail

TARGET=${1:-/work/linux}
PKG=${LINUX_SOURCE_PKG:-linux-source-6.12}
CACHE=${HDRTEST_LINUX_CACHE:-/tmp/hdrtest-linux-pkg}
JOBS=${JOBS:-2}
GVT=${GVT:-m}
read -r -a EXTRA <<<"${EXTRA_OBJECTS:-}"
[[ $GVT == m || $GVT == y ]] || { echo "GVT must be m or y" >&2; exit 2; }
GIT_ID=(-c user.name=hdrtest -c user.email=hdrtest@localhost)

# A handful of objects: enough for compile_commands.json to carry the Kbuild
# flags of drivers/gpu/drm/i915 and of its gvt/ part (KBUILD_MODNAME differs:
# gvt/ objects belong to the kvmgt module). 6.12 has gvt/gvt.h but no gvt/gvt.c.
OBJECTS=(
    drivers/gpu/drm/i915/i915_driver.o
    drivers/gpu/drm/i915/intel_gvt.o
    drivers/gpu/drm/i915/gvt/aperture_gm.o
    drivers/gpu/drm/i915/gvt/kvmgt.o
    drivers/gpu/drm/i915/gvt/page_track.o
    drivers/gpu/drm/i915/gvt/vgpu.o
    ${EXTRA[@]+"${EXTRA[@]}"}
)

log() { printf '[setup-linux] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

STEP_NAME=""
STEP_START=""
step_begin() { STEP_NAME=$1; STEP_START=$EPOCHREALTIME; log "-- $STEP_NAME"; }
step_end() {
    local now=$EPOCHREALTIME
    awk -v n="$STEP_NAME" -v a="$STEP_START" -v b="$now" \
        'BEGIN { printf "[setup-linux] %-18s %7.1f s\n", n, b - a }' >&2
}
SCRIPT_START=$EPOCHREALTIME

APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED == 0 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
}

[[ $(id -u) == 0 ]] || die "run as root (apt-get download/install)"

# --- 1. build tools ---------------------------------------------------------
step_begin tools
NEEDED=(flex bison bc libelf-dev libssl-dev make gcc git xz-utils python3)
MISSING=()
for p in "${NEEDED[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        MISSING+=("$p")
    fi
done
if ((${#MISSING[@]})); then
    log "installing: ${MISSING[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
fi
step_end

# --- 2. source package ------------------------------------------------------
step_begin download
mkdir -p "$CACHE"
# _apt must be able to write there, or apt warns and downloads unsandboxed.
if id _apt >/dev/null 2>&1; then chown _apt "$CACHE"; fi
shopt -s nullglob
debs=("$CACHE/${PKG}_"*.deb)
if ((${#debs[@]} == 0)); then
    # Only look the package up in the lists after an update if it is unknown.
    apt-cache show "$PKG" >/dev/null 2>&1 || apt_update_once
    (cd "$CACHE" && apt-get download -q "$PKG")
    debs=("$CACHE/${PKG}_"*.deb)
fi
shopt -u nullglob
((${#debs[@]} >= 1)) || die "no $PKG .deb in $CACHE"
DEB=${debs[-1]}
log "package: $(basename "$DEB")"
step_end

# --- 3. unpack and commit the pristine sources ------------------------------
step_begin extract
if [[ -e $TARGET/Makefile ]]; then
    # Sources and their commit are made together (below), so a tree without
    # .git was not made by this script: refuse rather than commit build outputs.
    [[ -d $TARGET/.git ]] || die "$TARGET exists but has no .git; remove it and re-run"
    log "sources already in $TARGET"
else
    [[ ! -e $TARGET ]] || [[ -z $(ls -A "$TARGET") ]] || die "$TARGET exists and is not a kernel tree"
    PARTIAL="$TARGET.partial"
    rm -rf "$PARTIAL" "$CACHE/deb"
    mkdir -p "$PARTIAL"
    dpkg -x "$DEB" "$CACHE/deb"
    tarball=("$CACHE"/deb/usr/src/"$PKG".tar.*)
    tar -xf "${tarball[0]}" -C "$PARTIAL" --strip-components=1
    rm -rf "$CACHE/deb"
    step_end
    step_begin git-commit
    # Commit before anything is built: then the commit holds sources only, and
    # everything make writes later stays untracked (and ignored by `/*`).
    git -C "$PARTIAL" init -q
    git -C "$PARTIAL" add -f .
    git -C "$PARTIAL" "${GIT_ID[@]}" commit -q -m "$(basename "$DEB" .deb) pristine sources"
    rmdir "$TARGET" 2>/dev/null || true
    mv "$PARTIAL" "$TARGET"
fi
step_end

cd "$TARGET"

# --- 4. configuration -------------------------------------------------------
# DRM_I915_GVT_KVMGT (drivers/gpu/drm/i915/Kconfig) depends on DRM_I915,
# KVM_X86, 64BIT and VFIO, and selects DRM_I915_GVT, KVM_EXTERNAL_WRITE_TRACKING
# and VFIO_MDEV. Those three are hidden (no prompt): only a select sets them, so
# they are checked below, not set. KVM_X86 is def_tristate KVM if KVM_INTEL (or
# KVM_AMD) is on; both sit under the VIRTUALIZATION menu.
config_value() {
    # Prints y, m, or n (for "is not set" or absent).
    local v
    v=$(sed -n "s/^CONFIG_$1=\(.*\)$/\1/p" .config)
    printf '%s\n' "${v:-n}"
}
check_config() {
    local bad=0 sym want got
    for spec in VIRTUALIZATION=y KVM=ym KVM_INTEL=ym KVM_X86=ym DRM=ym DRM_I915=ym \
                VFIO=ym VFIO_MDEV=ym DRM_I915_GVT_KVMGT=$GVT DRM_I915_GVT=y \
                KVM_EXTERNAL_WRITE_TRACKING=y; do
        sym=${spec%%=*}; want=${spec#*=}; got=$(config_value "$sym")
        if [[ $want != *"$got"* ]]; then
            log "CONFIG_$sym=$got, wanted one of [$want]"
            bad=1
        fi
    done
    return $bad
}

step_begin config
if [[ -f .config ]] && check_config 2>/dev/null; then
    log ".config already has the wanted options"
else
    make -s x86_64_defconfig
    scripts/config -e VIRTUALIZATION -e KVM -e KVM_INTEL -e DRM -e DRM_I915 \
                   -e VFIO
    if [[ $GVT == m ]]; then
        scripts/config -e MODULES -m DRM_I915_GVT_KVMGT
    else
        scripts/config -e DRM_I915_GVT_KVMGT
    fi
    make -s olddefconfig
    check_config || die "olddefconfig did not keep the wanted options (see above)"
fi
for s in KVM KVM_INTEL DRM DRM_I915 VFIO VFIO_MDEV DRM_I915_GVT_KVMGT DRM_I915_GVT \
         KVM_EXTERNAL_WRITE_TRACKING; do
    log "  CONFIG_$s=$(config_value "$s")"
done
step_end

# --- 5. prepare (generated headers, autoconf.h, objtool, ...) ---------------
step_begin prepare
make -s -j"$JOBS" prepare
[[ -f include/generated/autoconf.h ]] || die "make prepare wrote no include/generated/autoconf.h"
grep -q '^#define CONFIG_KVM_EXTERNAL_WRITE_TRACKING 1$' include/generated/autoconf.h \
    || die "autoconf.h lacks CONFIG_KVM_EXTERNAL_WRITE_TRACKING"
step_end

# --- 6. a handful of objects -------------------------------------------------
step_begin objects
make -s -j"$JOBS" "${OBJECTS[@]}"
for o in "${OBJECTS[@]}"; do
    cmd="$(dirname "$o")/.$(basename "$o").cmd"
    [[ -f $o && -f $cmd ]] || die "missing $o or $cmd after make"
done
step_end

# --- 7. compile_commands.json -----------------------------------------------
step_begin compile_db
# The whole tree, as `make compile_commands.json` does: it then also holds the
# host programs make prepare built (scripts/, arch/x86/tools/), whose flags are
# wrong for any kernel header; hdrtest must cope with that, as users' databases
# have them. File names are resolved against the tree root (-d).
python3 scripts/clang-tools/gen_compile_commands.py -d . -o compile_commands.json
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' compile_commands.json)
((n >= ${#OBJECTS[@]})) || die "compile_commands.json has $n entries, expected >= ${#OBJECTS[@]}"
grep -q '/gvt/kvmgt\.c"' compile_commands.json || die "compile_commands.json has no gvt/kvmgt.c entry"
log "compile_commands.json: $n entries"
step_end

# --- 8. the tree must still match its commit --------------------------------
step_begin git-check
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    git status --short --untracked-files=no | head -20 >&2
    die "tracked files in $TARGET differ from the pristine commit"
fi
step_end

awk -v a="$SCRIPT_START" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "[setup-linux] total              %7.1f s\n", b - a }' >&2
log "ready: $TARGET ($(git log -1 --format=%s))"
