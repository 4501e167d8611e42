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
##   bin/slotctl                       every slot and state command; no Foundation (Swift runtime linked in)
##   libexec/slotctl/slotctl-update    the update module (check, update, daemon: Foundation URLSession);
##                                     `slotctl check|update|daemon` exec it
##   bin/slot-boot                     the boot decision, fully static, for the initramfs
##   bin/slot-server                   the update server (not needed on a device)
##   lib/libslotctl.so.1.0.0 (+ .so.1, .so links), lib/pkgconfig/slotctl.pc, include/slotctl.h
## install-device: the same without slot-server (what a device needs)
## install-strip: the GNU name for the same thing (install strips already); STRIP=true keeps symbols
# Two scratch paths of their own: -static-executable changes how every module
# is built. slotctl, slotctl-update, slot-server and the library share one
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
DEVICE_PRODUCTS = slotctl slotctl-update SlotctlCAPI

.PHONY: install install-strip install-device install-build install-build-device install-build-static \
	install-files install-device-files install-server-files

install: install-build install-build-static
	$(MAKE) --no-print-directory install-device-files install-server-files

install-strip: install

install-device: install-build-device install-build-static
	$(MAKE) --no-print-directory install-device-files

# One invocation for every product (slotctl, slotctl-update, slot-server,
# libSlotctlCAPI.so and a slot-boot that is not installed): one plan, the
# links overlap other compiles.
install-build:
	@echo "== release build: slotctl, slotctl-update, slot-server, libslotctl.so ($(INSTALL_SCRATCH), -static-stdlib)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) -Xswiftc -static-stdlib

# The device products only, one at a time (SwiftPM builds one --product per call).
install-build-device:
	@echo "== release build: $(DEVICE_PRODUCTS) ($(INSTALL_SCRATCH), -static-stdlib)"
	for p in $(DEVICE_PRODUCTS); do \
		$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) -Xswiftc -static-stdlib --product $$p || exit 1; \
	done

install-build-static:
	@echo "== release build: slot-boot ($(INSTALL_SCRATCH_STATIC), -static-executable)"
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH_STATIC) -Xswiftc -static-executable --product slot-boot

# Copy (and strip) what the builds made; run by `install` after the builds.
install-files: install-device-files install-server-files

install-device-files:
	$(INSTALL) -d $(INSTALL_DIR)/bin $(INSTALL_DIR)/libexec/slotctl $(INSTALL_DIR)/lib/pkgconfig $(INSTALL_DIR)/include
	$(INSTALL) -m 0755 $(INSTALL_RELEASE)/slotctl $(INSTALL_DIR)/bin/slotctl
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
