/*
 * The C API of libslotctl, driven from C against an installed library.
 * Built by Tests/capi/run.sh with
 *   cc -std=c99 -Wall -Wextra -Werror capi_test.c $(pkg-config --cflags --libs slotctl)
 * Each phase is one process; every wrong result prints FAIL and exits 1.
 *
 *   capi_test errors  CONFIG MISSING_CONFIG
 *   capi_test basics  CONFIG EXPECTED_SLOT EXPECTED_PATH EXPECTED_VERSION
 *   capi_test check   CONFIG EXPECTED_AVAILABLE(0|1)
 *   capi_test update  CONFIG              (prints the final progress)
 *   capi_test cancel  CONFIG              (against a throttled server)
 *   capi_test rebooted CONFIG EXPECTED_SLOT EXPECTED_VERSION
 *   capi_test cancel-now CONFIG         (cancel right after start; a known engine bug)
 */
#define _POSIX_C_SOURCE 200809L
#include <slotctl.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

/* The handle's (or, for NULL, this thread's) last error, owned here. */
static char *last_error(slotctl_t h) {
    char *message = slotctl_last_error(h);
    return message ? message : strdup("(none)");
}

/* A call that must succeed; on failure prints its status and message. */
#define OK(h, call)                                                                  \
    do {                                                                             \
        int rc_ = (call);                                                            \
        if (rc_ != SLOTCTL_OK) {                                                     \
            char *m_ = last_error(h);                                                \
            fprintf(stderr, "FAIL %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, \
                    #call, rc_, m_);                                                 \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *state_name(slotctl_update_state s) {
    static const char *names[] = {"IDLE", "CHECKING", "DOWNLOADING", "INSTALLING",
                                  "READY_TO_REBOOT", "UP_TO_DATE", "FAILED", "CANCELLED"};
    return (unsigned)s < 8 ? names[s] : "?";
}

static int is_final(slotctl_update_state s) {
    return s == SLOTCTL_UPDATE_READY_TO_REBOOT || s == SLOTCTL_UPDATE_UP_TO_DATE ||
           s == SLOTCTL_UPDATE_FAILED || s == SLOTCTL_UPDATE_CANCELLED;
}

static slotctl_t open_or_die(const char *config) {
    slotctl_t h = NULL;
    int rc = slotctl_open(config, &h);
    if (rc != SLOTCTL_OK) {
        char *m = last_error(NULL);
        fprintf(stderr, "FAIL: slotctl_open(%s) returned %d: %s\n", config, rc, m);
        exit(1);
    }
    CHECK(h != NULL, "slotctl_open succeeded without a handle");
    return h;
}

/* ------------------------------------------------------------------ errors */

static void phase_errors(const char *config, const char *missing) {
    slotctl_t h = (slotctl_t)0x1;
    char *s = (char *)0x1;
    char *m;

    /* The layout the library writes into. */
    CHECK(offsetof(slotctl_progress, state) == 0, "state offset");
    CHECK(offsetof(slotctl_progress, bytes_done) == 8, "bytes_done offset");
    CHECK(offsetof(slotctl_progress, bytes_total) == 16, "bytes_total offset");
    CHECK(offsetof(slotctl_progress, error) == 24, "error offset");
    CHECK(sizeof(slotctl_update_state) == 4, "enum size %zu", sizeof(slotctl_update_state));
    CHECK(SLOTCTL_VERSION_MAJOR == 1, "major version");

    /* A missing config: usage (2), no handle, a message naming the file. */
    int rc = slotctl_open(missing, &h);
    CHECK(rc == SLOTCTL_ERR_USAGE, "open(missing) returned %d", rc);
    CHECK(h == NULL, "open(missing) left a handle");
    m = slotctl_last_error(NULL);
    CHECK(m != NULL && strstr(m, missing) != NULL, "last_error(NULL) = %s", m ? m : "NULL");
    printf("open(missing) = %d: %s\n", rc, m);
    slotctl_free(m);

    /* NULL arguments: SLOTCTL_ERR_ARG, messages that name them. */
    CHECK(slotctl_open(config, NULL) == SLOTCTL_ERR_ARG, "open(config, NULL)");
    m = slotctl_last_error(NULL);
    CHECK(m != NULL && strstr(m, "out") != NULL, "last_error after open(.., NULL) = %s", m ? m : "NULL");
    slotctl_free(m);
    CHECK(slotctl_boot(NULL, &s) == SLOTCTL_ERR_ARG, "boot(NULL handle)");
    CHECK(s == NULL, "boot(NULL handle) left *slot set");
    m = slotctl_last_error(NULL);
    CHECK(m != NULL && strstr(m, "slotctl_boot: handle is NULL") != NULL, "last_error(NULL) = %s", m ? m : "NULL");
    slotctl_free(m);
    CHECK(slotctl_mark_good(NULL) == SLOTCTL_ERR_ARG, "mark_good(NULL)");
    CHECK(slotctl_update_progress(NULL, NULL) == SLOTCTL_ERR_ARG, "update_progress(NULL)");
    CHECK(slotctl_cancel_update(NULL) == SLOTCTL_ERR_ARG, "cancel_update(NULL)");
    CHECK(slotctl_close(NULL) == SLOTCTL_OK, "close(NULL)");
    slotctl_free(NULL);

    h = open_or_die(config);
    CHECK(slotctl_last_error(h) == NULL, "a fresh handle has a last error");
    CHECK(slotctl_status_json(h, NULL) == SLOTCTL_ERR_ARG, "status_json(h, NULL)");
    m = slotctl_last_error(h);
    CHECK(m != NULL && strstr(m, "slotctl_status_json: out is NULL") != NULL, "last_error(h) = %s", m ? m : "NULL");
    slotctl_free(m);
    CHECK(slotctl_boot(h, NULL) == SLOTCTL_ERR_ARG, "boot(h, NULL)");
    CHECK(slotctl_active_path(h, NULL) == SLOTCTL_ERR_ARG, "active_path(h, NULL)");
    CHECK(slotctl_current_version(h, NULL) == SLOTCTL_ERR_ARG, "current_version(h, NULL)");
    CHECK(slotctl_check_update(h, NULL) == SLOTCTL_ERR_ARG, "check_update(h, NULL)");
    CHECK(slotctl_update_progress(h, NULL) == SLOTCTL_ERR_ARG, "update_progress(h, NULL)");
    CHECK(slotctl_mark_bad(h, NULL) == SLOTCTL_ERR_ARG, "mark_bad(h, NULL)");

    /* Bad slot names: usage (2). */
    rc = slotctl_mark_bad(h, "Q");
    CHECK(rc == SLOTCTL_ERR_USAGE, "mark_bad(Q) returned %d", rc);
    m = slotctl_last_error(h);
    CHECK(m != NULL && strstr(m, "'Q'") != NULL, "last_error = %s", m ? m : "NULL");
    printf("mark_bad(Q) = %d: %s\n", rc, m);
    slotctl_free(m);
    rc = slotctl_mark_bad(h, "R");
    CHECK(rc == SLOTCTL_ERR_USAGE, "mark_bad(R) returned %d", rc);
    rc = slotctl_mark_bad(h, "\xff\xfe");
    CHECK(rc == SLOTCTL_ERR_ARG, "mark_bad(not UTF-8) returned %d", rc);

    /* No update started: IDLE; cancelling nothing is fine. */
    slotctl_progress p;
    memset(&p, 0xff, sizeof p);
    OK(h, slotctl_update_progress(h, &p));
    CHECK(p.state == SLOTCTL_UPDATE_IDLE && p.bytes_done == 0 && p.bytes_total == 0 && p.error == 0,
          "progress before any update: %d %llu %llu %d", (int)p.state, (unsigned long long)p.bytes_done,
          (unsigned long long)p.bytes_total, p.error);
    OK(h, slotctl_cancel_update(h));
    OK(h, slotctl_close(h));
    puts("errors: ok");
}

/* ------------------------------------------------------------------ basics */

static void phase_basics(const char *config, const char *expected_slot, const char *expected_path,
                         const char *expected_version) {
    slotctl_t h = open_or_die(config);
    char *s = NULL;

    /* Before any boot was counted nothing says which slot runs. */
    int rc = slotctl_mark_good(h);
    CHECK(rc == SLOTCTL_ERR_REFUSED, "mark_good before boot returned %d", rc);

    OK(h, slotctl_boot(h, &s));
    CHECK(s != NULL && strcmp(s, expected_slot) == 0, "boot chose %s, expected %s", s ? s : "NULL", expected_slot);
    printf("boot: %s\n", s);
    slotctl_free(s);

    OK(h, slotctl_mark_good(h));

    OK(h, slotctl_active_path(h, &s));
    CHECK(strcmp(s, expected_path) == 0, "active_path %s, expected %s", s, expected_path);
    printf("active_path: %s\n", s);
    slotctl_free(s);

    OK(h, slotctl_current_version(h, &s));
    CHECK(strcmp(s, expected_version) == 0, "current_version %s, expected %s", s, expected_version);
    printf("current_version: %s\n", s);
    slotctl_free(s);

    /* The JSON is checked in full by the Python test; here: the marks show. */
    OK(h, slotctl_status_json(h, &s));
    char needle[64];
    snprintf(needle, sizeof needle, "\"booted\":\"%s\"", expected_slot);
    CHECK(s[0] == '{' && strstr(s, needle) != NULL, "status json lacks %s: %s", needle, s);
    snprintf(needle, sizeof needle, "\"%s\":{", expected_slot);
    char *slot_object = strstr(s, needle);
    CHECK(slot_object != NULL && strstr(slot_object, "\"status\":\"good\"") != NULL, "slot not good: %s", s);
    CHECK(strstr(s, "\"type\":\"marked-good\"") != NULL, "no marked-good event: %s", s);
    slotctl_free(s);

    /* The other slot of A and B holds nothing yet: giving up on it works
     * (lower case too) and shows; the update later installs into it. */
    const char *other = strcmp(expected_slot, "A") == 0 ? "b" : "a";
    OK(h, slotctl_mark_bad(h, other));
    OK(h, slotctl_status_json(h, &s));
    snprintf(needle, sizeof needle, "\"%c\":{", other[0] - 'a' + 'A');
    slot_object = strstr(s, needle);
    CHECK(slot_object != NULL && strncmp(strstr(slot_object, "\"status\":"), "\"status\":\"bad\"", 14) == 0,
          "mark_bad(%s) did not show: %s", other, s);
    slotctl_free(s);

    OK(h, slotctl_close(h));
    puts("basics: ok");
}

/* ------------------------------------------------------------------- check */

static void phase_check(const char *config, int expected) {
    slotctl_t h = open_or_die(config);
    int available = -1;
    OK(h, slotctl_check_update(h, &available));
    CHECK(available == expected, "check_update: available=%d, expected %d", available, expected);
    printf("check_update: available=%d\n", available);
    OK(h, slotctl_close(h));
}

/* ------------------------------------------------------------------ update */

/* Polls every 20 ms until a final state; returns it. States and byte counts
 * must only move forward. */
static slotctl_progress poll_until_final(slotctl_t h, double timeout_s, int cancel_after_bytes) {
    slotctl_progress p, last = {SLOTCTL_UPDATE_IDLE, 0, 0, 0};
    double start = now_s();
    int cancelled = 0, polls = 0;
    for (;;) {
        OK(h, slotctl_update_progress(h, &p));
        polls++;
        if (p.state != last.state || p.bytes_done != last.bytes_done) {
            printf("  %.2fs %s %llu/%llu\n", now_s() - start, state_name(p.state),
                   (unsigned long long)p.bytes_done, (unsigned long long)p.bytes_total);
        }
        CHECK(p.bytes_done >= last.bytes_done, "bytes_done went back: %llu -> %llu",
              (unsigned long long)last.bytes_done, (unsigned long long)p.bytes_done);
        CHECK(p.state == SLOTCTL_UPDATE_IDLE || p.state >= last.state || is_final(p.state),
              "state went back: %s -> %s", state_name(last.state), state_name(p.state));
        CHECK(p.bytes_total == 0 || p.bytes_done <= p.bytes_total, "done > total");
        last = p;
        if (is_final(p.state)) break;
        if (cancel_after_bytes && !cancelled && p.state == SLOTCTL_UPDATE_DOWNLOADING && p.bytes_done > 0) {
            /* A second start while one runs is refused. */
            int rc = slotctl_start_update(h);
            CHECK(rc == SLOTCTL_ERR_REFUSED, "start while running returned %d", rc);
            OK(h, slotctl_cancel_update(h));
            cancelled = 1;
            printf("  %.2fs cancel requested at %llu bytes\n", now_s() - start, (unsigned long long)p.bytes_done);
        }
        CHECK(now_s() - start < timeout_s, "no final state after %.0f s (state %s)", timeout_s, state_name(p.state));
        sleep_ms(20);
    }
    printf("  final: %s after %.2f s, %d polls, error %d\n", state_name(p.state), now_s() - start, polls, p.error);
    return p;
}

static void phase_update(const char *config) {
    slotctl_t h = open_or_die(config);
    OK(h, slotctl_start_update(h));
    slotctl_progress p = poll_until_final(h, 120, 0);
    if (p.state != SLOTCTL_UPDATE_READY_TO_REBOOT) {
        char *m = last_error(h);
        CHECK(0, "update ended %s (error %d): %s", state_name(p.state), p.error, m);
    }
    CHECK(p.error == 0, "error %d on success", p.error);
    CHECK(p.bytes_total > 0 && p.bytes_done == p.bytes_total, "bytes %llu/%llu",
          (unsigned long long)p.bytes_done, (unsigned long long)p.bytes_total);
    /* The running version does not change until the reboot. */
    char *s = NULL;
    OK(h, slotctl_current_version(h, &s));
    printf("current_version after update: %s\n", s);
    slotctl_free(s);
    OK(h, slotctl_close(h));
    puts("update: ok");
}

static void phase_cancel(const char *config) {
    slotctl_t h = open_or_die(config);
    OK(h, slotctl_start_update(h));
    slotctl_progress p = poll_until_final(h, 60, 1);
    CHECK(p.state == SLOTCTL_UPDATE_CANCELLED, "ended %s, expected CANCELLED", state_name(p.state));
    CHECK(p.error == SLOTCTL_ERR_REFUSED, "cancelled with error %d", p.error);
    CHECK(p.bytes_done < p.bytes_total, "cancelled after the whole payload arrived");
    char *m = slotctl_last_error(h);
    CHECK(m != NULL && strstr(m, "cancel") != NULL, "last_error after cancel: %s", m ? m : "NULL");
    printf("last_error: %s\n", m);
    slotctl_free(m);
    OK(h, slotctl_close(h));
    puts("cancel: ok");
}

/* A cancel right after start, before the update's task got going: the
 * update must still end CANCELLED. */
static void phase_cancel_now(const char *config) {
    slotctl_t h = open_or_die(config);
    OK(h, slotctl_start_update(h));
    OK(h, slotctl_cancel_update(h));
    slotctl_progress p = poll_until_final(h, 120, 0);
    CHECK(p.state == SLOTCTL_UPDATE_CANCELLED, "start + immediate cancel ended %s, expected CANCELLED",
          state_name(p.state));
    OK(h, slotctl_close(h));
    puts("cancel-now: ok");
}

/* After an update: the next boot takes the new slot, which then confirms
 * itself and reports the new version; the server has nothing newer. */
static void phase_rebooted(const char *config, const char *expected_slot, const char *expected_version) {
    slotctl_t h = open_or_die(config);
    char *s = NULL;
    int available = -1;
    OK(h, slotctl_boot(h, &s));
    CHECK(strcmp(s, expected_slot) == 0, "boot chose %s, expected %s", s, expected_slot);
    slotctl_free(s);
    OK(h, slotctl_mark_good(h));
    OK(h, slotctl_current_version(h, &s));
    CHECK(strcmp(s, expected_version) == 0, "current_version %s, expected %s", s, expected_version);
    printf("booted %s, running %s\n", expected_slot, s);
    slotctl_free(s);
    OK(h, slotctl_check_update(h, &available));
    CHECK(available == 0, "check_update after the update: available=%d", available);
    OK(h, slotctl_close(h));
    puts("rebooted: ok");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "errors") == 0) {
        phase_errors(argv[2], argv[3]);
    } else if (argc == 6 && strcmp(argv[1], "basics") == 0) {
        phase_basics(argv[2], argv[3], argv[4], argv[5]);
    } else if (argc == 4 && strcmp(argv[1], "check") == 0) {
        phase_check(argv[2], atoi(argv[3]));
    } else if (argc == 3 && strcmp(argv[1], "update") == 0) {
        phase_update(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "cancel") == 0) {
        phase_cancel(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "cancel-now") == 0) {
        phase_cancel_now(argv[2]);
    } else if (argc == 5 && strcmp(argv[1], "rebooted") == 0) {
        phase_rebooted(argv[2], argv[3], argv[4]);
    } else {
        fprintf(stderr, "usage: capi_test errors|basics|check|update|cancel|cancel-now|rebooted CONFIG ...\n");
        return 2;
    }
    return 0;
}
