#!/usr/bin/env python3
"""Signed device traffic for Benchmarks/server.sh (the scheme of SlotWire/DeviceAuth.swift).

  device_load.py enroll URL TOKEN COUNT OUT.json
      makes COUNT device keys, enrols each with TOKEN, opens a session, sends one
      signed check (which registers the device), and writes the sessions to OUT.json
      and the first release offered to OUT.json.answer.
  device_load.py requests DEVICES.json THREADS PER_THREAD PREFIX HOST
      writes PREFIX.N (N = 1..THREADS): PER_THREAD raw HTTP/1.1 checks each, separated
      by NUL bytes, for wrk's check script. Each thread has its own devices, and each
      device's times grow along the file, as the server demands of one device.
  device_load.py requests DEVICES.json THREADS PER_THREAD PREFIX HOST forged
      the same with one digit of every MAC changed: a flood the server must refuse.

Needs python3-cryptography (Debian package).
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def client_id(public_raw):
    b = bytearray(hashlib.sha256(public_raw).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def canonical(method, path, time_ms, cid, body):
    return f"slotctl-auth-v1\n{method}\n{path}\n{time_ms}\n{cid}\n{hashlib.sha256(body).hexdigest()}".encode()


def check_body(cid, version, slot):
    return json.dumps({"clientId": cid, "compatible": "bench-board", "channel": "stable", "version": version, "slot": slot},
                      separators=(",", ":")).encode()


def enroll(url, token, count, out):
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    clock = [0]

    def now_ms():
        clock[0] = max(int(time.time() * 1000), clock[0] + 1)
        return clock[0]

    def post(path, body, headers):
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.read()

    devices = []
    sample = b""
    for _ in range(count):
        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(*RAW)
        cid = client_id(public)

        def signed(path, body):
            t = now_ms()
            return {"Slot-Device": cid, "Slot-Time": str(t),
                    "Slot-Signature": base64.b64encode(key.sign(canonical("POST", path, t, cid, body))).decode()}

        body = json.dumps({"clientId": cid, "publicKey": base64.b64encode(public).decode(), "token": token}).encode()
        status, answer = post("/v1/enroll", body, signed("/v1/enroll", body))
        if status != 200:
            sys.exit(f"enrolment failed: {status} {answer[:200]!r}")
        exchange = x25519.X25519PrivateKey.generate()
        body = json.dumps({"clientId": cid, "exchangeKey": base64.b64encode(exchange.public_key().public_bytes(*RAW)).decode()}).encode()
        status, answer = post("/v1/session", body, signed("/v1/session", body))
        if status != 200:
            sys.exit(f"session failed: {status} {answer[:200]!r}")
        grant = json.loads(answer)
        shared = exchange.exchange(x25519.X25519PublicKey.from_public_bytes(base64.b64decode(grant["serverKey"])))
        sealing = HKDF(algorithm=hashes.SHA256(), length=32, salt=grant["ticket"].encode(), info=b"slotctl session key").derive(shared)
        sealed = base64.b64decode(grant["sealedKey"])
        session_key = ChaCha20Poly1305(sealing).decrypt(sealed[:12], sealed[12:], None)
        device = {"clientId": cid, "ticket": grant["ticket"], "key": base64.b64encode(session_key).decode()}
        devices.append(device)
        body = check_body(cid, "1.0", "A")
        t = now_ms()
        mac = hmac.new(session_key, canonical("POST", "/v1/check", t, cid, body), hashlib.sha256).hexdigest()
        status, answer = post("/v1/check", body, {"Slot-Device": cid, "Slot-Time": str(t), "Slot-Session": grant["ticket"], "Slot-MAC": mac})
        if status not in (200, 204):
            sys.exit(f"first check failed: {status} {answer[:200]!r}")
        if status == 200 and not sample:
            sample = answer
    with open(out, "w") as f:
        json.dump(devices, f)
    with open(out + ".answer", "wb") as f:
        f.write(sample)


def requests(devices_file, threads, per_thread, prefix, host, forged=False):
    devices = json.load(open(devices_file))
    base = int(time.time() * 1000)
    rng = random.Random(os.getpid())
    for thread in range(threads):
        own = devices[thread::threads]
        keys = [base64.b64decode(d["key"]) for d in own]
        parts = []
        for i in range(per_thread):
            n = i % len(own)
            device = own[n]
            r = rng.randint(1, 100)
            # 80 % on 1.0 (half of them get 1.1), 10 % already on 1.1 (204), 10 % on 0.9.
            version = "1.0" if r <= 80 else ("1.1" if r <= 90 else "0.9")
            body = check_body(device["clientId"], version, "A" if r % 2 == 0 else "B")
            t = base + i // len(own)  # grows for each device along the file
            mac = hmac.new(keys[n], canonical("POST", "/v1/check", t, device["clientId"], body), hashlib.sha256).hexdigest()
            if forged:  # one digit changed: what a flood from someone without the session key looks like
                mac = ("1" if mac[0] == "0" else "0") + mac[1:]
            parts.append(
                f"POST /v1/check HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Slot-Device: {device['clientId']}\r\nSlot-Time: {t}\r\nSlot-Session: {device['ticket']}\r\nSlot-MAC: {mac}\r\n\r\n".encode()
                + body)
        with open(f"{prefix}.{thread + 1}", "wb") as f:
            f.write(b"\0".join(parts))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "enroll":
        enroll(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) in (7, 8) and sys.argv[1] == "requests" and sys.argv[7:] in ([], ["forged"]):
        requests(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], forged=sys.argv[7:] == ["forged"])
    else:
        sys.exit(__doc__)
