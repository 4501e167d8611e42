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
## install: release builds into PREFIX (default /usr/local; DESTDIR for staging):
##   bin/slotctl, bin/slot-server  (Swift runtime and Foundation linked in)
##   bin/slot-boot                 (fully static, for the initramfs)
##   lib/libslotctl.so.1.0.0 (+ .so.1, .so links), lib/pkgconfig/slotctl.pc, include/slotctl.h
# Two scratch paths of their own: -static-executable changes how every module
# is built. slotctl, slot-server and the library share one (-static-stdlib,
# the same flags for all three: the executables get the runtime linked in, the
# library gets it inside the .so), so their common modules build once.
INSTALL_SCRATCH ?= .build-install
INSTALL_SCRATCH_STATIC ?= .build-install-static
SLOTCTL_SO_VERSION = 1.0.0
SLOTCTL_SO_MAJOR = 1
INSTALL ?= install
INSTALL_DIR = $(DESTDIR)$(PREFIX)
INSTALL_RELEASE = $(INSTALL_SCRATCH)/release
INSTALL_RELEASE_STATIC = $(INSTALL_SCRATCH_STATIC)/release

.PHONY: install install-build install-build-static install-files

install: install-build install-build-static
	$(MAKE) --no-print-directory install-files

# One invocation for every product (slotctl, slot-server, libSlotctlCAPI.so and a
# slot-boot that is not installed): one plan, the links overlap other compiles.
install-build:
	@echo "== release build: slotctl, slot-server, libslotctl.so ($(INSTALL_SCRATCH), -static-stdlib)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) -Xswiftc -static-stdlib

install-build-static:
	@echo "== release build: slot-boot ($(INSTALL_SCRATCH_STATIC), -static-executable)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH_STATIC) -Xswiftc -static-executable --product slot-boot

# Copies what the builds made; run by `install` after both builds.
install-files:
	$(INSTALL) -d $(INSTALL_DIR)/bin $(INSTALL_DIR)/lib/pkgconfig $(INSTALL_DIR)/include
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/slotctl $(INSTALL_DIR)/bin/slotctl
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/slot-server $(INSTALL_DIR)/bin/slot-server
	$(INSTALL) -m 0755 $(INSTALL_RELEASE_STATIC)/slot-boot $(INSTALL_DIR)/bin/slot-boot
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/libSlotctlCAPI.so $(INSTALL_DIR)/lib/libslotctl.so.$(SLOTCTL_SO_VERSION)
	ln -sf libslotctl.so.$(SLOTCTL_SO_VERSION) $(INSTALL_DIR)/lib/libslotctl.so.$(SLOTCTL_SO_MAJOR)
	ln -sf libslotctl.so.$(SLOTCTL_SO_MAJOR) $(INSTALL_DIR)/lib/libslotctl.so
	$(INSTALL) -m 0644 include/slotctl.h $(INSTALL_DIR)/include/slotctl.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(SLOTCTL_SO_VERSION)|g' slotctl.pc.in > $(INSTALL_DIR)/lib/pkgconfig/slotctl.pc
	chmod 0644 $(INSTALL_DIR)/lib/pkgconfig/slotctl.pc
	@echo "== installed into $(INSTALL_DIR)"
