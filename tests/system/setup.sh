#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `minibossctl setup` (owner: ops).  Cases:
#   hugepages  on this machine: reserve 2 MiB pages, see "old -> new" and the
#              reboot advice, then restore the reservation as it was (and
#              unmount the hugetlbfs setup mounted); --dry-run changes nothing
#   checks     against constructed sysfs/procfs trees (MB_SETUP_SYSFS,
#              MB_SETUP_PROCFS), for hardware this machine lacks: no free
#              hugepages, a NIC on ixgbe, one on vfio-pci, one up as the
#              host's interface, no IOMMU; --bind refusals (interface up, no
#              IOMMU), a dry run, and a bind through a stand-in dpdk-devbind.py
# Exit 0 pass, 1 fail, 77 skip.
set -u
CASE=${1:?case}
B=${MB_BUILD:?}
C=$B/tools/minibossctl
T=$(mktemp -d /tmp/mbsetup.XXXXXX)
SYS=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
ORIG=
MOUNTED_BEFORE=
cleanup() {
	[ -n "$ORIG" ] && [ "$(cat "$SYS")" != "$ORIG" ] && echo "$ORIG" >"$SYS"
	if [ "$MOUNTED_BEFORE" = no ] && mountpoint -q /dev/hugepages; then
		umount /dev/hugepages
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL ($CASE): $*" >&2; exit 1; }
skip() { echo "SKIP ($CASE): $*" >&2; exit 77; }
[ -x "$C" ] || fail "no $C"

case $CASE in
hugepages)
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -w "$SYS" ] || skip "no writable $SYS"
	ORIG=$(cat "$SYS")
	mountpoint -q /dev/hugepages && MOUNTED_BEFORE=yes || MOUNTED_BEFORE=no
	want=$((ORIG + 4))
	"$C" setup --hugepages $((want * 2))M --dry-run >"$T/dry.out" || fail "dry run: $(cat "$T/dry.out")"
	grep -q "would set 2M hugepages: $ORIG -> $want (" "$T/dry.out" || fail "dry: $(cat "$T/dry.out")"
	[ "$(cat "$SYS")" = "$ORIG" ] || fail "--dry-run changed the reservation"
	"$C" setup --hugepages $((want * 2))M >"$T/up.out" || fail "reserve: $(cat "$T/up.out")"
	got=$(cat "$SYS")
	if [ "$got" = "$want" ]; then
		grep -q "^2M hugepages: $ORIG -> $want (" "$T/up.out" || fail "output: $(cat "$T/up.out")"
	else
		# memory too fragmented here: then it must say so
		grep -q "the kernel found only $got" "$T/up.out" || fail "no shortfall warning: $(cat "$T/up.out")"
	fi
	grep -q "echo 'vm.nr_hugepages = $want' > /etc/sysctl.d/" "$T/up.out" ||
		fail "no reboot advice: $(cat "$T/up.out")"
	mountpoint -q /dev/hugepages || fail "no hugetlbfs on /dev/hugepages"
	[ "$MOUNTED_BEFORE" = yes ] || grep -q "^mounted hugetlbfs (pagesize=2M) on /dev/hugepages" "$T/up.out" ||
		fail "mount not reported: $(cat "$T/up.out")"
	"$C" setup --check >"$T/check.out"
	grep -q "2M pages: $got reserved" "$T/check.out" || fail "check: $(cat "$T/check.out")"
	"$C" setup --hugepages $((ORIG * 2))M >"$T/down.out" || fail "restore: $(cat "$T/down.out")"
	grep -q "^2M hugepages: $got -> $ORIG" "$T/down.out" || fail "restore output: $(cat "$T/down.out")"
	[ "$(cat "$SYS")" = "$ORIG" ] || fail "not restored: $(cat "$SYS") != $ORIG"
	"$C" setup --hugepages 3Q >/dev/null 2>&1; [ $? = 2 ] || fail "a bad size is not a usage error"
	"$C" setup --hugepages 2M --page-size 3M >/dev/null 2>&1 && fail "a bad page size accepted"
	echo "PASS: reserve and restore hugepages"
	;;
