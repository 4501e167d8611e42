# slotctl — the two commands at the top of the README are `make demo` and `make test`.
PREFIX ?= /usr/local
SWIFT ?= swift

.PHONY: demo test build unit-tests bench clean

## demo: build, then walk file-backed A/B/R slots through update, fallback, recovery, factory reset
demo:
	scripts/deps.sh build
	scripts/demo.sh

## test: everything CI runs (installs its Debian packages when missing; root for loop devices)
test:
	scripts/deps.sh test
	scripts/test.sh

build:
	scripts/deps.sh build
	$(SWIFT) build

## bench: the benchmarks, side by side with their baselines
bench:
	Benchmarks/install.sh

clean:
	rm -rf .build .build-*

# ---------------------------------------------------------------------------
## install: release builds into PREFIX (default /usr/local; DESTDIR for staging), stripped:
##   lib/libslotctl.so.1.0.0           the C API, and the one copy of the core and the Swift runtime
##     (+ .so.1, .so links)            (linked in, no Foundation) outside the initramfs
##   bin/slotctl                       every slot and state command: a launcher of a few KB that runs
##                                     slotctl_main in libslotctl.so (RUNPATH $ORIGIN/../lib, PREFIX/lib),
##                                     and execs slot-boot for the plain `mark-good` every boot runs
##   bin/slot-boot                     the boot decision and mark-good, fully static (the initramfs)
##   libexec/slotctl/slotctl-update    the update module (check, update, daemon: HTTP over libcurl);
##                                     `slotctl check|update|daemon` exec it
##   bin/slot-server                   the update server (not needed on a device)
##   lib/pkgconfig/slotctl.pc, include/slotctl.h
## install-device: the same without slot-server (what a device needs)
## install-strip: the GNU name for the same thing (install strips already); STRIP=true keeps symbols
# Two scratch paths of their own: -static-executable changes how every module
# is built. slotctl-update, slot-server and the library share one
# (-static-stdlib, the same flags for all: the executables get the runtime
# linked in, the library gets it inside the .so), so their common modules build once.
INSTALL_SCRATCH ?= .build-install
INSTALL_SCRATCH_STATIC ?= .build-install-static
SLOTCTL_SO_VERSION = 1.0.0
SLOTCTL_SO_MAJOR = 1
INSTALL ?= install
STRIP ?= strip
INSTALL_DIR = $(DESTDIR)$(PREFIX)
INSTALL_RELEASE = $(INSTALL_SCRATCH)/release
INSTALL_RELEASE_STATIC = $(INSTALL_SCRATCH_STATIC)/release
DEVICE_PRODUCTS = slotctl-update SlotctlCAPI
# The slotctl launcher (launcher/slotctl.c), linked to the library built
# above. The RUNPATH finds it next to a relocated or staged tree, and in
# PREFIX/lib wherever the launcher is copied.
LAUNCHER_DIR = $(INSTALL_SCRATCH)/launcher
LAUNCHER_CFLAGS ?= -O2 -Wall -Wextra -Werror
LAUNCHER_LDFLAGS = -ldl -Wl,--enable-new-dtags,-rpath,'$$ORIGIN/../lib:$(PREFIX)/lib'
# Linked with lld, so that relative relocations can be packed (DT_RELR: 48,000
# of them, 1.1 MB of libslotctl.so, and the loader's work at every start) when
# the C library the build runs on, and so the device it is for, has glibc >= 2.36.
# PACK_RELOCS=no for an older device glibc.
GLIBC_MINOR := $(shell getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc 2\.\([0-9]*\).*/\1/p')
PACK_RELOCS ?= $(shell [ "$(GLIBC_MINOR)" -ge 36 ] 2>/dev/null && echo yes || echo no)
LINK_FLAGS = -Xswiftc -use-ld=lld
ifeq ($(PACK_RELOCS),yes)
LINK_FLAGS += -Xlinker -z -Xlinker pack-relative-relocs
endif
# C and C++ (BoringSSL, zlib and the system shims) with a section per function
# and datum, as Swift code has anyway, so --gc-sections drops what nothing
# calls: 0.59 MB of libslotctl.so (BoringSSL's bcm.cc is one 500 KB unit).
LINK_FLAGS += -Xcc -ffunction-sections -Xcc -fdata-sections -Xcxx -ffunction-sections -Xcxx -fdata-sections
# The static slot-boot's dependencies (swift-system) built without the
# implicit concurrency and regex imports too (Package.swift sets them for
# SlotCore, SlotCodec and slot-boot).
BOOT_FLAGS = -Xswiftc -Xfrontend -Xswiftc -disable-implicit-concurrency-module-import \
	-Xswiftc -Xfrontend -Xswiftc -disable-implicit-string-processing-module-import

.PHONY: install install-strip install-device install-build install-build-device install-build-static \
	install-launcher install-files install-device-files install-server-files

install: install-build install-build-static
	$(MAKE) --no-print-directory install-device-files install-server-files

install-strip: install

install-device: install-build-device install-build-static
	$(MAKE) --no-print-directory install-device-files

# One invocation for every product (slotctl-update, slot-server,
# libSlotctlCAPI.so, and a SwiftPM slotctl and slot-boot that are not
# installed): one plan, the links overlap other compiles.
install-build:
	@echo "== release build: slotctl-update, slot-server, libslotctl.so ($(INSTALL_SCRATCH), -static-stdlib)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) -Xswiftc -static-stdlib $(LINK_FLAGS)

# The device products only, one at a time (SwiftPM builds one --product per call).
install-build-device:
	@echo "== release build: $(DEVICE_PRODUCTS) ($(INSTALL_SCRATCH), -static-stdlib)"
	for p in $(DEVICE_PRODUCTS); do \
		$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) -Xswiftc -static-stdlib $(LINK_FLAGS) --product $$p || exit 1; \
	done

