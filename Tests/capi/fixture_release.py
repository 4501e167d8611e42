#!/usr/bin/env python3
"""Offers an image through Tests/Fixtures/update_fixture.py, signed like
`slot-server deploy` signs it, and throttles the payload (for cancel tests).

usage: fixture_release.py FIXTURE_URL IMAGE RELEASE_KEY COMPATIBLE VERSION BYTES_PER_SEC

The manifest's signing bytes follow SlotWire's ReleaseManifest.signingBytes;
the key is slot-server keygen's release.key (base64 of the raw 32-byte
Ed25519 private key). Needs the `cryptography` package.
"""
import base64
import hashlib
import json
import os
import sys
import urllib.request
import zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def post(url, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status not in (200, 204):
            raise SystemExit(f"{url}: HTTP {response.status}")


def main(argv):
    if len(argv) != 7:
        raise SystemExit(__doc__)
    base, image, key_file, compatible, version, rate = argv[1:]
    crc, sha = 0, hashlib.sha256()
    with open(image, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
            sha.update(chunk)
    size = os.path.getsize(image)
    manifest = {
        "compatible": compatible, "version": version, "securityVersion": 0, "size": size,
        "crc32": f"{crc:08x}", "sha256": sha.hexdigest(), "compression": "none", "payloadSize": size,
    }
    signing = (
        "slotctl-manifest-v1\n"
        f"compatible={compatible}\nversion={version}\nsecurity-version=0\nsize={size}\n"
        f"crc32={manifest['crc32']}\nsha256={manifest['sha256']}\ncompression=none\npayload-size={size}\n"
    ).encode()
    with open(key_file) as f:
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(f.read().strip()))
    release = dict(manifest, id=f"{version}-fixture", url="/payload/big",
                   signature=base64.b64encode(key.sign(signing)).decode())
    post(base + "/_fixture/payload", {"name": "big", "path": os.path.abspath(image)})
    post(base + "/_fixture/release", release)
    post(base + "/_fixture/mode", f"slow:{int(rate)}".encode())
    print(f"fixture offers {version} ({size} bytes) at {rate} B/s")


if __name__ == "__main__":
    main(sys.argv)
