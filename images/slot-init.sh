#!/bin/sh
# /sbin/init of the test slots (A, B and R carry the same one).
#
# Reports which slot the initramfs booted (from /run/slotctl/booted, written
# by slot-boot) and which image is in it, then carries out this boot's plan:
# the host writes /e2e/plan on the data partition between boots, one line per
# slot, e.g.
#     A=good status install:image-2.0.img.gz:2.0 reboot
#     B=poweroff
#     R=status factory-reset reboot
# Words, done in order:
#     good                  slotctl mark-good (the health checks passed)
#     status                slotctl status, and status --json on one line
#     install:FILE:VERSION  slotctl install /data/e2e/FILE --version VERSION
#     provision-r:FILE:VER  slotctl install /data/e2e/FILE --slot R --provision --version VER
#     mark-bad:SLOT         slotctl mark-bad SLOT
#     factory-reset         slotctl factory-reset
#     poweroff | reboot     end the boot cleanly (without "good": unconfirmed)
#     panic                 PID 1 exits: kernel panic (pvpanic ends QEMU, status 1)
#     hang                  stop feeding the watchdog and hang
# Every line for the host starts with "SLOTTEST ".
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022

# initramfs-tools moved /proc, /sys, /dev and /run into this root.
[ -e /proc/mounts ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
grep -q ' /tmp ' /proc/mounts || mount -t tmpfs -o mode=1777 tmpfs /tmp

say() { echo "SLOTTEST $*"; }

# The watchdog stands in for systemd's RuntimeWatchdogSec: fed while this
# init works, not fed once it "hangs". QEMU resets (and, with -no-reboot,
# exits) when it fires.
feeder=
if [ -c /dev/watchdog ]; then
	# (a failing exec would end PID 1: open it in the subshell)
	(exec 3>/dev/watchdog && while :; do printf . >&3; sleep 2; done) &
	feeder=$!
fi

booted=/run/slotctl/booted
if [ -r "$booted" ]; then
	SLOT=$(sed -n "s/^SLOT=//p" "$booted" | tr -d "'")
	SEQ=$(sed -n "s/^SEQ=//p" "$booted" | tr -d "'")
else
	SLOT=unknown SEQ=
fi
IMAGE=$(cat /etc/slotctl-e2e/image 2>/dev/null || echo unknown)
ROOTDEV=$(awk '$2 == "/" && $1 != "rootfs" { print $1 }' /proc/mounts | tail -1)
say "booted slot=$SLOT image=$IMAGE seq=${SEQ:-?} root=$ROOTDEV kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -r "$booted" ] || say "WARNING: $booted missing"

data_dev=/dev/disk/by-partlabel/data
if ! mount -t ext4 -o rw,noatime "$data_dev" /data; then
	say "FAILED: cannot mount $data_dev on /data"
	say "end slot=$SLOT action=poweroff uptime=$(cut -d' ' -f1 /proc/uptime)"
	poweroff -f
fi
# With a bootloader backend (images/e2e-grub-guest.sh) slotctl writes GRUB's
# environment on the EFI system partition: mounted where the config says.
esp_dev=/dev/disk/by-partlabel/esp
esp=
if [ -e "$esp_dev" ] && [ -d /boot/efi ]; then
	if mount -t vfat -o rw,noatime "$esp_dev" /boot/efi; then esp=/boot/efi; else say "FAILED: cannot mount $esp_dev on /boot/efi"; fi
fi
plan=$(sed -n "s/^$SLOT=//p" /data/e2e/plan 2>/dev/null)
[ -n "$plan" ] || plan="status poweroff"
say "plan slot=$SLOT: $plan"

# run CMD...: run a command, its output on the console, then its status.
run() {
	say "run: $*"
	"$@"
	rc=$?
	say "rc=$rc: $*"
	return 0
}

final=poweroff
for word in $plan; do
	case "$word" in
	good) run slotctl mark-good ;;
	status)
		run slotctl status
		say "status-json: $(slotctl status --json 2>&1 | tr -d '\n')"
		;;
	install:*)
		spec=${word#install:}
		run slotctl install "/data/e2e/${spec%%:*}" --version "${spec#*:}"
		;;
	provision-r:*)
		spec=${word#provision-r:}
		run slotctl install "/data/e2e/${spec%%:*}" --slot R --provision --version "${spec#*:}"
		;;
	mark-bad:*) run slotctl mark-bad "${word#mark-bad:}" ;;
	factory-reset) run slotctl factory-reset ;;
	poweroff | reboot | panic | hang) final=$word; break ;;
	*) say "FAILED: unknown plan word '$word'" ;;
	esac
done

# Leave the data file system clean whatever comes next: the host reads and
# edits it with debugfs, which does not replay a journal.
sync
[ -z "$esp" ] || umount "$esp" || say "WARNING: umount $esp failed"
umount /data || say "WARNING: umount /data failed"
say "end slot=$SLOT action=$final uptime=$(cut -d' ' -f1 /proc/uptime)"
case "$final" in
poweroff) poweroff -f ;;
reboot) reboot -f ;;
panic) exit 1 ;; # PID 1 exits: "Attempted to kill init!"
hang)
	[ -n "$feeder" ] && kill "$feeder"
	say "hanging (watchdog no longer fed)"
	while :; do sleep 1; done
	;;
esac
