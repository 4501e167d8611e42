/*
 * slotctl.h: the C API of libslotctl, the A/B/R slot manager and
 * over-the-air updater.
 *
 * Link with `pkg-config --cflags --libs slotctl` (-lslotctl). The library's
 * soname is libslotctl.so.1 and it exports only the slotctl_* symbols below
 * (symbol version SLOTCTL_1). It carries its own copy of the Swift runtime
 * (linked statically, without Foundation), so the host needs no Swift
 * install: its dependencies are libc, libm, libstdc++, libgcc_s, libz and
 * libblkid. The installed `slotctl` command is a launcher that runs its
 * command line in this library (slotctl_main, not part of this API). Checks
 * and updates run in the update module, a separate program
 * ($PREFIX/libexec/slotctl/slotctl-update, or $SLOTCTL_UPDATE_MODULE) that
 * the library starts as a child process: that is where Foundation, URLSession
 * and libcurl are, once per device. Two consequences: a process that loads
 * the library next to another Swift runtime has two of them (they do not
 * share anything, which is fine for this API), and the library must not be
 * unloaded while an update runs (close every handle before dlclose).
 *
 * Conventions, for every function unless its comment says otherwise:
 *
 * - The return value is a status: SLOTCTL_OK (0) or one of SLOTCTL_ERR_*.
 *   2 to 5 are the families of the `slotctl` command's exit codes.
 * - After a failure, slotctl_last_error(h) says why, in words.
 * - Strings passed in are NUL-terminated UTF-8. Strings handed back through
 *   a `char **` are allocated by the library: the caller owns them and frees
 *   them with slotctl_free(). On failure the `char **` target is set to NULL
 *   (when the pointer itself is not NULL), so freeing it is always safe.
 * - Threads: a handle may be used from any thread and from several threads
 *   at once. The calls that read or change the state or talk to the update
 *   server (status_json, boot, mark_good, mark_bad, active_path,
 *   current_version, check_update, start_update) take the handle's lock and
 *   run one at a time per handle; slotctl_update_progress,
 *   slotctl_cancel_update and slotctl_last_error never wait for that lock,
 *   so they answer at once while a check or an update is in progress. Use
 *   one handle per thread if you want those calls to run in parallel; the
 *   on-disk state is protected between handles and processes by file locks.
 *   slotctl_close must not race with any other call on the same handle.
 */
#ifndef SLOTCTL_H
#define SLOTCTL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLOTCTL_VERSION_MAJOR 1
#define SLOTCTL_VERSION_MINOR 0
#define SLOTCTL_VERSION_PATCH 0

/* Status codes. */
#define SLOTCTL_OK 0
/* Usage or configuration: a config file missing or invalid, an unknown slot
 * name, no [update] server configured, no way to tell the booted slot for an
 * operation that needs it. */
#define SLOTCTL_ERR_USAGE 2
/* Verification: CRC32, SHA-256, size, compatible string, signature,
 * security-version downgrade. */
#define SLOTCTL_ERR_VERIFY 3
/* I/O: files, devices, the state store, the network. */
#define SLOTCTL_ERR_IO 4
/* Refused by the current state: the booted slot, a readonly slot, a lock
 * held (an update already running), not provisioned, a slot not usable,
 * an update cancelled. */
#define SLOTCTL_ERR_REFUSED 5
/* C API only: a required pointer argument was NULL (including the handle),
 * or a string argument was not valid UTF-8. */
#define SLOTCTL_ERR_ARG 6
/* C API only: a result could not be allocated. */
#define SLOTCTL_ERR_NOMEM 7
/* Updates only: the update module ($PREFIX/libexec/slotctl/slotctl-update,
 * which runs check and update as a child process) is not installed.
 * The CLI's exit code 8. */
#define SLOTCTL_ERR_NOMODULE 8

/* An open system: one config file and its state. Opaque. */
typedef struct slotctl *slotctl_t;

/* Where an update is. Final states: READY_TO_REBOOT, UP_TO_DATE, FAILED,
 * CANCELLED. */
typedef enum slotctl_update_state {
    SLOTCTL_UPDATE_IDLE = 0,            /* no update started on this handle */
    SLOTCTL_UPDATE_CHECKING = 1,        /* asking the server */
    SLOTCTL_UPDATE_DOWNLOADING = 2,     /* streaming the payload into the inactive slot */
    SLOTCTL_UPDATE_INSTALLING = 3,      /* payload received; verifying and marking the slot ready */
    SLOTCTL_UPDATE_READY_TO_REBOOT = 4, /* installed and verified: the next boot takes it */
    SLOTCTL_UPDATE_UP_TO_DATE = 5,      /* the server had nothing new */
    SLOTCTL_UPDATE_FAILED = 6,          /* see error and slotctl_last_error() */
    SLOTCTL_UPDATE_CANCELLED = 7        /* slotctl_cancel_update() stopped it */
} slotctl_update_state;

/* A snapshot of the update on a handle. */
typedef struct slotctl_progress {
    slotctl_update_state state;
    uint64_t bytes_done;  /* payload bytes received and written so far */
    uint64_t bytes_total; /* payload bytes in all; 0 until known */
    int32_t error;        /* FAILED or CANCELLED: the SLOTCTL_ERR_* status of
                             the cause (CANCELLED: SLOTCTL_ERR_REFUSED); else 0 */
} slotctl_progress;

/* Opens the system described by a config file and returns a handle in *out.
 * config_path: the file; NULL means $SLOTCTL_CONFIG, else
 * /etc/slotctl/system.conf. The file is read now; the state is not touched.
 * On failure *out is NULL and slotctl_last_error(NULL), called on the same
 * thread, gives the message. Returns SLOTCTL_ERR_USAGE for a missing or
 * invalid config, SLOTCTL_ERR_ARG when out is NULL. */
