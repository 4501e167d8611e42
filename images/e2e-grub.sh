#!/bin/sh
# End-to-end test of boot/grub/grub.cfg with real GRUB: Debian's GRUB 2.06
# (grub-efi-amd64-bin, made into BOOTX64.EFI by grub-mkimage) under OVMF in
# qemu-system-x86_64 -accel tcg, on a GPT disk with an ESP and slots A, B
# and R, each an ext4 file system with its own /boot/vmlinuz and
# /boot/initrd.img (images/build-grub-disk.sh):
#     A, R   Debian's cloud kernel (linux-image-cloud-amd64)
#     B      Debian's standard kernel (linux-image-amd64): another
#            `uname -r`, so the console proves whose kernel ran
# (That way round because the cloud kernel is LZ4-compressed and unpacks in
# a fraction of a second under TCG, the standard one is xz: ~13 s.)
# Each slot's initramfs is a busybox one (images/build-grub-initrd.sh) that
# prints "SLOTTEST slot=<slotctl.slot=> initrd=<whose> kernel=<uname -r>"
# and powers off.
#
# For each case the host writes grubenv (grub-editenv, then mcopy into the
# ESP), boots once (QEMU ends at power-off, panic or GRUB's reboot: panic=-1
# and -no-reboot), and checks, failing loudly on any deviation:
#   - the slot GRUB announced, and the slot, initramfs and kernel that ran
#     (serial console, ANSI codes stripped);
#   - how the boot ended (power-off by the slot's init, kernel panic, GRUB's
#     reboot after a kernel that did not load);
#   - the environment GRUB saved (mcopy out, grub-editenv list): exactly the
#     one written plus the expected changes, still 1024 bytes;
#   - no GRUB error but the expected ones.
# Then the counter story: B holds a broken update (the kernel panics before
# any initramfs runs) and is booted until GRUB moves on to A; B without a
# kernel (GRUB cannot load it: reboot, try spent); B fixed.
#
#
# Phase 2, "slotctl drives GRUB" (the issue's story): every environment GRUB
# boots from is written by slotctl itself ([boot] bootloader = grub), and
# after every boot slotctl reads the block GRUB saved:
#     A boots its own kernel, the boot hook records it, mark-good;
#     slotctl installs B, a broken update (its kernel panics before any
#     initramfs): GRUB's counter runs out over 3 boots, A boots, and the
#     hook (`slotctl boot --cmdline` fed the guest's /proc/cmdline) turns B
#     bad with a fell-back event;
#     slotctl installs a good B with another kernel (uname -r proves it
#     ran), mark-good confirms it;
#     slotctl installs a broken A and B's partition is damaged behind
#     slotctl's back: A and B both run out, GRUB boots R, the hook turns
#     both bad.
# slotctl runs on the HOST between boots, not in the guest: the guest is the
# busybox test initramfs above, without slotctl, and running slotctl in the
# guest needs the full root file system and the ESP mounted there (left for
# later). So the host plays the device's storage: slotctl's config has
# [slot.A|B|R] device = plain files (one partition's size each) and its
# state directory on the host, and grubenv = a host file that the script
# copies into the ESP (mcopy) before each boot and back out after it (the
# block GRUB saved with save_env). What slotctl writes into a slot file is
# then written into that slot's partition of the disk (dd), so GRUB loads
# the kernel slotctl installed; the update images are ext4 images made by
# build-grub-disk.sh from the slot trees. The judges after every step:
# grub-editenv list of the block, and `slotctl status --json` (the state,
# GRUB's view, the disagreements).
#
# It installs the Debian packages it needs when missing and fetches the two
# kernels (apt-get download, nothing installed on the host).
#
# Environment:
#   SLOTCTL_GRUB_DIR   work dir (/var/tmp/slotctl-grub): kernels, images, logs
#   E2E_BOOT_TIMEOUT   upper bound of one boot in seconds (default 120)
#   E2E_KEEP=1         keep the disk image of the last run
#   E2E_GRUB_PHASES    which phases run: "cases story" (default), "cases"
#                      (phase 1 only: grub-editenv writes the environments)
#                      or "story" (phase 2 only: slotctl writes them)
#   SLOTCTL            the slotctl binary phase 2 runs on the host (e.g.
#                      .build/debug/slotctl); default the release build of
#                      `make install-build` (.build-install/release/slotctl),
#                      built when missing
set -eu
. "$(dirname "$0")/grub-common.sh"

BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}
T_START=$(now_s)