checks)
	S=$T/sys P=$T/proc
	mkdir -p "$S/kernel/mm/hugepages/hugepages-2048kB" "$S/kernel/mm/hugepages/hugepages-1048576kB" \
		"$S/bus/pci/drivers/ixgbe" "$S/bus/pci/drivers/vfio-pci" "$S/bus/pci/drivers/virtio-pci" \
		"$S/module/vfio/parameters" "$P"
	for d in 2048kB 1048576kB; do
		echo 0 >"$S/kernel/mm/hugepages/hugepages-$d/nr_hugepages"
		echo 0 >"$S/kernel/mm/hugepages/hugepages-$d/free_hugepages"
	done
	echo N >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
	: >"$P/mounts"
	nic() {	# ADDR DRIVER
		mkdir -p "$S/bus/pci/devices/$1"
		echo 0x020000 >"$S/bus/pci/devices/$1/class"
		ln -s "../../drivers/$2" "$S/bus/pci/devices/$1/driver"
	}
	nic 0000:03:00.0 ixgbe
	nic 0000:04:00.0 vfio-pci
	nic 0000:05:00.0 virtio-pci
	mkdir -p "$S/bus/pci/devices/0000:05:00.0/virtio1" "$S/class/net/eth9"
	ln -s ../../../bus/pci/devices/0000:05:00.0/virtio1 "$S/class/net/eth9/device"
	echo 0x1003 >"$S/class/net/eth9/flags"
	mkdir -p "$S/bus/pci/devices/0000:06:00.0" # not a NIC
	echo 0x010802 >"$S/bus/pci/devices/0000:06:00.0/class"
	export MB_SETUP_SYSFS=$S MB_SETUP_PROCFS=$P
	"$C" setup >"$T/c.out"; rc=$?
	[ $rc = 1 ] || fail "not-ready exits $rc: $(cat "$T/c.out")"
	for want in "2M pages: 0 reserved (0 B), 0 free (0 B)" \
		"no free hugepages: reserve some, e.g. minibossctl setup --hugepages 2G" \
		"no hugetlbfs mounted: mount -t hugetlbfs nodev /dev/hugepages" \
		"0000:03:00.0  ixgbe            minibossctl setup --bind 0000:03:00.0 to give it to DPDK" \
		"0000:04:00.0  vfio-pci         ready for DPDK (-a 0000:04:00.0)" \
		"0000:05:00.0  virtio-pci       kernel interface eth9, up: in use by this host, leave it" \
		"IOMMU:     none: vfio-pci needs one -- intel_iommu=on or amd_iommu=on" \
		"vfio:      vfio-pci driver loaded" "not ready: problems above"; do
		grep -qF "$want" "$T/c.out" || fail "check lacks '$want': $(cat "$T/c.out")"
	done
	grep -q "0000:06:00.0" "$T/c.out" && fail "a non-network device listed"
	"$C" setup --bind 0000:05:00.0 >"$T/b1.out" 2>&1 && fail "bound the host's interface"
	grep -q "0000:05:00.0 is the kernel interface eth9, which is up" "$T/b1.out" || fail "$(cat "$T/b1.out")"
	"$C" setup --bind 03:00.0 >"$T/b2.out" 2>&1 && fail "bound to vfio-pci without an IOMMU"
	grep -q "no IOMMU, so vfio-pci cannot take 0000:03:00.0" "$T/b2.out" || fail "$(cat "$T/b2.out")"
	"$C" setup --bind 0000:99:00.0 >"$T/b3.out" 2>&1 && fail "bound a missing device"
	grep -q "there is no PCI device 0000:99:00.0" "$T/b3.out" || fail "$(cat "$T/b3.out")"
	# with an IOMMU: a dry run, then a bind through a stand-in dpdk-devbind.py
	# that moves the driver link as the real one moves the device
	mkdir -p "$S/kernel/iommu_groups/7"
	cat >"$T/devbind" <<-EOF
		#!/bin/sh
		echo "\$@" >"$T/devbind.args"
		drv=\${1#--bind=}
		ln -sfn "../../drivers/\$drv" "$S/bus/pci/devices/\$2/driver"
	EOF
	chmod +x "$T/devbind"
	export MB_SETUP_DEVBIND=$T/devbind
	"$C" setup --bind 0000:03:00.0 --dry-run >"$T/d.out" || fail "dry bind: $(cat "$T/d.out")"
	grep -q "would run: $T/devbind --bind=vfio-pci 0000:03:00.0  (now: ixgbe)" "$T/d.out" ||
		fail "dry bind: $(cat "$T/d.out")"
	[ ! -e "$T/devbind.args" ] || fail "the dry run ran dpdk-devbind"
	"$C" setup --bind 0000:03:00.0 >"$T/e.out" || fail "bind: $(cat "$T/e.out")"
	[ "$(cat "$T/devbind.args")" = "--bind=vfio-pci 0000:03:00.0" ] || fail "devbind args"
	grep -q "^0000:03:00.0: ixgbe -> vfio-pci" "$T/e.out" || fail "bind output: $(cat "$T/e.out")"
	grep -q "driverctl set-override 0000:03:00.0 vfio-pci" "$T/e.out" || fail "no reboot advice"
	"$C" setup --check | grep -qF "0000:03:00.0  vfio-pci         ready for DPDK" || fail "after bind"
	echo "PASS: setup's checks and refusals"
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
