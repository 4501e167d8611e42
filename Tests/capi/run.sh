#!/bin/bash
# The C API against an installed tree: `make install PREFIX=$TMP/prefix`,
# checks of what was installed (soname, exports, no Swift runtime needed),
# then a C program (built with pkg-config) and a Python ctypes script, each on
# its own sandbox of file-backed slots, against the real slot-server on
# loopback (and Tests/Fixtures/update_fixture.py, throttled, for cancel).
#
# usage: Tests/capi/run.sh   KEEP=1 keeps the temp dir; SKIP_INSTALL=DIR reuses a
#                            tree installed earlier into DIR; INSTALL_SCRATCH and
#                            INSTALL_SCRATCH_STATIC pick make install's build dirs;
# Every wrong result stops the run with FAIL and a non-zero exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/Tests/capi
export PATH=/opt/swift/usr/bin:$PATH
TMP=$(mktemp -d /tmp/slotctl-capi.XXXXXX)
T0=$SECONDS
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
say() { printf '    %s\n' "$*"; }
fail() {
    printf '\nFAIL: %s\n' "$*" >&2
    exit 1
}
# json FILE PYTHON-EXPRESSION-ON-j: prints the value (strings bare).
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if isinstance(v,str) else json.dumps(v))' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------ install
P=$TMP/prefix
if [ -n "${SKIP_INSTALL:-}" ]; then
    step "reusing the tree installed in $SKIP_INSTALL"
    P=$SKIP_INSTALL
else
    step "make install PREFIX=$P (release builds; the first takes minutes)"
    t=$SECONDS
    make -C "$ROOT" --no-print-directory install PREFIX="$P" > "$TMP/install.log" 2>&1 || {
        tail -40 "$TMP/install.log" >&2
        fail "make install failed (log above)"
    }
    say "built and installed in $((SECONDS - t)) s"
fi

step "the installed tree"
for f in bin/slotctl libexec/slotctl/slotctl-update bin/slot-boot bin/slot-server lib/libslotctl.so.1.0.0 include/slotctl.h lib/pkgconfig/slotctl.pc; do
    [ -f "$P/$f" ] || fail "$P/$f is missing"
done
[ "$(readlink "$P/lib/libslotctl.so.1")" = libslotctl.so.1.0.0 ] || fail "lib/libslotctl.so.1 does not link to libslotctl.so.1.0.0"
[ "$(readlink "$P/lib/libslotctl.so")" = libslotctl.so.1 ] || fail "lib/libslotctl.so does not link to libslotctl.so.1"
LIB=$P/lib/libslotctl.so.1.0.0
soname=$(readelf -d "$LIB" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libslotctl.so.1 ] || fail "soname is '$soname', expected libslotctl.so.1"
say "soname $soname; $(du -k "$LIB" | cut -f1) KiB"
# dlclose must not unmap the library's Swift runtime while its threads live.
readelf -d "$LIB" | grep -q 'FLAGS_1.*NODELETE' || fail "libslotctl is not linked -z nodelete"
# Global symbols defined by the library: exactly the API, all in version SLOTCTL_1, and the
# entry point of the bin/slotctl launcher, slotctl_main, in SLOTCTL_PRIVATE.
# (gold also lists the version names themselves as absolute symbols; lld does not.)
exported=$(nm -D --defined-only --extern-only "$LIB" | awk '$3 ~ /@@/ {print $3}' | sort)
expected="slotctl_active_path@@SLOTCTL_1
slotctl_boot@@SLOTCTL_1
slotctl_cancel_update@@SLOTCTL_1
slotctl_check_update@@SLOTCTL_1
slotctl_close@@SLOTCTL_1
slotctl_current_version@@SLOTCTL_1
slotctl_free@@SLOTCTL_1
slotctl_last_error@@SLOTCTL_1
slotctl_main@@SLOTCTL_PRIVATE
slotctl_mark_bad@@SLOTCTL_1
slotctl_mark_good@@SLOTCTL_1
slotctl_open@@SLOTCTL_1
slotctl_start_update@@SLOTCTL_1
slotctl_status_json@@SLOTCTL_1
slotctl_update_progress@@SLOTCTL_1"
[ "$exported" = "$expected" ] || fail "exported symbols differ: $(diff <(echo "$expected") <(echo "$exported") | tr '\n' ' ')"
say "exports: $(echo "$exported" | grep -c '^slotctl_') slotctl_* functions, nothing else global"
# Every function the header declares is exported, and the other way round.
declared=$(sed -n 's/^[a-z].* \**\(slotctl_[a-z_]*\)(.*/\1/p' "$P/include/slotctl.h" | sort)
[ "$declared" = "$(echo "$exported" | sed -n 's/@@SLOTCTL_1//p' | sort)" ] || fail "slotctl.h and the exports differ: $declared"
# No Swift runtime needed by anything installed.
for f in lib/libslotctl.so.1.0.0 bin/slotctl libexec/slotctl/slotctl-update bin/slot-server; do
    deps=$(ldd "$P/$f") || fail "ldd $f failed"
    if grep -q 'not found' <<< "$deps"; then fail "$f: $(grep 'not found' <<< "$deps" | tr '\n' ' ')"; fi
    if grep -qi 'swift\|/opt/' <<< "$deps"; then fail "$f needs the Swift runtime: $(grep -i 'swift\|/opt/' <<< "$deps" | tr '\n' ' ')"; fi
    if readelf -d "$P/$f" | grep -E 'R(UN)?PATH' | grep -q '/opt/swift'; then fail "$f has a RUNPATH into /opt/swift"; fi