# ---------------------------------------------------------------- packages
# grub-efi-amd64-bin (the x86_64-efi modules), grub-common (grub-mkimage,
# grub-editenv, grub-fstest, grub-script-check), ovmf, mtools and dosfstools
# (the ESP without mounting it), busybox-static (the test initramfs), fdisk
# (sfdisk), and what fetch-kernel.sh uses.
PKGS="grub-efi-amd64-bin grub-common ovmf mtools dosfstools qemu-system-x86 busybox-static e2fsprogs fdisk file kmod binutils xz-utils jq"
install_packages $PKGS
need qemu-system-x86_64 timeout flock grub-editenv mcopy perl
[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || die "no $OVMF_CODE / $OVMF_VARS (package ovmf)"

mkdir -p "$WORK" "$GDIR" "$LOGDIR"
exec 9> "$WORK/.lock"
flock -n 9 || die "another run holds $WORK/.lock (QEMU locks the disk image: one run at a time)"

PHASES=${E2E_GRUB_PHASES:-cases story}
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for ph in $PHASES; do case "$ph" in cases | story) ;; *) die "E2E_GRUB_PHASES: no phase '$ph' (cases, story)" ;; esac; done

# ---------------------------------------------------------------- slotctl
# Phase 2 runs slotctl on the host: the binary given, else the release build
# of `make install-build` (what CI builds once for the QEMU stages).
if has_phase story; then
	need jq cmp dd
	if [ -n "${SLOTCTL:-}" ]; then
		[ -x "$SLOTCTL" ] || die "SLOTCTL=$SLOTCTL is not an executable"
	else
		SLOTCTL=$REPO_DIR/${INSTALL_SCRATCH:-.build-install}/release/slotctl
		if [ ! -x "$SLOTCTL" ]; then
			need swift make
			t=$(now_s)
			say "building slotctl (make install-build, log $WORK/build-release.log)"
			(cd "$REPO_DIR" && make --no-print-directory install-build) > "$WORK/build-release.log" 2>&1 || {
				tail -30 "$WORK/build-release.log" >&2
				die "release build failed (log: $WORK/build-release.log)"
			}
			say "slotctl built ($(elapsed "$t") s)"
		fi
	fi
	SLOTCTL=$(cd "$(dirname "$SLOTCTL")" && pwd)/$(basename "$SLOTCTL")
	say "slotctl for phase 2 (on the host): $SLOTCTL"
fi

# ---------------------------------------------------------------- kernels
t=$(now_s)
fetch_kernels

# ---------------------------------------------------------------- slots, disk
for s in A B R; do
	"$IMAGES_DIR/build-grub-initrd.sh" "$s" "$GDIR/initrd-$s.img"
done
"$IMAGES_DIR/build-grub-initrd.sh" --junk "$GDIR/initrd-junk.img"

# slot_tree NAME KERNEL INITRD: $GDIR/slots/NAME/boot with those two files
# ("-": leave it out).
slot_tree() {
	d=$GDIR/slots/$1
	rm -rf "$d"
	mkdir -p "$d/boot"
	[ "$2" = - ] || cp "$(kernel_file "$2")" "$d/boot/vmlinuz"
	[ "$3" = - ] || cp "$3" "$d/boot/initrd.img"
}
slot_tree A cloud "$GDIR/initrd-A.img"
slot_tree B generic "$GDIR/initrd-B.img"
slot_tree R cloud "$GDIR/initrd-R.img"
# B's broken update: its kernel is fine (the fast one), its initramfs is
# junk, so the kernel finds no /init, cannot mount root= either (no disk
# driver built in) and panics, before anything of the slot ran: only the
# bootloader can count that.
slot_tree B-broken cloud "$GDIR/initrd-junk.img"
# B without a kernel: GRUB's `linux` fails.
slot_tree B-nokernel - "$GDIR/initrd-B.img"
"$IMAGES_DIR/build-grub-disk.sh"
T_BUILT=$(now_s)
say "test system ready ($(elapsed "$t") s): kernels $CKV (A, R) and $KV (B)"

# ---------------------------------------------------------------- helpers
RUN=$LOGDIR/grub-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
ln -sfn "$RUN" "$LOGDIR/grub-last"
ESP=$(esp_img)
ENV_ON_ESP=::$ESP_GRUB_DIR/grubenv
nboot=0
name=setup
LOG=

E2E_TEST="E2E GRUB"
E2E_HIDE_KERNEL_LOG=1

