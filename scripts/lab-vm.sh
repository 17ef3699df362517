#!/usr/bin/env bash
# The lab VM: a throwaway Debian 12 guest under QEMU that deploy.yml (make demo)
# and the molecule `vm` scenario run against. tests/lab/README.md explains it.
#
#   scripts/lab-vm.sh image               build (or reuse) the image; print its disk.img path
#   scripts/lab-vm.sh up                  image + boot (unless running) + wait for ssh
#   scripts/lab-vm.sh down                stop the VM, delete its overlay and run state
#   scripts/lab-vm.sh status              running or not, ssh port, accel (exit 0 running, 3 not)
#   scripts/lab-vm.sh ssh [CMD...]        run CMD (or a login shell) in the guest as root
#   scripts/lab-vm.sh wait-ssh [TIMEOUT]  wait until ssh works (after a guest reboot or crash)
#
# Environment: LAB_STATE (the run-state directory, default build/lab; a
# relative path is taken from the top of the repository; one VM per directory,
# so several labs can run side by side, e.g. build/lab-molecule next to
# build/lab), LAB_MEM (MiB, default 2048), LAB_CPUS (default 2), LAB_SSH_PORT
# (default 2222, the next free one when that is taken; an explicit port must be
# free), LAB_ACCEL (auto | kvm | tcg, default auto: kvm only where KVM runs stock
# kernels, see accel_choose), LAB_CPU (QEMU -cpu, default host on KVM, max on
# TCG; TCG's max is an AuthenticAMD CPU, max,vendor=GenuineIntel an Intel one
# without VMX). Progress and timings go to stderr.
#
# The image is a partitioned raw disk (MBR, one ext4 partition, GRUB for BIOS
# in the MBR and the gap before the partition): QEMU's SeaBIOS boots GRUB,
# which boots the kernel with the command line of the guest's own
# /boot/grub/grub.cfg, as on a real Debian host (update-grub in the guest
# changes the next boot). It is cached under
# ${XDG_CACHE_HOME:-~/.cache}/vmcsinfo/lab/<recipe hash>/ and rebuilt only when
# the recipe section of this script (between the RECIPE markers), the host's
# Debian mirror or the archive's version of a key package (key_pkgs) changes. Run state lives in $LAB_STATE: qcow2 overlay, pid, ssh
# key and port, serial log, QEMU log.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
top=$(dirname "$here")
# shellcheck source=debpkgs.sh
. "$here/debpkgs.sh"
PROG=lab-vm

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/lab
state=${LAB_STATE:-build/lab}
case $state in
/*) ;;
*) state=$top/$state ;;
esac
LAB_MEM=${LAB_MEM:-2048}
LAB_CPUS=${LAB_CPUS:-2}
LAB_ACCEL=${LAB_ACCEL:-auto}
default_port=2222

log() { say "$@"; }

usage() {
	sed -n '5,10p' "$self" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ---------------------------------------------------------------------------
# The host's Debian mirror (the image uses what this host's apt uses).

mirrors() {
	ensure_apt_lists
	mapfile -t lab_sources < <(mirror_sources bookworm)
	[ ${#lab_sources[@]} -gt 0 ] || die "no apt sources for bookworm"
}

# >>> RECIPE: everything from here to "<<< RECIPE" is hashed into the image key.
# A change here (or of the host's mirror) builds a new image on the next `up`.

image_size=6G
# The root partition starts at 1 MiB, as a partitioner puts it; GRUB's core.img
# lives in the gap before it (sectors 1-2047).
image_part_offset=1048576
# The kernel command line of /etc/default/grub (GRUB_CMDLINE_LINUX). panic=10:
# without kdump loaded a crash reboots instead of hanging; with kdump loaded the
# crash kernel runs first and ends in `reboot -f`, which resets the machine:
# SeaBIOS and GRUB boot the normal kernel again (hence no QEMU -no-reboot).
image_cmdline="console=ttyS0,115200 panic=10"
# Packages baked in so the guest never runs long apt installs under TCG: what
# deploy.yml's roles install (dkms kmod openssl make gcc, linux-headers-amd64,
# kdump-tools kexec-tools makedumpfile) plus a bootable systemd system with
# ssh and Python for Ansible, and GRUB for BIOS: grub-pc-bin (the i386-pc
# images and modules) and grub2-common (update-grub, grub-mkconfig; grub-common
# brings grub-probe and grub-mkimage). Not grub-pc: its postinst asks debconf
# for the install devices and runs grub-install, which needs a block device;
# recipe_customize and recipe_disk do that part by hand.
image_include=(
	linux-image-amd64 linux-headers-amd64 initramfs-tools zstd
	grub-pc-bin grub2-common
	systemd systemd-sysv udev dbus kmod e2fsprogs procps iproute2
	openssh-server ca-certificates sudo
	python3 python3-apt
	dkms gcc make openssl
	kdump-tools kexec-tools makedumpfile busybox file bsdextrautils
)
# Modules the QEMU guest needs to mount its root (virtio disk on q35, ext4):
# both initrds are built with MODULES=list, from the explicit list, because
# MODULES=most makes the boot slower under TCG and MODULES=dep (kdump-tools'
# choice for its initrd) would look at the *build host's* root device.
image_initrd_modules=(virtio_pci virtio_blk virtio_net virtio_rng ext4 crc32c_generic)

# Runs inside mmdebstrap (--customize-hook) with the new root as $1, after all
# packages are installed; /proc, /sys and /dev are mounted in it.
recipe_customize() {
	local root=$1 kver uuid
	kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
	[ -n "$kver" ] || die "no kernel in the image"
	[ "$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 | wc -l)" -eq 1 ] ||
		die "more than one kernel in the image: $(ls "$root/lib/modules")"
	chroot "$root" test -e "/lib/modules/$kver/build/Makefile" ||
		die "linux-headers-amd64 did not bring the headers of $kver (linux-image-amd64 and linux-headers-amd64 out of step in the mirror?)"

	echo lab-vm >"$root/etc/hostname"
	cat >"$root/etc/hosts" <<-'EOF'
		127.0.0.1	localhost
		127.0.1.1	lab-vm
		::1		localhost ip6-localhost ip6-loopback
	EOF
	# QEMU user networking: DHCP on the NIC, its DNS relay at 10.0.2.3.
	echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
	cat >"$root/etc/systemd/network/10-lab.network" <<-'EOF'
		[Match]
		Type=ether

		[Network]
		DHCP=ipv4
	EOF
	chroot "$root" systemctl enable systemd-networkd.service
	# The root file system by UUID (recipe_disk makes it with this UUID), as
	# the Debian installer writes it. fsck pass 0: a crash leaves only the
	# journal to replay, which mount does.
	uuid=$(cat /proc/sys/kernel/random/uuid)
	echo "UUID=$uuid / ext4 errors=remount-ro 0 0" >"$root/etc/fstab"

	# sshd: root by key only. The key is the lab's, generated on the host at
	# `up` and handed in per boot through QEMU's fw_cfg (lab-ssh-key.service),
	# so the cached image holds no credentials.
	cat >"$root/etc/ssh/sshd_config.d/lab-vm.conf" <<-'EOF'
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UseDNS no
	EOF
	install -d -m 0700 "$root/root/.ssh"
	install -d "$root/usr/local/sbin"
	cat >"$root/usr/local/sbin/lab-ssh-key" <<-'EOF'
		#!/bin/sh
		# Install root's authorized_keys from QEMU fw_cfg (scripts/lab-vm.sh).
		f=/sys/firmware/qemu_fw_cfg/by_name/opt/vmcsinfo/authorized_keys/raw
		modprobe qemu_fw_cfg 2>/dev/null || true
		[ -r "$f" ] || { echo "lab-ssh-key: no $f" >&2; exit 0; }
		install -d -m 0700 /root/.ssh
		install -m 0600 "$f" /root/.ssh/authorized_keys.new
		mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys
	EOF
	chmod 0755 "$root/usr/local/sbin/lab-ssh-key"
	cat >"$root/etc/systemd/system/lab-ssh-key.service" <<-'EOF'
		[Unit]
		Description=Install root's ssh key from QEMU fw_cfg (lab VM)
		Before=ssh.service
		DefaultDependencies=no
		After=local-fs.target

		[Service]
		Type=oneshot
		ExecStart=/usr/local/sbin/lab-ssh-key

		[Install]
		WantedBy=multi-user.target
	EOF
	chroot "$root" systemctl enable lab-ssh-key.service
	# No background apt in the guest: under TCG it takes minutes and holds the
	# dpkg lock that deploy.yml needs.
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
		apt-daily.service apt-daily-upgrade.service e2scrub_all.timer e2scrub_reap.service

	# Small initrds (see image_initrd_modules) for the boot and for kdump
	# (MODULES=list is in conf.d since the setup hook, see recipe_rootfs).
	printf '%s\n' '# lab VM: what QEMU q35 + virtio + ext4 root needs (scripts/lab-vm.sh)' \
		"${image_initrd_modules[@]}" >>"$root/etc/initramfs-tools/modules"
	chroot "$root" update-initramfs -u -k "$kver"
	# The kdump initrd, as kdump-tools' kernel hook makes it; and the sysctl
	# stamp `kdump-config load` compares (a missing one makes it rebuild the
	# initrd at the first load in the guest: minutes under TCG).
	# Its `lsmod` (for scsi_dh modules in use) fails without /proc here, which
	# is right: the build host's modules are not the guest's. Drop that noise.
	if ! chroot "$root" /etc/kernel/postinst.d/kdump-tools "$kver" 2>"$root/tmp/kdump-hook.err"; then
		cat "$root/tmp/kdump-hook.err" >&2
		die "kdump-tools' kernel hook failed"
	fi
	grep -v -e '^libkmod: ' -e '^Error: could not get list of modules' "$root/tmp/kdump-hook.err" >&2 || true
	rm -f "$root/tmp/kdump-hook.err"
	[ -s "$root/var/lib/kdump/initrd.img-$kver" ] || die "no kdump initrd for $kver"
	cp "$root/etc/kdump/sysctl.conf" "$root/var/lib/kdump/latest_sysctls-$kver"
	ln -sfn "/boot/vmlinuz-$kver" "$root/var/lib/kdump/vmlinuz"
	ln -sfn "/var/lib/kdump/initrd.img-$kver" "$root/var/lib/kdump/initrd.img"
	# From now on no initramfs rebuilds in the guest (apt's trigger takes over
	# 9 minutes under TCG). /etc/default/kdump-tools stays as packaged.
	sed -i 's/^update_initramfs=.*/update_initramfs=no/' \
		"$root/etc/initramfs-tools/update-initramfs.conf"
	grep -qx 'update_initramfs=no' "$root/etc/initramfs-tools/update-initramfs.conf" ||
		die "could not set update_initramfs=no"
	echo "$kver" >"$root/etc/lab-vm-kernel"

	recipe_grub "$root" "$kver" "$uuid"
}

