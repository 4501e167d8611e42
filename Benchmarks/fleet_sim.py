#!/usr/bin/env python3
"""A simulated fleet against slot-server replicas (Benchmarks/fleet.sh runs it).

One process, asyncio: DEVICES devices check in every POLL seconds (with
jitter) over keep-alive connections spread across the replicas. A device
offered a release downloads and installs it (INSTALL seconds), reboots
(REBOOT seconds), then reports `marked-good` and runs it, or, for the share
FAIL of devices (chosen by a hash of device and release), `fell-back` and
never takes that release again. Events go to POST /v1/events like
`slotctl daemon` sends them.

Phases, each bounded in time:
  1. warm-up: every device checks once (all run 1.0, which is everywhere).
  2. bad: a release deployed at 50 % that makes FAIL of its takers fall back.
     Measures how many devices were offered it before it paused itself,
     and how long that took.
  3. good: a healthy release at 50 %. Measures how long until every device
     inside the 50 % runs it.
Prints one JSON object with the figures; the shell script formats them.
"""

import asyncio
import hashlib
import heapq
import json
import os
import random
import sys
import time

SERVERS = sys.argv[1].split(",")  # host:port of each replica
ADMIN_TOKEN = sys.argv[2]
DEPLOY_CMD = sys.argv[3:]  # a command that deploys: VERSION ROLLOUT appended, prints the release id
DEVICES = int(os.environ.get("DEVICES", "100000"))
POLL = float(os.environ.get("POLL", "60"))
INSTALL = float(os.environ.get("INSTALL", "3"))
REBOOT = float(os.environ.get("REBOOT", "4"))
FAIL = float(os.environ.get("FAIL", "0.3"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "48"))
PHASE_LIMIT = float(os.environ.get("PHASE_LIMIT", "300"))