# env_write SPEC FILE: a fresh environment block with SPEC's variables
# ("K=V;K=V", values may hold spaces). The word FULL fills the block's
# padding with one more variable, so that GRUB has no room to add one.
env_write() {
	rm -f "$2"
	grub-editenv "$2" create
	full=0
	_ifs=$IFS
	IFS=';'
	for kv in $1; do
		if [ "$kv" = FULL ]; then full=1; else grub-editenv "$2" set "$kv"; fi
	done
	IFS=$_ifs
	if [ $full = 1 ]; then
		# Padding is '#' after the header line (which has one '#' of its own).
		pad=$(($(tr -cd '#' < "$2" | wc -c) - 1))
		grub-editenv "$2" set "FILL=$(head -c $((pad - 7)) /dev/zero | tr '\0' x)"
		[ "$(tr -cd '#' < "$2" | wc -c)" -le 2 ] || fail "could not fill the environment block"
	fi
	[ "$(stat -c %s "$2")" = 1024 ] || fail "grub-editenv made a block of $(stat -c %s "$2") bytes"
}

# env_apply FILE CHANGES: FILE's sorted list with CHANGES ("K=V;K=V", "-"
# for none) replacing or adding variables.
env_apply() {
	{
		env_list "$1" | sed 's/^/old /'
		[ "$2" = - ] || printf '%s\n' "$2" | tr ';' '\n' | sed 's/^/new /'
	} | awk '{ line = substr($0, 5); k = line; sub(/=.*/, "", k)
		   if (!(k in v)) order[++n] = k; v[k] = line }
		 END { for (i = 1; i <= n; i++) print v[order[i]] }' | LC_ALL=C sort
}

