#!/usr/bin/env python3
"""The C API of libslotctl, driven from Python through ctypes (stdlib only).

usage: capi_test.py LIBRARY PHASE CONFIG ...   (the phases of capi_test.c)

  errors  CONFIG MISSING_CONFIG
  basics  CONFIG EXPECTED_SLOT EXPECTED_PATH EXPECTED_VERSION
  check   CONFIG EXPECTED_AVAILABLE
  update  CONFIG
  cancel  CONFIG
  rebooted CONFIG EXPECTED_SLOT EXPECTED_VERSION

Every wrong result raises; the process exits non-zero.
"""
import ctypes
import json
import sys
import threading
import time

OK, ERR_USAGE, ERR_VERIFY, ERR_IO, ERR_REFUSED, ERR_ARG, ERR_NOMEM = 0, 2, 3, 4, 5, 6, 7
STATES = ["IDLE", "CHECKING", "DOWNLOADING", "INSTALLING", "READY_TO_REBOOT", "UP_TO_DATE", "FAILED", "CANCELLED"]
FINAL = {"READY_TO_REBOOT", "UP_TO_DATE", "FAILED", "CANCELLED"}


class Progress(ctypes.Structure):
    _fields_ = [
        ("state", ctypes.c_int),
        ("bytes_done", ctypes.c_uint64),
        ("bytes_total", ctypes.c_uint64),
        ("error", ctypes.c_int32),
    ]

    @property
    def state_name(self):
        return STATES[self.state]


class SlotctlError(Exception):
    def __init__(self, call, status, message):
        super().__init__(f"{call} returned {status}: {message}")
        self.status = status
        self.message = message