install-build-static:
	@echo "== release build: slot-boot ($(INSTALL_SCRATCH_STATIC), -static-executable)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH_STATIC) -Xswiftc -static-executable $(LINK_FLAGS) $(BOOT_FLAGS) --product slot-boot

# A few milliseconds of cc; PREFIX is baked into the RUNPATH, which dlopen searches.
install-launcher:
	$(INSTALL) -d $(LAUNCHER_DIR)
	$(CC) $(LAUNCHER_CFLAGS) -o $(LAUNCHER_DIR)/slotctl launcher/slotctl.c $(LAUNCHER_LDFLAGS)

# Copy (and strip) what the builds made; run by `install` after the builds.
install-files: install-device-files install-server-files

install-device-files: install-launcher
	$(INSTALL) -d $(INSTALL_DIR)/bin $(INSTALL_DIR)/libexec/slotctl $(INSTALL_DIR)/lib/pkgconfig $(INSTALL_DIR)/include
	$(INSTALL) -m 0755 $(LAUNCHER_DIR)/slotctl $(INSTALL_DIR)/bin/slotctl
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/slotctl-update $(INSTALL_DIR)/libexec/slotctl/slotctl-update
	$(INSTALL) -m 0755 $(INSTALL_RELEASE_STATIC)/slot-boot $(INSTALL_DIR)/bin/slot-boot
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/libSlotctlCAPI.so $(INSTALL_DIR)/lib/libslotctl.so.$(SLOTCTL_SO_VERSION)
	$(STRIP) $(INSTALL_DIR)/bin/slotctl $(INSTALL_DIR)/libexec/slotctl/slotctl-update $(INSTALL_DIR)/bin/slot-boot
	$(STRIP) --strip-unneeded $(INSTALL_DIR)/lib/libslotctl.so.$(SLOTCTL_SO_VERSION)
	ln -sf libslotctl.so.$(SLOTCTL_SO_VERSION) $(INSTALL_DIR)/lib/libslotctl.so.$(SLOTCTL_SO_MAJOR)
	ln -sf libslotctl.so.$(SLOTCTL_SO_MAJOR) $(INSTALL_DIR)/lib/libslotctl.so
	$(INSTALL) -m 0644 include/slotctl.h $(INSTALL_DIR)/include/slotctl.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(SLOTCTL_SO_VERSION)|g' slotctl.pc.in > $(INSTALL_DIR)/lib/pkgconfig/slotctl.pc
	chmod 0644 $(INSTALL_DIR)/lib/pkgconfig/slotctl.pc
	@echo "== installed the device pieces into $(INSTALL_DIR)"

install-server-files:
	$(INSTALL) -d $(INSTALL_DIR)/bin
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/slot-server $(INSTALL_DIR)/bin/slot-server
	$(STRIP) $(INSTALL_DIR)/bin/slot-server
	@echo "== installed slot-server into $(INSTALL_DIR)"