done
say "ldd libslotctl.so: $(ldd "$LIB" | awk '/=>/ {print $1}' | head -8 | tr '\n' ' ')... (no libswift*)"
if ldd "$P/bin/slot-boot" > /dev/null 2>&1; then fail "slot-boot is dynamically linked"; fi
# bin/slotctl is the launcher: the command line runs in the library (slotctl_main),
# which it opens with dlopen (so a plain mark-good, exec'd to slot-boot, never maps it).
if readelf -d "$P/bin/slotctl" | grep -q 'NEEDED.*\[libslotctl'; then fail "bin/slotctl links libslotctl (it should dlopen it)"; fi
readelf -d "$P/bin/slotctl" | grep -q "RUNPATH.*\$ORIGIN/../lib" || fail "bin/slotctl has no RUNPATH \$ORIGIN/../lib"
say "slot-boot: static; slotctl: a $(stat -c %s "$P/bin/slotctl")-byte launcher that opens libslotctl.so.1; slotctl, slotctl-update, slot-server: no libswift*"
# make install strips; slotctl (it runs on every boot) loads no Foundation.
for f in bin/slotctl libexec/slotctl/slotctl-update bin/slot-boot bin/slot-server lib/libslotctl.so.1.0.0; do
    file -b "$P/$f" | grep -q ', stripped' || fail "$f is not stripped"
done
if ldd "$P/bin/slotctl" | grep -q 'libFoundation\.so\|libFoundationNetworking\|ICU'; then fail "slotctl loads Foundation"; fi
if grep -q 'icudt' "$P/bin/slotctl"; then fail "slotctl carries the ICU data"; fi
say "all stripped; slotctl carries no Foundation, no ICU data"
env -i PATH=/usr/bin:/bin "$P/bin/slotctl" --help > /dev/null || fail "installed slotctl does not run without the toolchain on PATH"
env -i PATH=/usr/bin:/bin "$P/bin/slot-server" --help > /dev/null || fail "installed slot-server does not run without the toolchain on PATH"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
flags=$(pkg-config --cflags --libs slotctl | sed 's/ *$//')
[ "$flags" = "-I$P/include -L$P/lib -lslotctl" ] || fail "pkg-config says '$flags'"
say "pkg-config --cflags --libs slotctl: $flags"

step "compile the C test and a C++ include check against the installed library"
# shellcheck disable=SC2086  # pkg-config output is a list of words
cc -std=c99 -Wall -Wextra -Werror -pedantic -o "$TMP/capi_test" "$HERE/capi_test.c" $flags -Wl,-rpath,"$P/lib"
printf '#include <slotctl.h>\nint main() { slotctl_t h = nullptr; int rc = slotctl_open("/nonexistent", &h); return rc == SLOTCTL_ERR_USAGE ? 0 : 1; }\n' > "$TMP/cxx.cpp"
# shellcheck disable=SC2086
c++ -std=c++11 -Wall -Werror -o "$TMP/cxx" "$TMP/cxx.cpp" $flags -Wl,-rpath,"$P/lib"
env -i "$TMP/cxx" || fail "the C++ program did not get SLOTCTL_ERR_USAGE"
readelf -d "$TMP/capi_test" | grep -q 'NEEDED.*\[libslotctl.so.1\]' || fail "capi_test does not need libslotctl.so.1"
say "capi_test needs libslotctl.so.1; C++ links and runs"