# gboot NAME ENV SLOT KERNEL END SAVED
#   ENV     the environment written before the boot ("K=V;K=V"), "keep"
#           (as GRUB left it), or "slotctl": slotctl's grubenv ($SENV, phase
#           2) goes onto the ESP before the boot, and the block GRUB saved
#           comes back into it after the boot
#   SLOT    the slot GRUB must choose: A, B or R
#   KERNEL  the kernel that must run: generic, cloud, or - (none loads)
#   END     poweroff (the slot's initramfs ran and powered off), panic (the
#           kernel panicked because it found no initramfs and no root: a
#           broken slot; any other panic fails the test), grub-reboot (GRUB
#           could not load the kernel and rebooted)
#   SAVED   what GRUB must have changed in the environment ("K=V;K=V"), or -
#   ERROR   (optional) the one GRUB error this boot must show, e.g. the file
#           GRUB could not load; any other GRUB error fails the test
gboot() {
	name=$1 env=$2 want_slot=$3 want_kernel=$4 want_end=$5 want_saved=$6 want_error=${7:-}
	nboot=$((nboot + 1))
	LOG=$RUN/boot-$nboot-$name.log
	before=$RUN/boot-$nboot-$name.env-before
	after=$RUN/boot-$nboot-$name.env-after
	if [ "$env" = keep ]; then
		mcopy -n -i "$ESP" "$ENV_ON_ESP" "$before" || fail "mcopy could not read grubenv from the ESP"
	elif [ "$env" = slotctl ]; then
		cp "$SENV" "$before"
		mcopy -o -i "$ESP" "$before" "$ENV_ON_ESP" || fail "mcopy could not write slotctl's grubenv to the ESP"
	else
		env_write "$env" "$before"
		mcopy -o -i "$ESP" "$before" "$ENV_ON_ESP" || fail "mcopy could not write grubenv to the ESP"
	fi
	env_apply "$before" "$want_saved" > "$RUN/expected.env"
	t=$(now_s)
	ovmf_boot "$LOG"
	wall=$(elapsed "$t")
	mcopy -n -i "$ESP" "$ENV_ON_ESP" "$after" || fail "mcopy could not read grubenv from the ESP after the boot"
	# slotctl's grubenv becomes the block GRUB saved, rewritten in place
	# (the file slotctl owns keeps its inode), as on the device's ESP.
	if [ "$env" = slotctl ]; then dd if="$after" of="$SENV" conv=notrunc status=none; fi

	# What the console says. Lines are "SECONDS TEXT".
	at() { grep -a "$1" "$LOG" | head -1 | awk '{ print $1 }'; }
	grub_choice
	line=$(text | grep -a '^SLOTTEST slot=' | head -1)
	# The guest's /proc/cmdline, for the boot hook (phase 2).
	guest_cmdline=$(text | sed -n 's/^SLOTTEST cmdline: //p' | head -1)
	slot=$(echo "$line" | sed -n 's/.* slot=\([^ ]*\).*/\1/p')
	initrd=$(echo "$line" | sed -n 's/.* initrd=\([^ ]*\).*/\1/p')
	kernel=$(echo "$line" | sed -n 's/.* kernel=\([^ ]*\).*/\1/p')
	linux=$(text | sed -n 's/.*Linux version \([^ ]*\) .*/\1/p' | head -1)
	if [ "$rc" = 124 ]; then end=timeout
	elif [ -n "$line" ] && text | grep -aq 'reboot: Power down'; then end=poweroff
	elif text | grep -aq 'Kernel panic - not syncing: VFS: Unable to mount root fs'; then end=panic
	elif text | grep -aq 'Kernel panic - not syncing'; then
		# Not the broken slot's panic (no initramfs, no root): something
		# else, e.g. TCG's timer check on a loaded host.
		end="other-panic: $(text | sed -n 's/.*Kernel panic - not syncing: //p' | head -1)"
	elif text | grep -aq "^slotctl: slot $grub_slot did not boot: rebooting"; then end=grub-reboot
	else end=unknown
	fi
	t_grub=$(at 'Welcome to GRUB') t_linux=$(at 'Linux version ') t_init=$(at 'SLOTTEST slot=')
	env_list "$before" > "$RUN/before.env"
	changes=$(env_list "$after" | LC_ALL=C comm -13 "$RUN/before.env" - | tr '\n' ' ')
	printf '== boot %2d %-16s grub=%s slot=%-4s initrd=%-4s kernel=%-22s end=%-11s %5ss | saved: %s\n' \
		"$nboot" "$name" "${grub_slot:-?}" "${slot:--}" "${initrd:--}" "${kernel:-${linux:--}}" "$end" "$wall" "${changes:-nothing}"
	echo "$nboot $name $end $wall ${t_grub:--} ${t_linux:--} ${t_init:--}" >> "$RUN/boots.txt"

	[ "$rc" != 124 ] || fail "no end within $BOOT_TIMEOUT s"
	[ "$rc" = 0 ] || fail "QEMU exit status $rc"
	[ -n "$grub_slot" ] || fail "GRUB did not announce a slot (no 'slotctl: slot X (...)' line): did grub.cfg run?"
	[ "$grub_slot" = "$want_slot" ] || fail "GRUB chose slot $grub_slot ($grub_why), expected $want_slot"
	! text | grep -aq 'Command line:.*injected' || fail "grub.cfg took kernel_args from grubenv"
	[ "$end" = "$want_end" ] || fail "the boot ended by '$end', expected $want_end"
	case "$end" in
	poweroff)
		[ "$slot" = "$want_slot" ] || fail "the initramfs saw slotctl.slot=$slot, expected $want_slot"
		[ "$initrd" = "$want_slot" ] || fail "slot $want_slot booted the initramfs of '$initrd'"
		[ "$kernel" = "$(kernel_release "$want_kernel")" ] || fail "kernel $kernel ran, expected $(kernel_release "$want_kernel") ($want_kernel)"
		;;
	panic)
		[ -z "$line" ] || fail "an initramfs ran before the panic: $line"
		[ "$linux" = "$(kernel_release "$want_kernel")" ] || fail "kernel '$linux' panicked, expected $(kernel_release "$want_kernel")"
		;;
	grub-reboot)
		[ -z "$linux" ] || fail "a kernel ran ($linux), expected none"
		;;
	esac
	# GRUB's errors. Without a display GRUB's linux loader always says "no
	# suitable video mode found" (harmless: the kernel uses the serial
	# console).
	errors=$(text | grep -a '^error: ' | grep -v '^error: no suitable video mode found\.$' || true)
	if [ -n "$want_error" ]; then
		echo "$errors" | grep -q "^error: $want_error" || fail "GRUB did not say 'error: $want_error' (errors: ${errors:-none})"
		errors=$(echo "$errors" | grep -v "^error: $want_error" || true)
		echo "   GRUB said, as expected: error: $want_error"
	fi
	[ -z "$errors" ] || fail "GRUB printed errors: $errors"

	[ "$(stat -c %s "$after")" = 1024 ] || fail "grubenv is $(stat -c %s "$after") bytes after the boot, not 1024"
	env_list "$after" > "$RUN/actual.env"
	diff -u "$RUN/expected.env" "$RUN/actual.env" > "$RUN/env.diff" ||
		fail "the environment GRUB left differs from the expected one:
