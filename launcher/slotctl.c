/*
 * The installed slotctl: a launcher of a few KB that runs the command line in
 * libslotctl.so (slotctl_main), so that a device carries one copy of the core
 * and the Swift runtime, in the library, however many programs use it. The
 * Makefile links it to libslotctl.so.1 with a RUNPATH of $ORIGIN/../lib and
 * $(PREFIX)/lib.
 */
int slotctl_main(int argc, char **argv);

int main(int argc, char **argv) { return slotctl_main(argc, argv); }