# ------------------------------------------------------------------ servers
step "keys, slot-server and the throttled fixture server on loopback"
"$P/bin/slot-server" keygen --out "$TMP/keys" > /dev/null
export SLOT_SERVER_ADMIN_TOKEN=capi-test-token
PORT=$(free_port)
SERVER=http://127.0.0.1:$PORT
"$P/bin/slot-server" serve --listen "127.0.0.1:$PORT" --data "$TMP/server" \
    --release-key "$TMP/keys/release.pub" --refresh-interval 0.2 > "$TMP/server.log" 2>&1 &
PIDS+=($!)
python3 "$ROOT/Tests/Fixtures/update_fixture.py" "$TMP/fixture.port" > "$TMP/fixture.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    curl -fs "$SERVER/healthz" > /dev/null 2>&1 && [ -s "$TMP/fixture.port" ] && break
    sleep 0.1
done
curl -fs "$SERVER/healthz" > /dev/null || fail "slot-server did not come up: $(cat "$TMP/server.log")"
[ -s "$TMP/fixture.port" ] || fail "the fixture server did not come up: $(cat "$TMP/fixture.log")"
FIXTURE=http://127.0.0.1:$(cat "$TMP/fixture.port")
# Devices enrol with the factory token on first contact (the fixture asks for no identity).
"$P/bin/slot-server" enroll-token --server "$SERVER" --product "capi-test" --out "$TMP/enroll-token" 2> /dev/null \
    || fail "slot-server enroll-token failed"
say "slot-server $SERVER, fixture $FIXTURE"

step "images and two sandboxes of file-backed slots (c, py), provisioned with the installed slotctl"
head -c 2M /dev/urandom > "$TMP/factory.img"
head -c 3M /dev/urandom > "$TMP/v1.img"
# 2.0: half random, half zeros, deployed gzip-compressed (inflated on the fly by the library)
{ head -c 12M /dev/urandom; head -c 12M /dev/zero; } > "$TMP/v2.img"
head -c 24M /dev/urandom > "$TMP/big.img"
COMPATIBLE=capi-test
make_sandbox() { # name
    local dir=$TMP/$1 server name
    mkdir -p "$dir"
    truncate -s 32M "$dir/a.img" "$dir/b.img" "$dir/r.img"
    # system.conf: the real server; slow.conf: the same slots, the fixture server.
    for name in system slow; do
        server=$SERVER token="enroll-token = $TMP/enroll-token"
        [ $name = system ] || { server=$FIXTURE; token=""; }
        cat > "$dir/$name.conf" << CONF
[system]
compatible = $COMPATIBLE
state = $dir/state
run-dir = $dir/run
max-tries = 3

[slot.A]
device = $dir/a.img
[slot.B]
device = $dir/b.img
[slot.R]
device = $dir/r.img
readonly = true

[update]
server = $server
channel = stable
public-key = $TMP/keys/release.pub
$token
CONF
    done
    local slotctl=("$P/bin/slotctl" --config "$dir/system.conf")
    "${slotctl[@]}" init > /dev/null
    "${slotctl[@]}" install "$TMP/factory.img" --slot R --provision --version factory > /dev/null
    "${slotctl[@]}" install "$TMP/v1.img" --version 1.0 > /dev/null
    "${slotctl[@]}" status --json > "$dir/status.json"
}
for lang in c py; do
    make_sandbox $lang
    say "$lang: next boot $(json "$TMP/$lang/status.json" 'j["next"]'), $(json "$TMP/$lang/status.json" '[s+"="+j["slots"][s]["status"] for s in "ABR"]')"
done

