#!/bin/bash
# The slotctl demo: file-backed A/B/R slots in a temporary directory, walked
# through provisioning, an update, a failed update that falls back, recovery
# and a factory reset, with the status printed at each step.
# usage: scripts/demo.sh            (SLOTCTL=path to use a built binary; KEEP=1 keeps the sandbox)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SLOTCTL:-}" ]; then
    echo "building slotctl and slot-server (the first build takes a few minutes)..." >&2
    (cd "$ROOT" && swift build --product slotctl >&2 && swift build --product slotctl-update >&2 && swift build --product slot-server >&2)
    SLOTCTL=$(cd "$ROOT" && swift build --show-bin-path)/slotctl
fi
SLOT_SERVER=${SLOT_SERVER:-$(dirname "$SLOTCTL")/slot-server}
SANDBOX=$(mktemp -d /tmp/slotctl-demo.XXXXXX)
SERVER_PID=
cleanup() {
    [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$SANDBOX"
}
trap cleanup EXIT
cd "$SANDBOX"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ slotctl %s\n' "$*"; "$SLOTCTL" --config "$SANDBOX/system.conf" "$@"; }
boot() {
    printf '$ slotctl boot        # what the initramfs hook does at each power-on\n'
    "$SLOTCTL" --config "$SANDBOX/system.conf" boot | sed 's/^/    /'
}

# Slot images: small ext4 filesystems that say which version they are.
make_image() { # name version
    mkdir -p "tree-$1/etc"
    echo "$2" > "tree-$1/etc/version"
    if command -v mke2fs > /dev/null; then
        mke2fs -q -F -t ext4 -L "demo-$1" -d "tree-$1" "$1.img" 8M
    else
        head -c 8M /dev/urandom > "$1.img"
    fi
}
truncate -s 16M a.slot b.slot r.slot
mkdir -p data
cat > system.conf <<CONF
[system]
compatible = demo-board
state = state
run-dir = run
max-tries = 3
data = data

[slot.A]
device = a.slot
[slot.B]
device = b.slot
[slot.R]
device = r.slot
readonly = true
CONF
make_image factory factory-1.0
make_image v1 1.0
make_image v2 2.0
gzip -k v2.img

step "Provision the state, the factory image into R and version 1.0 into A"
run init
run install factory.img --slot R --provision --version factory-1.0
run install v1.img --version 1.0
boot
run mark-good
run status

step "Update: 2.0 (gzip, inflated on the fly) goes into the inactive slot B"
run install v2.img.gz --version 2.0
boot
echo "(2.0 never confirms: no 'slotctl mark-good' on B)"
boot
boot
step "After max-tries unconfirmed boots, the hook falls back to A and marks B bad"
boot
run mark-good
run status

step "A breaks too: with both A and B bad, the device boots R"
run mark-bad A
boot
run status || true

step "From R: factory reset copies R's image into a slot and boots it"
echo "user data" > data/settings
run factory-reset --wipe-data
boot
run mark-good
run status
ls -A data | grep -q . && echo "data not wiped!" || echo "(data directory emptied)"

step "The fleet side: a local update server (embedded SQLite), a signed release, a device taking it"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server() { printf '$ slot-server %s\n' "$*"; "$SLOT_SERVER" "$@"; }
server keygen --out keys
printf '$ slot-server serve --listen 127.0.0.1:%s --release-key keys/release.pub &\n' "$PORT"
(cd "$SANDBOX" && exec "$SLOT_SERVER" serve --listen "127.0.0.1:$PORT" --data server-data --release-key keys/release.pub --log-level warning) &
SERVER_PID=$!
for _ in $(seq 100); do [ -f server-data/admin-token ] && [ -f server-data/online.pub ] && python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz')" 2>/dev/null && break; sleep 0.1; done
# The operator makes an enrolment token for the product; it goes onto the factory image.
server enroll-token --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token --product demo-board --out enroll-token
cat >> system.conf <<CONF

[update]
server = http://127.0.0.1:$PORT
channel = stable
public-key = keys/release.pub
# The server's online key (serve generated it): every answer must carry a fresh statement it signed.
server-key = server-data/online.pub
# The device makes its key (state/device.key) and enrols with this token on first contact,
# then signs every check and report; the server refuses unsigned, forged or replayed ones.
enroll-token = enroll-token
CONF
make_image v3 3.0
run check || true
server devices enrolled --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token
printf '$ curl -X POST .../v1/check   # an unsigned check, as anyone on the network could send\n'
curl -s -X POST "http://127.0.0.1:$PORT/v1/check" -d '{"clientId":"someone-else","compatible":"demo-board","channel":"stable","version":"1.0","slot":"A"}'
echo
server deploy --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token --key keys/release.key \
    --compatible demo-board --channel stable --version 3.0 --security-version 1 --gzip v3.img
run check
run update
boot
run mark-good
run current
run check || true
sleep 1
server releases --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token
RELEASE=$("$SLOT_SERVER" releases --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token --json | python3 -c 'import json,sys; r=json.load(sys.stdin); r=r.get("releases", r) if isinstance(r, dict) else r; print(r[-1]["id"])')
server stats --server "http://127.0.0.1:$PORT" --token-file server-data/admin-token "$RELEASE"
run status
step "Done.${KEEP:+ Sandbox kept: $SANDBOX}"