def bucket(key, client):
    digest = hashlib.sha256(f"{key}:{client}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def fails(client, release):
    return hashlib.sha256(f"fail:{release}:{client}".encode()).digest()[0] < FAIL * 256


class Connection:
    """One keep-alive HTTP/1.1 connection to one replica."""

    def __init__(self, server):
        self.host, self.port = server.rsplit(":", 1)
        self.reader = self.writer = None

    async def request(self, method, path, body=b"", headers=()):
        for attempt in range(3):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
                head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
                head += "Content-Type: application/json\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
                self.writer.write(head.encode() + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                status = int(status_line.split()[1])
                length = 0
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                payload = await self.reader.readexactly(length) if length else b""
                return status, payload
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                if self.writer is not None:
                    self.writer.close()
                self.reader = self.writer = None
                if attempt == 2:
                    raise


class Fleet:
    def __init__(self):
        self.ids = [f"sim-{i:06d}" for i in range(DEVICES)]
        self.version = ["1.0"] * DEVICES
        self.refused = [set() for _ in range(DEVICES)]  # releases a device fell back from
        self.busy = [False] * DEVICES  # installing or rebooting
        self.offered = {}  # release id -> set of device indexes offered it
        self.latencies = []
        self.requests = 0
        self.errors = 0
        self.heap = []
        self.start = time.monotonic()
        for i in range(DEVICES):
            heapq.heappush(self.heap, (self.start + random.uniform(0, POLL), i))
        self.queue = asyncio.Queue(maxsize=4 * CONNECTIONS)
        self.connections = [Connection(SERVERS[n % len(SERVERS)]) for n in range(CONNECTIONS)]
        self.events = [Connection(SERVERS[n % len(SERVERS)]) for n in range(len(SERVERS))]
        self.pending_events = []
        self.checked = set()
        self.bad = None  # the release that makes FAIL of its takers fall back

    async def scheduler(self):
        while True:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, i = heapq.heappop(self.heap)
                await self.queue.put(i)
            await asyncio.sleep(0.005)

    def reschedule(self, i, delay=None):
        heapq.heappush(self.heap, (time.monotonic() + (delay if delay is not None else POLL * random.uniform(0.5, 1.5)), i))

    async def worker(self, connection):
        while True:
            i = await self.queue.get()
            if self.busy[i]:
                continue
            body = json.dumps({"clientId": self.ids[i], "compatible": "sim-board", "channel": "stable",
                               "version": self.version[i], "slot": "A"}).encode()
            started = time.monotonic()
            try:
                status, payload = await connection.request("POST", "/v1/check", body)
            except Exception:
                self.errors += 1
                self.reschedule(i)
                continue
            self.latencies.append(time.monotonic() - started)
            self.requests += 1
            self.checked.add(i)
            if status == 200:
                release = json.loads(payload)
                rid = release["id"]
                if rid in self.refused[i]:
                    self.reschedule(i)
                    continue
                self.offered.setdefault(rid, set()).add(i)
                self.busy[i] = True
                asyncio.get_running_loop().call_later(INSTALL + REBOOT, self.finish, i, rid, release["version"])
            elif status not in (204,):
                self.errors += 1
            self.reschedule(i)

    def finish(self, i, rid, version):
        self.busy[i] = False
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        events = [{"clientId": self.ids[i], "releaseId": rid, "type": t, "at": stamp} for t in ("downloaded", "installed")]
        if rid == self.bad and fails(self.ids[i], rid):
            self.refused[i].add(rid)
            events.append({"clientId": self.ids[i], "releaseId": rid, "type": "fell-back", "at": stamp})
        else:
            self.version[i] = version
            events.append({"clientId": self.ids[i], "releaseId": rid, "type": "marked-good", "at": stamp})
        self.pending_events.extend(events)
        self.reschedule(i, 0)

    async def event_sender(self):
        n = 0
        while True:
            await asyncio.sleep(0.2)
            while self.pending_events:
                batch, self.pending_events = self.pending_events[:900], self.pending_events[900:]
                connection = self.events[n % len(self.events)]
                n += 1
                try:
                    status, _ = await connection.request("POST", "/v1/events", json.dumps(batch).encode())
                    if status != 200:
                        self.errors += 1
                except Exception:
                    self.errors += 1

    async def admin(self, path):
        connection = Connection(SERVERS[0])
        status, payload = await connection.request("GET", path, headers=[("Authorization", f"Bearer {ADMIN_TOKEN}")])
        connection.writer.close()
        return json.loads(payload) if status == 200 else None


async def deploy(version, rollout):
    process = await asyncio.create_subprocess_exec(*DEPLOY_CMD, version, str(rollout), stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"deploy {version} failed")
    return out.decode().strip()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0


async def main():
    fleet = Fleet()
    tasks = [asyncio.create_task(fleet.scheduler()), asyncio.create_task(fleet.event_sender())]
    tasks += [asyncio.create_task(fleet.worker(c)) for c in fleet.connections]
    result = {"devices": DEVICES, "poll_seconds": POLL, "install_seconds": INSTALL, "reboot_seconds": REBOOT,
              "fail_share": FAIL, "replicas": len(SERVERS)}

    # 1. Warm-up: every device checks in once.
    deadline = time.monotonic() + PHASE_LIMIT
    while len(fleet.checked) < DEVICES and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    result["warm_up_seconds"] = round(time.monotonic() - fleet.start, 1)
    load_start, load_requests = time.monotonic(), fleet.requests
    fleet.latencies.clear()

    # 2. A bad release at 50 %.
    bad = await deploy("2.0", 50)
    fleet.bad = bad
    t0 = time.monotonic()
    paused_after = None
    while time.monotonic() - t0 < PHASE_LIMIT:
        info = await fleet.admin(f"/v1/releases/{bad}")
        if info and info.get("paused"):
            paused_after = time.monotonic() - t0
            break
        await asyncio.sleep(0.25)
    at_pause = len(fleet.offered.get(bad, ()))
    await asyncio.sleep(INSTALL + REBOOT + 2)  # what was in flight lands; nobody new should get it
    stats = await fleet.admin(f"/v1/releases/{bad}/stats")
    result["bad"] = {
        "release": bad, "paused_after_seconds": round(paused_after, 1) if paused_after else None,
        "devices_offered_at_pause": at_pause, "devices_offered_total": len(fleet.offered.get(bad, ())),
        "share_of_fleet": len(fleet.offered.get(bad, ())) / DEVICES,
        "ceiling": sum(1 for c in fleet.ids if bucket(bad, c) < 5000),
        "pause_reason": stats and stats["release"].get("pauseReason"), "trial": stats and stats.get("trial"),
    }

    # 3. A healthy release at 50 %: time until every device inside the 50 % runs it.
    good = await deploy("3.0", 50)
    t0 = time.monotonic()
    ceiling = [i for i, c in enumerate(fleet.ids) if bucket(good, c) < 5000]
    marks = {}
    reached = None
    while time.monotonic() - t0 < PHASE_LIMIT:
        running = sum(1 for i in ceiling if fleet.version[i] == "3.0")
        for share in (0.1, 0.5, 0.9):
            if share not in marks and running >= share * len(ceiling):
                marks[share] = round(time.monotonic() - t0, 1)
        if running == len(ceiling):
            reached = round(time.monotonic() - t0, 1)
            break
        await asyncio.sleep(0.5)
    stats = await fleet.admin(f"/v1/releases/{good}/stats")
    result["good"] = {
        "release": good, "ceiling": len(ceiling), "seconds_to_10_50_90_percent": [marks.get(s) for s in (0.1, 0.5, 0.9)],
        "seconds_to_whole_ceiling": reached, "running": sum(1 for i in ceiling if fleet.version[i] == "3.0"),
        "paused": stats and stats["release"].get("paused"), "trial": stats and stats.get("trial"),
    }

    elapsed = time.monotonic() - load_start
    result["load"] = {
        "requests_per_second": round((fleet.requests - load_requests) / elapsed, 1),
        "p50_ms": round(percentile(fleet.latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(fleet.latencies, 0.99) * 1000, 2),
        "errors": fleet.errors,
    }
    for task in tasks:
        task.cancel()
    print(json.dumps(result))


asyncio.run(main())
