#!/usr/bin/env bash
# Builds the root the VM tier runs QEMU from: Debian trixie (debootstrap, Debian's packages only) with
# qemu-system-x86 from trixie-backports (QEMU >= 10.1 has vfio-user-pci; Debian 12's 7.2 has not), the trixie
# guest kernel (8250 and 8250_pci built in) and busybox-static for the guest's initramfs.
# The root is a cache outside the checkout: UMDEV_VM_ROOT, default /var/cache/umdev/vm-root. A stamp file records
# what it was built with, so a second run returns at once; a changed recipe rebuilds it. Needs root.
set -euo pipefail
root=${UMDEV_VM_ROOT:-/var/cache/umdev/vm-root}
mirror=${UMDEV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Bump when anything below changes what the root contains.
recipe="umdev-vm-root 1: trixie minbase; trixie-backports qemu-system-x86; linux-image-amd64 busybox-static"
stamp=$root/.umdev-vm-root

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]; then
  echo "vm-root: $root is up to date" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "vm-root: building $root needs root (debootstrap and chroot)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "vm-root: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

start=$(date +%s)
work=$root.new
rm -rf "$work"
mkdir -p "$(dirname "$root")"
echo "vm-root: debootstrap trixie into $work (a few minutes)" >&2
debootstrap --variant=minbase trixie "$work" "$mirror" >"$work.log" 2>&1 || { tail -20 "$work.log" >&2; exit 1; }
cat >"$work/etc/apt/sources.list" <<LIST
deb $mirror trixie main
deb $mirror trixie-backports main
LIST
# The guest boots from an initramfs the tests pack themselves: the kernel package's own initrd is never used, so
# its generation (tens of seconds) is diverted to a no-op.
chroot "$work" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
ln -sf /bin/true "$work/usr/sbin/update-initramfs"

echo "vm-root: installing qemu-system-x86 (trixie-backports), linux-image-amd64, busybox-static" >&2
# A private mount namespace: /proc and /dev are bound for apt and vanish with it, even if this script dies.
unshare -m --propagation private sh -c '
  set -e
  mount --bind /proc "$1/proc"
  mount --bind /dev "$1/dev"
  exec chroot "$1" sh -c "
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -t trixie-backports qemu-system-x86
    apt-get install -y -qq --no-install-recommends linux-image-amd64 busybox-static
    apt-get clean
  "' sh "$work" >>"$work.log" 2>&1 || { tail -20 "$work.log" >&2; exit 1; }

version=$(chroot "$work" qemu-system-x86_64 --version | head -1)
chroot "$work" qemu-system-x86_64 -device help | grep -q '"vfio-user-pci"' ||
  { echo "vm-root: $version has no vfio-user-pci" >&2; exit 1; }
ls "$work"/boot/vmlinuz-* >/dev/null
echo "$recipe" >"$work/.umdev-vm-root"
rm -rf "$root" "$work.log"
mv "$work" "$root"
echo "vm-root: $root ready in $(($(date +%s) - start)) s: $version" >&2