$(tail -n +3 "$RUN/env.diff")"
}

# ---------------------------------------------------------------- phase 1: the cases (grub-editenv writes each environment)
echo "GRUB $(dpkg-query -W -f '${Version}' grub-efi-amd64-bin), OVMF $(dpkg-query -W -f '${Version}' ovmf), kernels $CKV (A, R) / $KV (B); phases: $PHASES; logs $RUN"
if has_phase cases; then
	# A confirmed slot and a freshly installed one, as slotctl writes them
	# (max-tries 3).
	A_GOOD="A_OK=1;A_TRY=0;A_LEFT=3"
	B_NEW="B_OK=1;B_TRY=0;B_LEFT=3"

	gboot unprovisioned "" A cloud poweroff -
	# Variables that are not the contract's are neither loaded (kernel_args
	# would reach the command line) nor lost.
	gboot B-first "ORDER=B A;$A_GOOD;$B_NEW;kernel_args=injected;OTHER=kept" B generic poweroff "B_LEFT=2;B_TRY=1"
	gboot B-used-up "ORDER=B A;$A_GOOD;B_OK=1;B_TRY=1;B_LEFT=0" A cloud poweroff "A_LEFT=2;A_TRY=1"
	gboot all-used-up "ORDER=B A;A_OK=1;A_TRY=1;A_LEFT=0;B_OK=1;B_TRY=1;B_LEFT=0" R cloud poweroff -
	gboot R-once "ORDER=B A;$A_GOOD;$B_NEW;R_ONCE=1" R cloud poweroff "R_ONCE=0"
	gboot nine-left "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=9;$B_NEW" A cloud poweroff "A_LEFT=8;A_TRY=1"
	gboot not-in-ORDER "ORDER=B;$A_GOOD;B_OK=1;B_TRY=1;B_LEFT=0" R cloud poweroff -
	# An environment written by RAUC (no LEFT): RAUC's rule.
	gboot rauc-B "ORDER=B A;A_OK=1;A_TRY=0;B_OK=1;B_TRY=0" B generic poweroff "B_TRY=1"
	gboot rauc-B-bad "ORDER=B A;A_OK=1;A_TRY=0;B_OK=0;B_TRY=0" A cloud poweroff "A_TRY=1"
	gboot rauc-B-tried "ORDER=B A;A_OK=1;A_TRY=0;B_OK=1;B_TRY=1" A cloud poweroff "A_TRY=1"
	# No room in the block for B_TRY: save_env fails, so the try cannot be
	# counted; GRUB boots R rather than an uncounted trial.
	gboot env-full "ORDER=B A;$A_GOOD;B_OK=1;B_LEFT=3;FULL" R cloud poweroff - "environment block too small"

	# ---- the counter story, environments by grub-editenv
	# B receives a broken update and slotctl arms it (B first, 3 tries). Boot
	# until GRUB moves to A, without touching the environment in between.
	"$IMAGES_DIR/build-grub-disk.sh" slot B "$GDIR/slots/B-broken"
	env="ORDER=B A;$A_GOOD;$B_NEW"
	left=3 tries=0
	while [ $left -gt 0 ]; do
		left=$((left - 1)) tries=$((tries + 1))
		if [ $tries = 1 ]; then saved="B_LEFT=$left;B_TRY=1"; else saved="B_LEFT=$left"; fi
		gboot "B-broken-$tries" "$env" B cloud panic "$saved"
		env=keep
	done
	gboot B-broken-gone keep A cloud poweroff "A_LEFT=2;A_TRY=1"
	echo "   broken B: $tries boots on B (each a kernel panic, B_LEFT 3 -> 0), boot $((tries + 1)) went to A"

	# An update without a kernel: GRUB's linux fails, GRUB reboots (the try is
	# spent) instead of waiting at a prompt.
	"$IMAGES_DIR/build-grub-disk.sh" slot B "$GDIR/slots/B-nokernel"
	gboot B-no-kernel "ORDER=B A;$A_GOOD;B_OK=1;B_TRY=0;B_LEFT=1" B - grub-reboot "B_LEFT=0;B_TRY=1" "file \`/boot/vmlinuz' not found"

	# The fixed update: B with its own (standard, not cloud) kernel again.
	"$IMAGES_DIR/build-grub-disk.sh" slot B "$GDIR/slots/B"
	gboot B-fixed "ORDER=B A;$A_GOOD;$B_NEW" B generic poweroff "B_LEFT=2;B_TRY=1"