# ------------------------------------------------------------------ mark-good
step "mark-good: the launcher runs slot-boot for the plain form, the library for every other; both say the same"
make_sandbox mg
MG=$TMP/mg/system.conf
"$P/bin/slotctl" --config "$MG" boot > /dev/null
"$P/bin/slotctl" --config "$MG" status --json > "$TMP/mg/status.json"
booted=$(json "$TMP/mg/status.json" 'j["booted"]')
empty=$(json "$TMP/mg/status.json" '[s for s in "AB" if j["slots"][s]["status"] == "empty"][0]')
# The launcher alone, where no slot-boot is next to it: everything runs in the library.
mkdir -p "$TMP/libonly/bin"
cp "$P/bin/slotctl" "$TMP/libonly/bin/slotctl"
# CODE TEXT FAST ARGS...: FAST=fast when the launcher must not need the library.
mg_cases=(
    "0|slot $booted marked good|fast|--config $MG mark-good"
    "0|slot $booted marked good|fast|--config=$MG mark-good ${booted,,}"
    "0|slot $booted marked good|fast|--config $TMP/missing.conf --config $MG mark-good $booted"
    "0|slot $booted marked good|lib|mark-good --config $MG"
    "0|R has no boot counter: nothing to confirm|fast|--config $MG mark-good r"
    "5|slot $empty is empty|fast|--config $MG mark-good $empty"
    "2|slot|lib|--config $MG mark-good C"
    "2|Unexpected argument|lib|--config $MG mark-good A B"
    "2|missing.conf|fast|--config $TMP/missing.conf mark-good"
    "0|Confirm a slot|lib|--config $MG mark-good --help"
)
mg_run() { # BIN ARGS... -> "CODE<TAB>OUTPUT" of one run
    local bin=$1 out code=0
    shift
    out=$("$bin" "$@" 2>&1) || code=$?
    printf '%s\t%s' "$code" "$out"
}
fast=0
for c in "${mg_cases[@]}"; do
    IFS='|' read -r code text kind args <<< "$c"
    read -ra argv <<< "$args"
    installed=$(mg_run "$P/bin/slotctl" "${argv[@]}")
    library=$(mg_run "$TMP/libonly/bin/slotctl" "${argv[@]}")
    [ "${installed%%$'\t'*}" = "$code" ] || fail "slotctl $args: exit ${installed%%$'\t'*}, expected $code: ${installed#*$'\t'}"
    [[ "${installed#*$'\t'}" == *"$text"* ]] || fail "slotctl $args: '${installed#*$'\t'}' does not say '$text'"
    [ "$installed" = "$library" ] || fail "slotctl $args: slot-boot and the library differ: '$installed' vs '$library'"
    [ "$kind" = fast ] && fast=$((fast + 1))
done
# The plain forms need no library at all: with it gone, they still run; the rest cannot.
mv "$LIB" "$LIB.aside"
for c in "${mg_cases[@]}"; do
    IFS='|' read -r code text kind args <<< "$c"
    read -ra argv <<< "$args"
    out=$(mg_run "$P/bin/slotctl" "${argv[@]}")
    if [ "$kind" = fast ]; then
        [ "${out%%$'\t'*}" = "$code" ] || { mv "$LIB.aside" "$LIB"; fail "slotctl $args without the library: $out"; }
    else
        [ "${out%%$'\t'*}" = 127 ] && [[ "$out" == *"cannot load the slotctl library"* ]] ||
            { mv "$LIB.aside" "$LIB"; fail "slotctl $args without the library: $out"; }
    fi
done
mv "$LIB.aside" "$LIB"
[ "$(json <("$P/bin/slotctl" --config "$MG" status --json) 'j["slots"]["'"$booted"'"]["status"]')" = good ] || fail "slot $booted is not good"
say "${#mg_cases[@]} spellings agree; $fast run in slot-boot without the library, the others in the library"

# runner LANG PHASE ARGS...: the C program or the Python script, one phase.
runner() {
    local lang=$1
    shift
    if [ "$lang" = c ]; then
        "$TMP/capi_test" "$@"
    else
        python3 "$HERE/capi_test.py" "$LIB" "$@"
    fi
}