# GRUB for BIOS, as grub-install would set it up, but without a block device:
# the modules in /boot/grub/i386-pc, core.img built there (recipe_disk writes
# it and boot.img to the disk), /etc/default/grub, and a first grub.cfg.
recipe_grub() {
	local root=$1 kver=$2 uuid=$3 lib=$1/usr/lib/grub/i386-pc
	[ -s "$lib/boot.img" ] || die "no $lib/boot.img (grub-pc-bin)"
	install -d "$root/boot/grub/i386-pc"
	cp "$lib"/*.mod "$lib"/*.lst "$lib/boot.img" "$root/boot/grub/i386-pc/"
	[ ! -e "$lib/modinfo.sh" ] || cp "$lib/modinfo.sh" "$root/boot/grub/i386-pc/"
	# core.img: diskboot.img (sector 1) loads the rest from sector 2 on (its
	# default blocklist; grub-mkimage fills in the length), then GRUB reads
	# its modules and grub.cfg from the prefix.
	chroot "$root" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc \
		-o /boot/grub/i386-pc/core.img -p '(hd0,msdos1)/boot/grub' \
		biosdisk part_msdos ext2
	chroot "$root" grub-editenv /boot/grub/grubenv create

	# update-grub (grub-mkconfig) reads this, then /etc/default/grub.d/*.cfg
	# in name order (kdump-tools.cfg adds crashkernel=384M-:128M to
	# GRUB_CMDLINE_LINUX_DEFAULT; vmcsinfo_kdump's zz-vmcsinfo-kdump.cfg sets
	# its own crashkernel=).
	cat >"$root/etc/default/grub" <<-EOF
		# Lab VM (scripts/lab-vm.sh): serial console only, no menu, no os-prober.
		# update-grub sources this file, then /etc/default/grub.d/*.cfg.
		GRUB_DEFAULT=0
		GRUB_TIMEOUT=0
		GRUB_DISTRIBUTOR=Debian
		GRUB_CMDLINE_LINUX_DEFAULT=""
		GRUB_CMDLINE_LINUX="$image_cmdline"
		GRUB_TERMINAL=serial
		GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
		GRUB_DISABLE_OS_PROBER=true
	EOF
	# The first grub.cfg, by hand: grub-mkconfig can't run here (grub-probe
	# needs the guest's block device). It boots the image's kernel the way the
	# grub.cfg of update-grub in the guest does, but without /etc/default/grub.d:
	# no crashkernel=, the state of a host that has just installed kdump-tools
	# and not rebooted since. The first update-grub in the guest (the kdump
	# role's) replaces it.
	cat >"$root/boot/grub/grub.cfg" <<-EOF
		# Written by scripts/lab-vm.sh at image build; update-grub replaces it.
		serial --unit=0 --speed=115200
		terminal_input serial
		terminal_output serial
		set default=0
		set timeout=0
		menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os {
		  insmod gzio
		  insmod part_msdos
		  insmod ext2
		  search --no-floppy --fs-uuid --set=root $uuid
		  echo 'Loading Linux $kver ...'
		  linux /boot/vmlinuz-$kver root=UUID=$uuid ro $image_cmdline
		  echo 'Loading initial ramdisk ...'
		  initrd /boot/initrd.img-$kver
		}
	EOF
}

# Build the root directory DIR with mmdebstrap. Debs are kept in DEBS between
# builds (sync-in/sync-out), so a rebuild downloads only what changed. Its
# output goes to LOG; a failure shows the tail.
recipe_rootfs() {
	local dir=$1 debs=$2 log=$3 inc
	inc=$(
		IFS=,
		echo "${image_include[*]}"
	)
	# MODULES=list before anything is installed: linux-image's postinst runs
	# kdump-tools' kernel hook, whose mkinitramfs with MODULES=dep looks for
	# the device of / and finds none in the build chroot. conf.d overrides
	# the MODULES= of both initramfs.conf and kdump-tools' copy of it.
	# The hooks run in mmdebstrap's shell, where $1 is the new root.
	# shellcheck disable=SC2016
	run_logged mmdebstrap "$log" \
		mmdebstrap --mode=root --variant=minbase --format=directory \
		--include="$inc" \
		--skip=essential/unlink --skip=cleanup/apt/lists \
		--setup-hook='mkdir -p "$1/var/cache/apt/archives" "$1/etc/initramfs-tools/conf.d"' \
		--setup-hook='printf "MODULES=list\n" >"$1/etc/initramfs-tools/conf.d/lab-vm.conf"' \
		--setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
		--customize-hook="'$self' __customize \"\$1\"" \
		--customize-hook="find '$debs' -maxdepth 1 -name '*.deb' -delete" \
		--customize-hook="sync-out /var/cache/apt/archives '$debs'" \
		bookworm "$dir" "${lab_sources[@]}" ||
		die "mmdebstrap could not build the lab image (log: $log)"
}

# Make the disk image IMG from the root directory ROOT without loop devices:
# an MBR partition table (sfdisk works on a file) with one ext4 partition from
# image_part_offset to the end, the file system written straight into it by
# mkfs.ext4 -d with an offset, the first 440 bytes of GRUB's boot.img (its code; the rest of sector
# 0 is the disk signature and the partition table) in sector 0, and core.img
# from sector 1 on: what grub-install does on a BIOS disk. boot.img's
# built-in defaults fit this layout: it loads sector 1 (kernel_sector) from
# the drive the BIOS booted (boot_drive 0xff), and diskboot.img there reads
# the rest of core.img from sector 2 on.
recipe_disk() {
	local root=$1 img=$2 uuid core size
	uuid=$(awk '$2 == "/" && sub(/^UUID=/, "", $1) { print $1 }' "$root/etc/fstab")
	[ -n "$uuid" ] || die "no UUID= for / in the image's fstab"
	core=$root/boot/grub/i386-pc/core.img
	[ "$(stat -c %s "$core")" -le $((image_part_offset - 512)) ] ||
		die "GRUB's core.img does not fit before the partition"
	rm -f "$img"
	truncate -s "$image_size" "$img"
	size=$(stat -c %s "$img")
	printf 'label: dos\nstart=%d, type=83, bootable\n' $((image_part_offset / 512)) |
		sfdisk -q --wipe-partitions never "$img"
	mkfs.ext4 -q -F -L lab-root -U "$uuid" -E "offset=$image_part_offset" -d "$root" \
		"$img" "$(((size - image_part_offset) / 1024))k"
	dd if="$root/boot/grub/i386-pc/boot.img" of="$img" bs=440 count=1 conv=notrunc status=none
	dd if="$core" of="$img" bs=512 seek=1 conv=notrunc status=none
}

# <<< RECIPE

# The packages whose version makes the lab what it is: when the archive
# moves on (a new kernel, kdump-tools, dkms), the next `up` builds anew
# rather than testing what the archive no longer has.
key_pkgs=(linux-image-amd64 linux-headers-amd64 kdump-tools kexec-tools makedumpfile dkms systemd)

# Needs mirrors() to have run (the lists are fresh then).
recipe_key() {
	local p
	{
		sed -n '/^# >>> RECIPE/,/^# <<< RECIPE/p' "$self"
		printf '%s\n' "${lab_sources[@]}"
		for p in "${key_pkgs[@]}"; do
			apt-cache policy "$p" 2>/dev/null | awk -v p="$p" '$1 == "Candidate:" { print p, $2; exit }'
		done
	} | sha256sum | cut -c1-12
}

# Build (or reuse) the image; sets img_dir (cache dir holding disk.img, kver,
# and vmlinuz for the KVM probe boot).
image_ensure() {
	local key tmp t0 t1 kver
	mirrors
	key=$(recipe_key)
	img_dir=$cache_root/$key
	if [ -s "$img_dir/disk.img" ]; then
		return 0
	fi
	mkdir -p "$cache_root"
	exec 8>"$cache_root/.lock"
	flock 8 # one build at a time; a concurrent run finds the result below
	if [ -s "$img_dir/disk.img" ]; then
		exec 8>&-
		return 0
	fi
	ensure_pkgs mmdebstrap e2fsprogs fdisk
	tmp=$cache_root/$key.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp" "$cache_root/debs"
	t0=$SECONDS
	log "building the image $key (mmdebstrap bookworm from ${lab_sources[0]#deb }; several minutes)"
	rm -f "$cache_root/mmdebstrap.log"
	recipe_rootfs "$tmp/root" "$cache_root/debs" "$cache_root/mmdebstrap.log"
	t1=$SECONDS
	log "rootfs built in $((t1 - t0)) s ($(du -sh "$tmp/root" | cut -f1))"
	kver=$(cat "$tmp/root/etc/lab-vm-kernel")
	cp "$tmp/root/boot/vmlinuz-$kver" "$tmp/vmlinuz"
	echo "$kver" >"$tmp/kver"
	recipe_disk "$tmp/root" "$tmp/disk.img"
	rm -rf "$tmp/root"
	log "disk.img ($image_size sparse, $(du -h "$tmp/disk.img" | cut -f1) used) in $((SECONDS - t1)) s"
	# Only the newest image is kept (a running VM keeps its open file).
	find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -name debs ! -name "$key" \
		! -name "$key.tmp" -exec rm -rf {} +
	mv "$tmp" "$img_dir"
	exec 8>&-
	log "image $key built in $((SECONDS - t0)) s: $img_dir"
}

# ---------------------------------------------------------------------------
# Run state ($LAB_STATE, default build/lab/).

pidfile=$state/qemu.pid
overlay=$state/overlay.qcow2
keyfile=$state/id_ed25519
# Everything `up` writes there (what `down` deletes).
state_files=(.lock qemu.pid overlay.qcow2 id_ed25519 id_ed25519.pub ssh_port accel qemu_accel
	guest_vmx image serial.log qemu.log kvm-probe.log ssh.err)

# The QEMU pid when our VM runs, else nothing (and exit 1).
vm_pid() {
	local pid
	[ -r "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$overlay" || return 1
	echo "$pid"
}

ssh_port() { cat "$state/ssh_port" 2>/dev/null; }

need_state() {
	if [ ! -s "$state/ssh_port" ] || [ ! -s "$keyfile" ]; then
		die "no lab VM state in $state (run: $self up)"
	fi
}

ssh_opts() {
	ssh_args=(-i "$keyfile" -p "$(ssh_port)" -o BatchMode=yes -o IdentitiesOnly=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
		-o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=8)
}

# ssh's own words of the last try are kept in $state/ssh.err.
ssh_ok() {
	ssh_opts
	timeout 30 ssh "${ssh_args[@]}" root@127.0.0.1 true </dev/null >/dev/null 2>"$state/ssh.err"
}

# Wait up to $1 seconds for ssh; fail when the VM dies meanwhile, showing
# what QEMU, the guest's console and ssh said last.
wait_ssh() {
	local limit=${1:-600} t0=$SECONDS
	need_state
	until ssh_ok; do
		if ! vm_pid >/dev/null; then
			show_tail qemu "$state/qemu.log" 20
			show_tail "the guest's serial console" "$state/serial.log" 30
			die "the VM is not running (logs: $state/serial.log, $state/qemu.log)"
		fi
		if [ $((SECONDS - t0)) -ge "$limit" ]; then
			show_tail "the guest's serial console" "$state/serial.log" 30
			show_tail ssh "$state/ssh.err" 5
			die "no ssh after $limit s (log: $state/serial.log)"
		fi
		sleep 3
	done
	log "ssh up after $((SECONDS - t0)) s"
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p
	if [ -n "${LAB_SSH_PORT:-}" ]; then
		port_free "$LAB_SSH_PORT" || die "LAB_SSH_PORT=$LAB_SSH_PORT is taken"
		echo "$LAB_SSH_PORT"
		return 0
	fi
	for ((p = default_port; p < default_port + 100; p++)); do
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port in $default_port-$((default_port + 99)) (set LAB_SSH_PORT)"
}

# ---------------------------------------------------------------------------
# Acceleration. KVM only where it runs a stock kernel: Intel's or AMD's KVM
# module is loaded (kvm_intel / kvm_amd; a /dev/kvm from anything else, e.g.
# PVM's kvm_pvm on these build machines, runs only specially built guests), the
# device is usable, and the image's own kernel prints its banner under
# `-accel kvm -cpu host` within 30 s. Otherwise TCG (no VMX in the guest then:
# QEMU TCG does not emulate VMX). Sets accel, accel_why.
accel_choose() {
	local vmlinuz=$1 probe
	case $LAB_ACCEL in
	tcg)
		accel=tcg accel_why="LAB_ACCEL=tcg"
		return 0
		;;
	kvm)
		if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
			die "LAB_ACCEL=kvm but /dev/kvm is not usable"
		fi
		accel=kvm accel_why="LAB_ACCEL=kvm"
		return 0
		;;
	auto) ;;
	*) die "LAB_ACCEL must be auto, kvm or tcg (not '$LAB_ACCEL')" ;;
	esac
	accel=tcg
	if [ ! -e /dev/kvm ]; then
		accel_why="no /dev/kvm"
	elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		accel_why="/dev/kvm not accessible"
	elif [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
		accel_why="/dev/kvm is not Intel's or AMD's KVM ($(find /sys/module -maxdepth 1 -name 'kvm*' -printf '%f ' 2>/dev/null))"
	else
		probe=$state/kvm-probe.log
		rm -f "$probe"
		timeout 30 qemu-system-x86_64 -accel kvm -cpu host -machine q35 -m 256 \
			-display none -vga none -nodefaults -no-reboot -serial "file:$probe" \
			-kernel "$vmlinuz" -append "console=ttyS0 earlyprintk=ttyS0 panic=-1" \
			>/dev/null 2>&1 || true
		if grep -q 'Linux version' "$probe" 2>/dev/null; then
			accel=kvm accel_why="KVM boots the image's kernel"
		else
			accel_why="KVM probe boot failed (see $probe)"
		fi
	fi
}

# Whether the guest will see VMX: KVM on a VMX host with nested VMX on.
guest_vmx() {
	local nested
	[ "$accel" = kvm ] || {
		echo no
		return 0
	}
	nested=$(cat /sys/module/kvm_intel/parameters/nested 2>/dev/null || true)
	if grep -qw vmx /proc/cpuinfo && [[ $nested == [Yy1]* ]]; then echo yes; else echo no; fi
}

# ---------------------------------------------------------------------------
# Commands.

cmd_image() {
	image_ensure
	echo "$img_dir/disk.img"
}

cmd_up() {
	local t0=$SECONDS t1 pid port accel accel_why qemu_accel backing
	mkdir -p "$state"
	exec 9>"$state/.lock"
	flock 9
	if pid=$(vm_pid); then
		if ssh_ok; then
			log "already up (pid $pid, ssh port $(ssh_port), accel $(cat "$state/accel"))"
			return 0
		fi
		log "VM running (pid $pid) but no ssh yet: waiting"
		wait_ssh 600
		return 0
	fi
	ensure_pkgs qemu-system-x86 qemu-utils openssh-client
	t1=$SECONDS
	image_ensure
	log "image ready in $((SECONDS - t1)) s: $img_dir"

	port=$(pick_port)
	[ -s "$keyfile" ] || {
		rm -f "$keyfile" "$keyfile.pub"
		ssh-keygen -q -t ed25519 -N '' -C "vmcsinfo-lab@$(hostname)" -f "$keyfile"
	}
	# Keep the overlay of a VM that stopped by itself when it sits on the
	# current image; otherwise start from a fresh one.
	if [ -f "$overlay" ]; then
		backing=$(qemu-img info --output=json "$overlay" 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin).get("backing-filename",""))' || true)
		if [ "$backing" = "$img_dir/disk.img" ]; then
			log "reusing the overlay of the stopped VM ($overlay)"
		else
			log "overlay is on another image: starting from a fresh one"
			rm -f "$overlay"
		fi
	fi
	[ -f "$overlay" ] || qemu-img create -q -f qcow2 -F raw -b "$img_dir/disk.img" "$overlay"

	accel_choose "$img_dir/vmlinuz"
	case $accel in
	kvm) qemu_accel=(-accel kvm -cpu "${LAB_CPU:-host}") ;;
	*) qemu_accel=(-accel "tcg,thread=multi" -cpu "${LAB_CPU:-max}") ;;
	esac
	echo "$port" >"$state/ssh_port"
	echo "$accel" >"$state/accel"
	echo "${qemu_accel[*]}" >"$state/qemu_accel"
	guest_vmx >"$state/guest_vmx"
	echo "$img_dir" >"$state/image"
	log "booting (accel $accel: $accel_why; ssh on 127.0.0.1:$port; ${LAB_MEM} MiB, $LAB_CPUS CPUs)"
	t1=$SECONDS
	rm -f "$pidfile"
	: >"$state/serial.log"
	# SeaBIOS boots GRUB from the virtio disk, GRUB the kernel with the command
	# line of the guest's grub.cfg (no crashkernel= until update-grub in the
	# guest adds it). A reset (reboot, kdump's `reboot -f`) boots through GRUB
	# again. (QEMU must not inherit the lock fds 8 and 9: it would hold the
	# locks.)
	if ! qemu-system-x86_64 -name lab-vm -machine q35 "${qemu_accel[@]}" \
		-m "$LAB_MEM" -smp "$LAB_CPUS" \
		-drive "file=$overlay,format=qcow2,if=virtio,cache=unsafe,discard=unmap" \
		-nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:22" \
		-device virtio-rng-pci \
		-fw_cfg "name=opt/vmcsinfo/authorized_keys,file=$keyfile.pub" \
		-serial "file:$state/serial.log" -display none -vga none -monitor none \
		-daemonize -pidfile "$pidfile" >"$state/qemu.log" 2>&1 8>&- 9>&-; then
		show_tail qemu "$state/qemu.log"
		die "QEMU did not start"
	fi
	log "QEMU started (pid $(cat "$pidfile")), waiting for ssh"
	wait_ssh 900
	log "up: boot to ssh $((SECONDS - t1)) s, whole \`up\` $((SECONDS - t0)) s (ssh port $port, accel $accel)"
}

cmd_down() {
	local pid i
	if pid=$(vm_pid); then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
		log "stopped the VM (pid $pid)"
	else
		log "not running"
	fi
	# Only the files `up` writes (LAB_STATE may name any directory); then the
	# directory itself when nothing else is left in it.
	(cd "$state" 2>/dev/null && rm -f "${state_files[@]}") || true
	rmdir "$state" 2>/dev/null || true
}

cmd_status() {
	local pid
	if pid=$(vm_pid); then
		echo "state: running (pid $pid)"
		echo "ssh: root@127.0.0.1 port $(ssh_port) key $keyfile"
		echo "accel: $(cat "$state/accel" 2>/dev/null) ($(cat "$state/qemu_accel" 2>/dev/null); guest VMX: $(cat "$state/guest_vmx" 2>/dev/null))"
		echo "image: $(cat "$state/image" 2>/dev/null)"
		echo "serial log: $state/serial.log"
		if ssh_ok; then echo "ssh_ok: yes"; else echo "ssh_ok: no"; fi
		return 0
	fi
	echo "state: stopped"
	return 3
}

cmd_ssh() {
	need_state
	ssh_opts
	if [ $# -eq 0 ] && [ -t 0 ]; then
		exec ssh -t "${ssh_args[@]}" root@127.0.0.1
	fi
	exec ssh "${ssh_args[@]}" root@127.0.0.1 "$@"
}

case ${1:-} in
image) cmd_image ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
ssh)
	shift
	cmd_ssh "$@"
	;;
wait-ssh) wait_ssh "${2:-600}" ;;
__customize) recipe_customize "$2" ;; # mmdebstrap's customize hook
*) usage ;;
esac