fi

# ---------------------------------------------------------------- phase 2: slotctl drives GRUB
# The issue's story, every environment written by slotctl on the host (see
# the header: slotctl does not run in the guest) and every block GRUB saved
# read back by slotctl.
if has_phase story; then
	SH=$GDIR/story             # slotctl's side on the host: config, state, slots, grubenv
	SENV=$SH/grubenv
	rm -rf "$SH"
	mkdir -p "$SH/data" "$SH/run" "$SH/images"
	for s in a b r; do truncate -s "${G_SLOT_MIB}M" "$SH/$s.img"; done
	write_story_config "$SH/system.conf" slotctl-e2e-grub "bootloader = grub" "grubenv = grubenv"
	step=0
	# sctl ARGS: slotctl on the host with this config; its output in the
	# run's log, failing on a non-zero exit.
	sctl() {
		step=$((step + 1))
		out=$RUN/slotctl-$step-$1.out
		echo "\$ slotctl $*" > "$out"
		"$SLOTCTL" --config "$SH/system.conf" "$@" >> "$out" 2>&1 || fail "slotctl $* failed: $(tail -5 "$out")"
	}
	# status: slotctl status --json into $RUN/status.json.
	status() {
		"$SLOTCTL" --config "$SH/system.conf" status --json > "$RUN/status.json" 2> "$RUN/status.err" ||
			fail "slotctl status --json failed: $(cat "$RUN/status.err")"
		cp "$RUN/status.json" "$RUN/status-$step-after-boot-$nboot.json"
	}
	q() { jq -r "$1" "$RUN/status.json"; }
	# agree WHAT: no disagreements between the state and GRUB's block.
	agree() {
		status
		d=$(q '.bootloader.disagreements | join("; ")')
		[ -z "$d" ] || fail "$1: slotctl status reports disagreements: $d"
		[ "$(q .bootloader.projectionPending)" = false ] || fail "$1: projection still pending"
	}
	# slot_is S STATUS: the state's status of slot S.
	slot_is() {
		got=$(q ".slots.$1.status")
		[ "$got" = "$2" ] || fail "slot $1 is '$got' in slotctl status, expected $2"
	}
	# judge SPEC: grub-editenv's reading of slotctl's grubenv has these
	# variables ("K=V;K=V"); a 1024-byte block.
	judge() {
		[ "$(stat -c %s "$SENV")" = 1024 ] || fail "slotctl's grubenv is $(stat -c %s "$SENV") bytes"
		env_list "$SENV" > "$RUN/judge.env" || fail "grub-editenv cannot read slotctl's grubenv"
		_ifs=$IFS
		IFS=';'
		for kv in $1; do
			grep -qxF "$kv" "$RUN/judge.env" || fail "grub-editenv list: no $kv in slotctl's grubenv: $(tr '\n' ' ' < "$RUN/judge.env")"
		done
		IFS=$_ifs
		echo "   grubenv (grub-editenv list): $(grep -E '^(ORDER|[AB]_(OK|TRY|LEFT)|R_ONCE)=' "$RUN/judge.env" | tr '\n' ' ')"
	}
	# sync_slot S: slotctl's slot file S into the disk's partition S, so that
	# GRUB reads what slotctl wrote.
	sync_slot() {
		lower=$(echo "$1" | tr ABR abr)
		dd if="$SH/$lower.img" of="$GDISK" bs=1M seek=$(($(gpart_start "$lower") * 512)) oflag=seek_bytes conv=notrunc status=none ||
			fail "could not write slot $1 into the disk"
	}
	# update_image NAME S TREE: an update image of slot S from TREE (the ext4
	# file system build-grub-disk.sh makes and checks with grub-fstest, taken
	# back out of the disk) as $SH/images/NAME.img.
	update_image() {
		"$IMAGES_DIR/build-grub-disk.sh" slot "$2" "$3"
		lower=$(echo "$2" | tr ABR abr)
		dd if="$GDISK" of="$SH/images/$1.img" bs=1M skip=$(($(gpart_start "$lower") * 512)) iflag=skip_bytes count="$G_SLOT_MIB" conv=sparse status=none
	}
	# slot_install NAME S TREE [slotctl install options]: slotctl installs it,
	# its slot file goes into the disk.
	slot_install() {
		_name=$1 _slot=$2 _tree=$3
		shift 3
		update_image "$_name" "$_slot" "$_tree"
		sctl install "$SH/images/$_name.img" --version "$_name" "$@"
		lower=$(echo "$_slot" | tr ABR abr)
		cmp -s "$SH/images/$_name.img" "$SH/$lower.img" || fail "slotctl did not write $_name into slot $_slot's file"
		sync_slot "$_slot"
		echo "   slotctl installed $_name into $_slot"
	}
	# hook SLOT: the boot hook of the boot that just ended, `slotctl boot
	# --cmdline` fed the command line the guest printed; it must record SLOT.
	hook() {
		[ -n "$guest_cmdline" ] || fail "the guest printed no command line"
		printf '%s\n' "$guest_cmdline" > "$RUN/cmdline-$nboot"
		sctl boot --cmdline "$RUN/cmdline-$nboot"
		got=$(sed -n 's/^SLOT=//p' "$out" | head -1)
		[ "$got" = "$1" ] || fail "slotctl boot --cmdline ($guest_cmdline) said SLOT=$got, expected $1"
		echo "   boot hook: slotctl boot --cmdline '$guest_cmdline' -> SLOT=$got"
	}
	# after_boot: slotctl reads the block GRUB saved; its view of the
	# tries must be what GRUB left (grub-editenv's reading).
	after_boot() {
		status
		for _s in A B; do
			want=$(sed -n "s/^${_s}_LEFT=//p" "$RUN/actual.env")
			got=$(q ".bootloader.slots.$_s.tries // \"\"")
			[ "$got" = "$want" ] || fail "slotctl status reads ${_s}'s tries as '$got', GRUB saved ${_s}_LEFT=$want"
		done
		echo "   slotctl status: GRUB's view next=$(q .bootloader.next) A.tries=$(q .bootloader.slots.A.tries) B.tries=$(q .bootloader.slots.B.tries); disagreements: $(q '.bootloader.disagreements | if length == 0 then "none" else join("; ") end')"
	}
	fellback() { # SLOT: a fell-back event for it
		n=$(q "[.events[] | select(.type == \"fell-back\" and .slot == \"$1\")] | length")
		[ "$n" -ge 1 ] || fail "no fell-back event for $1 in slotctl status"
		[ "$(q ".slots.$1.badReason")" = "boot attempts exhausted" ] || fail "$1's bad reason: $(q ".slots.$1.badReason")"
	}
	story_first=$((nboot + 1))
	echo ""
	echo "phase 2: slotctl ($SLOTCTL) writes every environment, on the host between boots; state in $SH"

	# A fresh disk: slots hold only what slotctl writes into them.
	"$IMAGES_DIR/build-grub-disk.sh"
	sctl init
	judge "ORDER=A B;A_OK=0;B_OK=0"
	slot_install factory R "$GDIR/slots/R" --slot R --provision
	slot_install A1-cloud A "$GDIR/slots/A" --slot A
	sync_slot B # nothing installed: B's partition is what slotctl's B holds (zeros)
	judge "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=3;B_OK=0"
	agree "after install of A"

	# 1. A boots its own kernel; the hook records it; mark-good.
	gboot story-A slotctl A cloud poweroff "A_LEFT=2;A_TRY=1"
	after_boot
	hook A
	agree "after the hook of A"
	sctl mark-good
	judge "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=3"
	agree "after mark-good of A"
	status
	slot_is A good

	# 2. slotctl installs B: a broken update, its kernel panics before any
	# initramfs (nothing of B runs, no hook: only GRUB counts).
	slot_install B2-broken B "$GDIR/slots/B-broken"
	judge "ORDER=B A;B_OK=1;B_TRY=0;B_LEFT=3;A_OK=1;A_LEFT=3"
	agree "after install of the broken B"
	left=3 tries=0
	while [ $left -gt 0 ]; do
		left=$((left - 1)) tries=$((tries + 1))
		if [ $tries = 1 ]; then saved="B_LEFT=$left;B_TRY=1"; else saved="B_LEFT=$left"; fi
		gboot "story-B-broken-$tries" slotctl B cloud panic "$saved"
		after_boot
	done
	gboot story-A-fallback slotctl A cloud poweroff "A_LEFT=2;A_TRY=1"
	after_boot
	echo "   broken B: $tries boots on B (kernel panics; B_LEFT 3 -> 0), boot $((tries + 1)) of the update went to A"
	hook A
	judge ""
	status
	slot_is B bad
	fellback B
	slot_is A good
	agree "after the hook of the fallback to A"
	echo "   slotctl status: B bad ($(q .slots.B.badReason)), fell-back event: $(q '[.events[] | select(.type == "fell-back")][-1].detail')"
	sctl mark-good
	judge "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=3;B_OK=0"
	agree "after mark-good on A"

	# 3. slotctl installs a good B with another kernel than A's.
	slot_install B3-generic B "$GDIR/slots/B"
	judge "ORDER=B A;B_OK=1;B_TRY=0;B_LEFT=3;A_LEFT=3"
	agree "after install of the good B"
	gboot story-B-good slotctl B generic poweroff "B_LEFT=2;B_TRY=1"
	after_boot
	[ "$kernel" = "$KV" ] && [ "$kernel" != "$CKV" ] || fail "B ran kernel $kernel, expected its own $KV (A's is $CKV)"
	echo "   B's own kernel ran: uname -r = $kernel (A's is $CKV)"
	hook B
	agree "after the hook of B"
	sctl mark-good
	judge "ORDER=B A;B_OK=1;B_TRY=0;B_LEFT=3"
	agree "after mark-good of B"
	status
	slot_is B good

	# 4. A and B both broken: slotctl installs a broken A, and B's
	# partition is damaged behind slotctl's back (its kernel now panics
	# too). A's tries run out, then B's, then GRUB boots R.
	slot_install A4-broken A "$GDIR/slots/B-broken"
	judge "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=3;B_LEFT=3"
	agree "after install of the broken A"
	"$IMAGES_DIR/build-grub-disk.sh" slot B "$GDIR/slots/B-broken"
	for s in A B; do
		left=3 tries=0
		while [ $left -gt 0 ]; do
			left=$((left - 1)) tries=$((tries + 1))
			if [ $tries = 1 ]; then saved="${s}_LEFT=$left;${s}_TRY=1"; else saved="${s}_LEFT=$left"; fi
			gboot "story-both-$s-$tries" slotctl "$s" cloud panic "$saved"
			after_boot
		done
	done
	gboot story-R slotctl R cloud poweroff -
	after_boot
	hook R
	judge ""
	status
	slot_is A bad
	slot_is B bad
	fellback A
	fellback B
	agree "after the hook of R"
	echo "   both broken: 6 panics (A 3, B 3), then R; slotctl status: A bad, B bad, fell-back events for both, no disagreements"
	echo "   phase 2: $((nboot - story_first + 1)) boots"
