# slotctl A/B/R boot script for U-Boot (boot.cmd; the board runs boot.scr:
#   mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
# and puts it where its bootcmd finds it, e.g. /boot.scr on the first
# partition for distro boot). What it does and why: boot/README.md,
# "U-Boot mode".
#
# Environment (RAUC's names, so RAUC-made environments keep working):
#   BOOT_ORDER     "B A": A and B, first preferred. Unset: unprovisioned.
#   BOOT_A_LEFT    tries left for A, hex without 0x (what setexpr prints).
#   BOOT_B_LEFT    the same for B. A slot boots when it is in BOOT_ORDER and
#                  its LEFT is > 0; unset counts as 0 (no default here).
#   BOOT_R_ONCE    "1": boot R once; this script sets it to 0 and saves.
# The choice, in order: BOOT_R_ONCE=1 -> R; BOOT_ORDER unset -> A, not
# counted (a factory-fresh device; slotctl provisions from A); the first slot
# of BOOT_ORDER with tries left -> its LEFT - 1 is saved (saveenv) *before*
# its kernel is loaded, so a kernel that never reaches userland still spends
# a try; none left -> R. R is never counted: it is the last resort.
#
# Script variables are hush locals (name=value), never setenv: saveenv
# writes the whole environment, and only BOOT_* may change in it.
# Parsed by tests: one "slotctl-uboot: boot slot=S left=N saveenv=X why=W"
# line per boot attempt (left=- and saveenv=none when nothing is counted).

# ==== Board settings: edit for your board, or set them in its environment ====
# Device of the slots: by default the one distro boot found this script on.
test -n "${slotctl_devtype}" || slotctl_devtype=${devtype}
test -n "${slotctl_devnum}" || slotctl_devnum=${devnum}
# Partition of each slot on that device (ext4 or anything U-Boot's load
# reads), each holding its own /boot/vmlinuz and /boot/initrd.img.
test -n "${slotctl_part_A}" || slotctl_part_A=2
test -n "${slotctl_part_B}" || slotctl_part_B=3
test -n "${slotctl_part_R}" || slotctl_part_R=4
# Kernel command line (slotctl.slot=S is appended).
test -n "${slotctl_bootargs}" || slotctl_bootargs="console=ttyAMA0 panic=10"
# Device tree: slotctl_fdtfile unset = the one U-Boot runs with (QEMU's, or
# the board's own if it suits the kernel); a path such as
# /boot/dtbs/vendor/board.dtb is loaded from the slot at ${fdt_addr_r}, so
# that it changes with the slot's kernel.
# Scratch RAM where booti inflates a compressed (gzip) Image before moving it
# to ${kernel_addr_r} (used only when the board has no kernel_comp_addr_r);
# must not overlap the kernel, the initrd or U-Boot. A plain Image (Debian
# 12's arm64 vmlinuz is one) needs none.
slotctl_comp_addr=0x46000000
# saveenv failed (the try could not be counted): boot R, never a counted
# slot uncounted: a slot that kills the kernel would otherwise boot forever.
# slotctl_unsaved_boot=1 boots the chosen slot anyway: only for emulators
# whose environment store cannot be written (QEMU 7.2's pflash), never on
# a product.
# ============================================================================

slotctl_slot=
slotctl_left=-
slotctl_save=
slotctl_saved=none
slotctl_why=

if test "${BOOT_R_ONCE}" = 1; then
	slotctl_slot=R
	slotctl_why=r-once
	setenv BOOT_R_ONCE 0
	slotctl_save=1
elif test -z "${BOOT_ORDER}"; then
	slotctl_slot=A
	slotctl_why=unprovisioned
else
	for s in ${BOOT_ORDER}; do
		# LEFT is hex: setexpr reads hex, but test -gt reads decimal
		# ("a" -gt 0 is false), so compare setexpr's normalised result
		# with the string 0. Garbage reads as 0.
		if test -z "${slotctl_slot}" && test "${s}" = A && test -n "${BOOT_A_LEFT}"; then
			setexpr slotctl_n ${BOOT_A_LEFT} + 0
			if test "${slotctl_n}" != 0; then
				setexpr BOOT_A_LEFT ${slotctl_n} - 1
				slotctl_slot=A
				slotctl_left=${BOOT_A_LEFT}
			fi
		fi
		if test -z "${slotctl_slot}" && test "${s}" = B && test -n "${BOOT_B_LEFT}"; then
			setexpr slotctl_n ${BOOT_B_LEFT} + 0
			if test "${slotctl_n}" != 0; then
				setexpr BOOT_B_LEFT ${slotctl_n} - 1
				slotctl_slot=B
				slotctl_left=${BOOT_B_LEFT}
			fi
		fi
	done
	setenv slotctl_n
	if test -n "${slotctl_slot}"; then
		slotctl_why=order
		slotctl_save=1
	else
		slotctl_slot=R
		slotctl_why=none-left
	fi
fi

if test -n "${slotctl_save}"; then
	if saveenv; then
		slotctl_saved=ok
	else
		slotctl_saved=failed
		if test "${slotctl_slot}" != R; then
			if test "${slotctl_unsaved_boot}" = 1; then
				echo "slotctl-uboot: saveenv failed: booting ${slotctl_slot} UNCOUNTED (slotctl_unsaved_boot=1)"
			else
				echo "slotctl-uboot: saveenv failed: not booting ${slotctl_slot} uncounted, booting R"
				slotctl_slot=R
				slotctl_left=-
				slotctl_why=saveenv-failed
			fi
		fi
	fi
fi

# The chosen slot, then R if its kernel or initrd does not load or boot
# (its try is spent already; R is the last resort).
if test "${slotctl_slot}" = R; then
	slotctl_try=R
else
	slotctl_try="${slotctl_slot} R"
fi
for s in ${slotctl_try}; do
	if test "${s}" = R && test "${slotctl_slot}" != R; then
		slotctl_left=-
		slotctl_why=load-failed
	fi
	if test "${s}" = A; then slotctl_part=${slotctl_part_A}; fi
	if test "${s}" = B; then slotctl_part=${slotctl_part_B}; fi
	if test "${s}" = R; then slotctl_part=${slotctl_part_R}; fi
	slotctl_from="${slotctl_devtype} ${slotctl_devnum}:${slotctl_part}"
	echo "slotctl-uboot: boot slot=${s} left=${slotctl_left} saveenv=${slotctl_saved} why=${slotctl_why}"
	slotctl_fdt=${fdtcontroladdr}
	if test -n "${slotctl_fdtfile}"; then
		slotctl_fdt=${fdt_addr_r}
		load ${slotctl_devtype} ${slotctl_devnum}:${slotctl_part} ${fdt_addr_r} ${slotctl_fdtfile} || slotctl_fdt=
	fi
	if test -n "${slotctl_fdt}" && load ${slotctl_devtype} ${slotctl_devnum}:${slotctl_part} ${kernel_addr_r} /boot/vmlinuz; then
		# booti reads these two from the environment (not saved: the
		# save is done).
		env exists kernel_comp_addr_r || setenv kernel_comp_addr_r ${slotctl_comp_addr}
		setenv kernel_comp_size ${filesize}
		if load ${slotctl_devtype} ${slotctl_devnum}:${slotctl_part} ${ramdisk_addr_r} /boot/initrd.img; then
			setenv bootargs "${slotctl_bootargs} slotctl.slot=${s}"
			booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${slotctl_fdt}
		fi
	fi
	echo "slotctl-uboot: slot ${s} (${slotctl_from}) did not boot"
done
echo "slotctl-uboot: no slot booted"