class Library:
    """The library's functions with their C signatures."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        handle, out_handle = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
        out_string = ctypes.POINTER(ctypes.c_void_p)  # char **, kept as void* so we can free it
        signatures = {
            "slotctl_open": ([ctypes.c_char_p, out_handle], ctypes.c_int),
            "slotctl_close": ([handle], ctypes.c_int),
            "slotctl_last_error": ([handle], ctypes.c_void_p),
            "slotctl_free": ([ctypes.c_void_p], None),
            "slotctl_status_json": ([handle, out_string], ctypes.c_int),
            "slotctl_boot": ([handle, out_string], ctypes.c_int),
            "slotctl_mark_good": ([handle], ctypes.c_int),
            "slotctl_mark_bad": ([handle, ctypes.c_char_p], ctypes.c_int),
            "slotctl_active_path": ([handle, out_string], ctypes.c_int),
            "slotctl_current_version": ([handle, out_string], ctypes.c_int),
            "slotctl_check_update": ([handle, ctypes.POINTER(ctypes.c_int)], ctypes.c_int),
            "slotctl_start_update": ([handle], ctypes.c_int),
            "slotctl_update_progress": ([handle, ctypes.POINTER(Progress)], ctypes.c_int),
            "slotctl_cancel_update": ([handle], ctypes.c_int),
        }
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = restype
        self.lib = lib

    def __getattr__(self, name):
        return getattr(self.lib, "slotctl_" + name)

    def take_string(self, pointer):
        """A library-allocated string as str, freed."""
        if not pointer:
            return None
        try:
            return ctypes.string_at(pointer).decode()
        finally:
            self.free(pointer)

    def last_error(self, handle):
        return self.take_string(self.lib.slotctl_last_error(handle))


class Slotctl:
    """A handle, closed by `with`."""

    def __init__(self, lib, config):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        status = lib.open(config.encode() if config is not None else None, ctypes.byref(self.handle))
        if status != OK:
            raise SlotctlError("slotctl_open", status, lib.last_error(None))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.handle:
            expect(self.lib.close(self.handle) == OK, "close")
            self.handle = ctypes.c_void_p()

    def call(self, name, *args):
        status = getattr(self.lib, name)(self.handle, *args)
        if status != OK:
            raise SlotctlError("slotctl_" + name, status, self.lib.last_error(self.handle))

    def string(self, name):
        out = ctypes.c_void_p()
        self.call(name, ctypes.byref(out))
        return self.lib.take_string(out)

    def status(self):
        return json.loads(self.string("status_json"))

    def boot(self):
        return self.string("boot")

    def active_path(self):
        return self.string("active_path")

    def current_version(self):
        return self.string("current_version")

    def mark_good(self):
        self.call("mark_good")

    def mark_bad(self, slot):
        self.call("mark_bad", slot.encode())

    def check_update(self):
        available = ctypes.c_int(-1)
        self.call("check_update", ctypes.byref(available))
        return available.value

    def start_update(self):
        self.call("start_update")

    def cancel_update(self):
        self.call("cancel_update")

    def progress(self):
        p = Progress()
        self.call("update_progress", ctypes.byref(p))
        return p


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_status(status, expected, what):
    expect(status == expected, f"{what}: status {status}, expected {expected}")


def raises(function, status, what):
    try:
        function()
    except SlotctlError as error:
        expect_status(error.status, status, what)
        return error
    raise AssertionError(f"{what}: succeeded, expected status {status}")


# ------------------------------------------------------------------ phases


def phase_errors(lib, config, missing):
    error = raises(lambda: Slotctl(lib, missing), ERR_USAGE, "open(missing)")
    expect(missing in error.message, f"open(missing) message: {error.message}")
    print(f"open(missing) = {error.status}: {error.message}")

    expect_status(lib.open(config.encode(), None), ERR_ARG, "open(config, NULL)")
    expect_status(lib.mark_good(None), ERR_ARG, "mark_good(NULL)")
    expect("handle is NULL" in lib.last_error(None), "last_error(NULL) after a NULL handle")
    lib.free(None)
    expect_status(lib.close(None), OK, "close(NULL)")

    with Slotctl(lib, config) as h:
        expect(lib.last_error(h.handle) is None, "a fresh handle has a last error")
        expect_status(lib.status_json(h.handle, None), ERR_ARG, "status_json(h, NULL)")
        expect_status(lib.mark_bad(h.handle, None), ERR_ARG, "mark_bad(h, NULL)")
        expect_status(lib.update_progress(h.handle, None), ERR_ARG, "update_progress(h, NULL)")
        expect_status(lib.check_update(h.handle, None), ERR_ARG, "check_update(h, NULL)")
        error = raises(lambda: h.mark_bad("Q"), ERR_USAGE, "mark_bad(Q)")
        expect("'Q'" in error.message, f"mark_bad(Q) message: {error.message}")
        print(f"mark_bad(Q) = {error.status}: {error.message}")
        raises(lambda: h.mark_bad("R"), ERR_USAGE, "mark_bad(R)")
        p = h.progress()
        expect((p.state_name, p.bytes_done, p.bytes_total, p.error) == ("IDLE", 0, 0, 0), "progress before any update")
        h.cancel_update()
    print("errors: ok")


def phase_basics(lib, config, expected_slot, expected_path, expected_version):
    with Slotctl(lib, config) as h:
        raises(h.mark_good, ERR_REFUSED, "mark_good before a boot was counted")
        before = h.status()
        slot = h.boot()
        expect(slot == expected_slot, f"boot chose {slot}, expected {expected_slot}")
        print(f"boot: {slot}")
        h.mark_good()
        path = h.active_path()
        expect(path == expected_path, f"active_path {path}, expected {expected_path}")
        print(f"active_path: {path}")
        version = h.current_version()
        expect(version == expected_version, f"current_version {version}, expected {expected_version}")
        print(f"current_version: {version}")

        status = h.status()
        for key in ("booted", "next", "compatible", "securityVersion", "slots", "events", "state"):
            expect(key in status, f"status JSON lacks {key}: {status}")
        expect(status["state"] == "ok", f"state {status['state']}")
        expect(status["booted"] == slot, f"booted {status['booted']}")
        expect(set(status["slots"]) == {"A", "B", "R"}, f"slots {list(status['slots'])}")
        record = status["slots"][slot]
        expect(record["status"] == "good", f"slot {slot} is {record['status']}")
        expect(record["version"] == expected_version, f"slot {slot} version {record['version']}")
        expect(record["device"] == expected_path, f"slot {slot} device {record['device']}")
        expect(record["boots"] == before["slots"][slot]["boots"] + 1, "boots not counted")
        expect(status["slots"]["R"]["readonly"] is True, "R is not readonly")
        types = [event["type"] for event in status["events"]]
        expect("marked-good" in types, f"events {types}")
        expect(status["seq"] > before["seq"], "seq did not grow")

        # The other slot of A and B holds nothing yet: giving up on it works
        # (lower case too) and shows; the update later installs into it.
        other = "B" if slot == "A" else "A"
        h.mark_bad(other.lower())
        expect(h.status()["slots"][other]["status"] == "bad", "mark_bad did not show")

        # Several threads on one handle: the per-handle lock serialises them.
        errors = []

        def worker():
            try:
                for _ in range(20):
                    h.status()
                    expect(h.active_path() == expected_path, "active_path under threads")
                    h.progress()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expect(not errors, f"threads: {errors}")
    print("basics: ok")


def phase_check(lib, config, expected):
    with Slotctl(lib, config) as h:
        available = h.check_update()
        expect(available == expected, f"check_update: {available}, expected {expected}")
        print(f"check_update: available={available}")


def poll_until_final(h, timeout, cancel=False):
    start = time.monotonic()
    last = None
    cancelled = False
    while True:
        p = h.progress()
        snapshot = (p.state_name, p.bytes_done, p.bytes_total, p.error)
        if snapshot != last:
            print(f"  {time.monotonic() - start:.2f}s {p.state_name} {p.bytes_done}/{p.bytes_total}")
            if last is not None:
                expect(p.bytes_done >= last[1], "bytes_done went back")
            last = snapshot
        if p.state_name in FINAL:
            return p
        if cancel and not cancelled and p.state_name == "DOWNLOADING" and p.bytes_done > 0:
            raises(h.start_update, ERR_REFUSED, "start while an update runs")
            h.cancel_update()
            cancelled = True
            print(f"  cancel requested at {p.bytes_done} bytes")
        expect(time.monotonic() - start < timeout, f"no final state after {timeout} s ({p.state_name})")
        time.sleep(0.02)


def phase_update(lib, config):
    with Slotctl(lib, config) as h:
        h.start_update()
        p = poll_until_final(h, 120)
        if p.state_name != "READY_TO_REBOOT":
            raise AssertionError(f"update ended {p.state_name} (error {p.error}): {lib.last_error(h.handle)}")
        expect(p.error == 0 and p.bytes_total > 0 and p.bytes_done == p.bytes_total, f"bytes {p.bytes_done}/{p.bytes_total}")
    print("update: ok")


def phase_cancel(lib, config):
    with Slotctl(lib, config) as h:
        h.start_update()
        p = poll_until_final(h, 60, cancel=True)
        expect(p.state_name == "CANCELLED", f"ended {p.state_name}, expected CANCELLED")
        expect(p.error == ERR_REFUSED, f"cancelled with error {p.error}")
        expect(p.bytes_done < p.bytes_total, "cancelled after the whole payload arrived")
        message = lib.last_error(h.handle)
        expect(message is not None and "cancel" in message, f"last_error after cancel: {message}")
        print(f"last_error: {message}")
    print("cancel: ok")


def phase_rebooted(lib, config, expected_slot, expected_version):
    with Slotctl(lib, config) as h:
        slot = h.boot()
        expect(slot == expected_slot, f"boot chose {slot}, expected {expected_slot}")
        h.mark_good()
        version = h.current_version()
        expect(version == expected_version, f"current_version {version}, expected {expected_version}")
        print(f"booted {slot}, running {version}")
        expect(h.check_update() == 0, "check_update after the update offers something")
        expect(h.status()["slots"][slot]["status"] == "good", "new slot not good")
    print("rebooted: ok")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    lib = Library(argv[1])
    phase, args = argv[2], argv[3:]
    phases = {"errors": (phase_errors, 2), "basics": (phase_basics, 4), "check": (phase_check, 2),
              "update": (phase_update, 1), "cancel": (phase_cancel, 1), "rebooted": (phase_rebooted, 3)}
    if phase not in phases or len(args) != phases[phase][1]:
        print(__doc__, file=sys.stderr)
        return 2
    function = phases[phase][0]
    if phase == "check":
        args = [args[0], int(args[1])]
    function(lib, *args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