fi

# ---------------------------------------------------------------- timings
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo ""
echo "boot times (median seconds; $nboot boots, one QEMU at a time, TCG, 1 vCPU):"
printf '   whole boot, QEMU start to exit:        %s (all)  %s (to power-off)  %s (panics)\n' \
	"$(awk '{ print $4 }' "$RUN/boots.txt" | median)" \
	"$(awk '$3 == "poweroff" { print $4 }' "$RUN/boots.txt" | median)" \
	"$(awk '$3 == "panic" { print $4 }' "$RUN/boots.txt" | median)"
if has_phase story; then
	printf '   phase 2 (slotctl writes the environments), whole boot:  %s (all %s)  %s (to power-off)  %s (panics)\n' \
		"$(awk '$2 ~ /^story-/ { print $4 }' "$RUN/boots.txt" | median)" "$(awk '$2 ~ /^story-/' "$RUN/boots.txt" | wc -l)" \
		"$(awk '$2 ~ /^story-/ && $3 == "poweroff" { print $4 }' "$RUN/boots.txt" | median)" \
		"$(awk '$2 ~ /^story-/ && $3 == "panic" { print $4 }' "$RUN/boots.txt" | median)"
fi
printf '   firmware (OVMF) until GRUB starts:     %s\n' "$(awk '$5 != "-" { print $5 }' "$RUN/boots.txt" | median)"
printf '   GRUB until the kernel prints (choose, save_env, load, unpack): %s\n' \
	"$(awk '$5 != "-" && $6 != "-" { printf "%.2f\n", $6 - $5 }' "$RUN/boots.txt" | median)"
printf '   kernel until the initramfs reports:    %s\n' "$(awk '$6 != "-" && $7 != "-" { printf "%.2f\n", $7 - $6 }' "$RUN/boots.txt" | median)"

echo ""
echo "E2E GRUB PASSED: $nboot boots in $(awk -v a="$T_BUILT" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s, whole run $(elapsed "$T_START") s (logs: $RUN)"
rm -f "$RUN/expected.env" "$RUN/actual.env" "$RUN/before.env" "$RUN/env.diff"
[ "${E2E_KEEP:-0}" = 1 ] || rm -f "$GDISK"
