#!/usr/bin/env python3
"""A programmable update server for the update client's tests.

Serves /v1/check (the release set through /_fixture/release, or 204, with
the Slot-Freshness header set through /_fixture/freshness, if any),
records /v1/events, and serves payload files under /payload/NAME with Range
support, or misbehaving on purpose as /_fixture/mode says:

  normal              Range honoured (206 + Content-Range)
  ignore-range        always 200 with the whole body
  truncate-once       the next payload response stops halfway and closes
  fail-once           the next payload request gets 503
  slow:BYTES_PER_SEC  throttled bodies (for cancel tests)
  events-down         /v1/events answers 503
  limited:SECONDS     /v1/check and /v1/events answer 429 with Retry-After: SECONDS

Usage: update_fixture.py PORT_FILE [PORT [STATE_FILE [TLS_CERT TLS_KEY]]]
  PORT 0 picks a free port, written to PORT_FILE. With STATE_FILE, the release,
  payloads and mode survive a restart (for "server gone, then back" tests).
  With TLS_CERT and TLS_KEY, the same handler also answers HTTPS on a second
  free port, and PORT_FILE holds "PLAIN_PORT TLS_PORT": the tests drive the
  fixture over plain HTTP, the device talks to it over TLS.
"""
import json
import os
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_FILE = None
STATE = {"release": None, "freshness": None, "mode": "normal", "events": [], "checks": [], "payload_requests": [], "payloads": {}}
LOCK = threading.Lock()
PERSISTED = ("release", "freshness", "mode", "payloads")


def save():
    if STATE_FILE:
        with open(STATE_FILE + ".tmp", "w") as f:
            json.dump({k: STATE[k] for k in PERSISTED}, f)
        os.rename(STATE_FILE + ".tmp", STATE_FILE)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, data=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def reply_json(self, status, value):
        self.reply(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

    def do_POST(self):
        data = self.body()
        with LOCK:
            if STATE["mode"].startswith("limited:") and self.path in ("/v1/check", "/v1/events"):
                seconds = STATE["mode"].split(":")[1]
                return self.reply(429, json.dumps({"error": {"code": "rate-limited", "message": "slow down"}}).encode(),
                                  {"Retry-After": seconds, "Content-Type": "application/json"})
            if self.path == "/v1/check":
                STATE["checks"].append(json.loads(data))
                release = STATE["release"]
                extra = {"Slot-Freshness": STATE["freshness"]} if STATE["freshness"] else {}
                if release is None:
                    return self.reply(204, b"", extra)
                return self.reply(200, json.dumps(release).encode(), {"Content-Type": "application/json", **extra})
            if self.path == "/v1/events":
                if STATE["mode"] == "events-down":
                    return self.reply_json(503, {"error": {"code": "down", "message": "events are down"}})
                STATE["events"].extend(json.loads(data))
                return self.reply(204)
            if self.path == "/_fixture/release":
                STATE["release"] = json.loads(data)
                save()
                return self.reply(204)
            if self.path == "/_fixture/freshness":
                STATE["freshness"] = data.decode() or None
                save()
                return self.reply(204)
            if self.path == "/_fixture/mode":
                STATE["mode"] = data.decode()
                save()
                return self.reply(204)
            if self.path == "/_fixture/payload":
                spec = json.loads(data)
                STATE["payloads"][spec["name"]] = spec["path"]
                save()
                return self.reply(204)
        self.reply(404)

    def do_GET(self):
        if self.path == "/_fixture/log":
            with LOCK:
                log = {k: STATE[k] for k in ("events", "checks", "payload_requests")}
            return self.reply_json(200, log)
        match = re.fullmatch(r"/(payload|moved)/([A-Za-z0-9._-]+)", self.path)
        if not match:
            return self.reply_json(404, {"error": {"code": "not-found", "message": "no such path"}})
        name = match.group(2)
        with LOCK:
            path = STATE["payloads"].get(name)
            mode = STATE["mode"]
            STATE["payload_requests"].append({"range": self.headers.get("Range"), "mode": mode, "path": self.path})
        # redirect: /payload/X answers 302 to /moved/X, which serves it; redirect-ftp
        # sends the client to another scheme; redirect-loop to itself, forever.
        if match.group(1) == "payload" and mode.startswith("redirect"):
            location = {"redirect": f"/moved/{name}", "redirect-ftp": f"ftp://127.0.0.1:1/{name}",
                        "redirect-loop": f"/payload/{name}"}[mode]
            return self.reply(302, b"", {"Location": location})
        with LOCK:
            if mode in ("truncate-once", "fail-once"):
                STATE["mode"] = "normal"
        if path is None:
            return self.reply_json(404, {"error": {"code": "not-found", "message": "no such payload"}})
        if mode == "fail-once":
            return self.reply_json(503, {"error": {"code": "busy", "message": "try again"}})
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        header = self.headers.get("Range")
        if header and mode != "ignore-range":
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", header)
            if m:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                if start >= size:
                    return self.reply(416, b"", {"Content-Range": f"bytes */{size}"})
                status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", '"fixture-%d"' % size)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        limit = length // 2 if mode == "truncate-once" else length
        rate = int(mode.split(":")[1]) if mode.startswith("slow:") else None
        with open(path, "rb") as f:
            f.seek(start)
            sent = 0
            while sent < limit:
                chunk = f.read(min(65536, limit - sent))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        if limit < length:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)


def main():
    global STATE_FILE
    port_file = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if len(sys.argv) > 3:
        STATE_FILE = sys.argv[3]
        if os.path.exists(STATE_FILE):
            with open(STATE_FILE) as f:
                STATE.update(json.load(f))
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ports = str(server.server_address[1])
    if len(sys.argv) > 5:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        secure = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        secure.daemon_threads = True
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        threading.Thread(target=secure.serve_forever, daemon=True).start()
        ports += " " + str(secure.server_address[1])
    with open(port_file + ".tmp", "w") as f:
        f.write(ports)
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