int slotctl_open(const char *config_path, slotctl_t *out);

/* Closes a handle and frees it. A running update is cancelled first and
 * close waits until it has stopped (normally milliseconds; while the engine
 * is waiting for the server's answer to a check, up to that request's
 * timeout of 30 s): the slot being written stays unbootable, the booted slot is
 * untouched. NULL is accepted and does nothing. The handle must not be used
 * again, nor by another thread during the call. Returns SLOTCTL_OK. */
int slotctl_close(slotctl_t h);

/* The message of the last failure on h: of the last call on h that returned
 * non-zero (from any thread), or of the update as last seen by
 * slotctl_update_progress() in state FAILED or CANCELLED, whichever came
 * last. Successful calls do not clear it. With h NULL: the last failure on
 * the calling thread of a call that had no handle (slotctl_open, or any
 * call given a NULL handle).
 * Returns a new string the caller frees with slotctl_free(), or NULL when
 * nothing failed yet (or memory ran out). Thread-safe. */
char *slotctl_last_error(slotctl_t h);

/* Frees a string returned by this library. NULL is accepted. */
void slotctl_free(void *p);

/* The status as JSON, the same document as `slotctl status --json`: booted,
 * next, compatible, securityVersion, slots{A,B,R}, events, ... (see the
 * README for the keys). *json is a new string; free it with slotctl_free().
 * Works on a state that is missing or corrupt (it says so in "state"). */
int slotctl_status_json(slotctl_t h, char **json);

/* Counts a boot (or an application launch) and names the slot to use, as
 * the boot hook does: the best ready or good slot of A and B with tries
 * left, its counter decremented and persisted before the answer; R when
 * none is left. Records the decision in the config's run-dir, which later
 * calls (mark_good, active_path, current_version) use as "the booted slot".
 * *slot is "A", "B" or "R", a new string; free it with slotctl_free().
 * Never fails for reasons of state (a problem means R); fails only on
 * NULL arguments and memory. */
int slotctl_boot(slotctl_t h, char **slot);

/* Confirms the booted slot: status good, its counter re-armed to
 * max-tries. For R it succeeds and changes nothing. Returns
 * SLOTCTL_ERR_REFUSED when the booted slot cannot be told (no slotctl_boot or
 * boot hook ran) or holds no verified image, SLOTCTL_ERR_IO/REFUSED when the state cannot be written or locked. */
int slotctl_mark_good(slotctl_t h);

/* Gives up on a slot ("A" or "B", case-insensitive): it is not booted again
 * until reinstalled or re-activated. Returns SLOTCTL_ERR_USAGE for an
 * unknown name and for "R" (R has no counter), SLOTCTL_ERR_ARG for NULL. */
int slotctl_mark_bad(slotctl_t h, const char *slot);

/* What to load or mount: the booted slot's payload file for a directory
 * slot ("which .so do I load?") or its block device (resolved from
 * LABEL=, PARTUUID=, ...). *path is a new string; free it with
 * slotctl_free(). Returns SLOTCTL_ERR_REFUSED when the booted slot cannot be
 * told, SLOTCTL_ERR_IO when its device cannot be found. */
int slotctl_active_path(slotctl_t h, char **path);

/* The version recorded for the booted slot when it was installed, as
 * `slotctl current`. *version is a new string; free it with slotctl_free().
 * Returns SLOTCTL_ERR_REFUSED when the booted slot cannot be told or has no
 * recorded version, SLOTCTL_ERR_IO/REFUSED when the state cannot be read. */
int slotctl_current_version(slotctl_t h, char **version);

/* Asks the update server (config [update] server, channel) whether there is
 * an update for this device, first reporting queued events. Blocks the
 * calling thread until the server answered (the update module does the
 * work; the caller may be any thread). *available is 1 when a release that
 * verifies (signature, compatible, security floor) and differs from the
 * running version is on offer, else 0. A server that does not answer
 * times out after 30 s (SLOTCTL_ERR_IO). Returns SLOTCTL_ERR_USAGE when no
 * server is configured, SLOTCTL_ERR_IO when the server cannot be reached,
 * SLOTCTL_ERR_VERIFY when the release on offer does not verify,
 * SLOTCTL_ERR_NOMODULE when the update module is not installed. */
int slotctl_check_update(slotctl_t h, int *available);

/* Starts an update in the background and returns at once: check, download
 * into the inactive slot, verify, mark it ready (never reboots). Follow it
 * with slotctl_update_progress(). Returns SLOTCTL_ERR_REFUSED when an
 * update is already running on this handle, SLOTCTL_ERR_USAGE when no
 * server is configured, SLOTCTL_ERR_NOMODULE when the update module is not
 * installed; failures of the update itself are reported through
 * the progress (state FAILED, error). */
int slotctl_start_update(slotctl_t h);

/* Fills *out with the state of the handle's update (IDLE when none was
 * started). Never waits for a running check or update. When the state is
 * FAILED or CANCELLED, the cause's message becomes the handle's last error
 * (slotctl_last_error). Returns SLOTCTL_ERR_ARG when out is NULL. */
int slotctl_update_progress(slotctl_t h, slotctl_progress *out);

/* Asks the running update to stop and returns at once; it ends in state
 * CANCELLED (or in the state it was about to reach, if it got there first),
 * the slot being written left unbootable. Does nothing and returns
 * SLOTCTL_OK when no update is running. */
int slotctl_cancel_update(slotctl_t h);

#ifdef __cplusplus
}
#endif

#endif /* SLOTCTL_H */