# ------------------------------------------------------------------ phases
for lang in c py; do
    dir=$TMP/$lang
    slot=$(json "$dir/status.json" 'j["next"]')
    step "$lang: errors (missing config, NULL arguments, bad slot names)"
    runner $lang errors "$dir/system.conf" "$TMP/missing.conf"
    step "$lang: boot, mark-good, active-path, current-version, status JSON, mark-bad"
    runner $lang basics "$dir/system.conf" "$slot" "$dir/${slot,,}.img" 1.0
    step "$lang: check with nothing deployed"
    runner $lang check "$dir/system.conf" 0
done

step "deploy 2.0 (gzip) to slot-server, channel stable"
"$P/bin/slot-server" deploy --server "$SERVER" --token "$SLOT_SERVER_ADMIN_TOKEN" --key "$TMP/keys/release.key" \
    --compatible "$COMPATIBLE" --channel stable --version 2.0 --gzip "$TMP/v2.img" > "$TMP/release-id" 2> "$TMP/deploy.log" ||
    fail "deploy failed: $(cat "$TMP/deploy.log")"
say "release $(cat "$TMP/release-id")"
# An unsigned check is refused now (401): devices must enrol. Wait for the release to be published instead.
for _ in $(seq 50); do
    state=$("$P/bin/slot-server" releases --server "$SERVER" --json 2> /dev/null |
        python3 -c 'import json,sys; print(" ".join(r["state"] for r in json.load(sys.stdin)["releases"] if r["version"] == "2.0"))' 2> /dev/null)
    [ "$state" = published ] && break
    sleep 0.1
done
[ "$state" = published ] || fail "the release is not published (state '$state')"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$SERVER/v1/check" \
    -d "{\"clientId\":\"probe\",\"compatible\":\"$COMPATIBLE\",\"channel\":\"stable\",\"version\":\"1.0\",\"slot\":\"A\"}")
[ "$code" = 401 ] || fail "an unsigned check got HTTP $code, not 401"
python3 "$HERE/fixture_release.py" "$FIXTURE" "$TMP/big.img" "$TMP/keys/release.key" "$COMPATIBLE" 3.0 2000000 | sed 's/^/    /'

for lang in c py; do
    dir=$TMP/$lang
    slot=$(json "$dir/status.json" 'j["next"]')
    target=$([ "$slot" = A ] && echo B || echo A)
    target_file=$dir/${target,,}.img
    step "$lang: check with 2.0 deployed"
    runner $lang check "$dir/system.conf" 1
    step "$lang: cancel mid-download (24 MiB at 2 MB/s from the fixture)"
    runner $lang cancel "$dir/slow.conf"
    "$P/bin/slotctl" --config "$dir/system.conf" status --json > "$dir/after-cancel.json"
    [ "$(json "$dir/after-cancel.json" 'j["next"]')" = "$slot" ] || fail "after the cancel the next boot is not $slot"
    [ "$(json "$dir/after-cancel.json" "j['slots']['$target']['status']")" != ready ] || fail "a cancelled slot is ready"
    say "after cancel: next $slot, $target is $(json "$dir/after-cancel.json" "j['slots']['$target']['status']")"
    step "$lang: full update with progress polling"
    runner $lang update "$dir/system.conf"
    step "$lang: verify slot $target"
    cmp -n "$(stat -c %s "$TMP/v2.img")" "$TMP/v2.img" "$target_file" || fail "slot $target does not hold the 2.0 image"
    "$P/bin/slotctl" --config "$dir/system.conf" status --json > "$dir/after-update.json"
    [ "$(json "$dir/after-update.json" 'j["next"]')" = "$target" ] || fail "slotctl status --json: next is not $target"
    [ "$(json "$dir/after-update.json" "j['slots']['$target']['version']")" = 2.0 ] || fail "slot $target does not record 2.0"
    [ "$(json "$dir/after-update.json" "j['slots']['$target']['status']")" = ready ] || fail "slot $target is not ready"
    say "slot $target holds the 2.0 image byte for byte; status --json: next=$target, version 2.0, ready"
    step "$lang: \"reboot\" into $target: boot, mark-good, current-version 2.0, nothing more on offer"
    runner $lang rebooted "$dir/system.conf" "$target" 2.0
done

step "c: cancel right after start (throttled fixture)"
runner c cancel-now "$TMP/c/slow.conf"

step "passed in $((SECONDS - T0)) s"
