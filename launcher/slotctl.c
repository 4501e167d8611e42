/*
 * The installed slotctl: a launcher of a few KB.
 *
 * Every command runs in libslotctl.so (slotctl_main), so that a device carries
 * one copy of the core and the Swift runtime, in the library, however many
 * programs use it. The library is opened with dlopen rather than linked, for
 * one reason: the plain form of the command every healthy start runs,
 * `slotctl [--config PATH] mark-good [SLOT]`, execs the static slot-boot next
 * to this launcher instead, and so never pays for mapping, relocating and
 * starting the library (Benchmarks/footprint.sh). slot-boot runs the same
 * SlotCore call and prints the same messages; any other spelling (an option
 * after the command, --help, a word that is no slot) goes to the library and
 * its argument parser, as does everything when slot-boot is not there.
 *
 * The Makefile gives the launcher a RUNPATH of $ORIGIN/../lib and
 * $(PREFIX)/lib, which dlopen searches.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fills `out` with slot-boot's arguments when argv is the plain mark-good
 * form; returns 0 for any other command line. `--config PATH` and
 * `--config=PATH` may come before the command, the last one wins. */
static int plain_mark_good(int argc, char **argv, char **out) {
	char *config = NULL;
	int i = 1;
	while (i < argc) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
			i += 1;
		} else {
			break;
		}
	}
	if (i >= argc || strcmp(argv[i], "mark-good") != 0)
		return 0;
	i += 1;
	char *slot = NULL;
	if (i < argc) {
		slot = argv[i++];
		if (strlen(slot) != 1 || strchr("aAbBrR", slot[0]) == NULL)
			return 0;
	}
	if (i != argc)
		return 0;
	int n = 0;
	out[n++] = "slot-boot";
	if (config != NULL) {
		out[n++] = "--config";
		out[n++] = config;
	}
	out[n++] = "mark-good";
	if (slot != NULL)
		out[n++] = slot;
	out[n] = NULL;
	return 1;
}

/* Execs slot-boot from the launcher's own directory; returns if it cannot. */
static void exec_slot_boot(char **args) {
	char path[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", path, sizeof path - sizeof "slot-boot");
	if (length <= 0)
		return;
	path[length] = '\0';
	char *slash = strrchr(path, '/');
	if (slash == NULL)
		return;
	strcpy(slash + 1, "slot-boot");
	execv(path, args);
}

int main(int argc, char **argv) {
	char *args[6];
	if (plain_mark_good(argc, argv, args))
		exec_slot_boot(args);

	/* Lazy binding, as when linked: binding every symbol up front costs ~1 ms. */
	void *library = dlopen("libslotctl.so.1", RTLD_LAZY);
	if (library == NULL) {
		fprintf(stderr, "slotctl: error: cannot load the slotctl library: %s\n", dlerror());
		return 127;
	}
	int (*slotctl_main)(int, char **);
	*(void **)&slotctl_main = dlsym(library, "slotctl_main");
	if (slotctl_main == NULL) {
		fprintf(stderr, "slotctl: error: libslotctl.so.1 has no slotctl_main: %s\n", dlerror());
		return 127;
	}
	return slotctl_main(argc, argv);
}
