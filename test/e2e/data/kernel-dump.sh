# Renders the sysfs tree below $SYS in the format of kernel-sysfs-mtty-6.12.txt (a 6.12 kernel's mtty tree dumped
# with busybox), running the same sequence: load, create one mtty-2, bad writes, exhaust the pool, remove. Run it with
# busybox sh, so reads, links, `ls -la` and the shell's write errors come from the same tools as the reference's.
# Lines: D dir | F file | L symlink, [mode uid:gid st_size], read(N)="content" or read-error, or the link target.
set -u
# busybox sh runs other programs from PATH; the reference used busybox's own applets, whose output formats differ.
for c in cat find ls od readlink realpath sed sort stat tail tr wc mktemp rm; do eval "$c() { busybox $c \"\$@\"; }"; done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
U1=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
U2=83b8f4f2-509f-382f-3c1e-e6bfe0fa1002
P=devices/virtual/mtty/mtty
T=class/mdev_bus/mtty/mdev_supported_types

# IOMMU group numbers are the allocator's business: N everywhere but in `ls` (as in the reference).
norm() { sed -E 's#iommu_groups/[0-9]+#iommu_groups/N#g'; }
real() { r=$(realpath "$SYS/$1"); echo "${r#"$SYS"/}"; }
lsl() { ls -la "$SYS/$1" | busybox grep -v '^total' | sed -E 's/^([^ ]+ +[0-9]+) .* ([^ ]+)$/\1 OWNER DATE \2/'; }

entry() {
  p=$1
  rel=${p#./}
  if [ -L "$p" ]; then
    echo "L $rel [$(stat -c '%a %u:%g' "$p")] -> $(readlink "$p")"
  elif [ -d "$p" ]; then
    echo "D $rel [$(stat -c '%a %u:%g' "$p")]"
  elif cat "$p" > "$TMP/v" 2> "$TMP/e"; then
    n=$(wc -c < "$TMP/v")
    n=$((n + 0))
    esc=$(sed 's/$/\\n/' "$TMP/v" | tr -d '\n')
    if [ "$n" -gt 0 ] && [ "$(tail -c 1 "$TMP/v" | od -An -tx1 | tr -d ' ')" != 0a ]; then esc=${esc%\\n}; fi
    echo "F $rel [$(stat -c '%a %u:%g st_size=%s' "$p")] read($n)=\"$esc\""
  else
    echo "F $rel [$(stat -c '%a %u:%g st_size=%s' "$p")] read-error: $(sed 's/.*: //' "$TMP/e")"
  fi
}

dump() {
  echo "@@@ BEGIN DUMP $1"
  echo "# root=/sys/$2 realpath=/sys/$(real "$2")" | norm
  (cd "$SYS/$2" && find . | LC_ALL=C sort | while IFS= read -r p; do entry "$p"; done) | norm
  echo "@@@ END DUMP $1"
}

try() {
  if [ "$1" = -n ]; then
    shift
    (echo -n "$2" > "$SYS/$3") 2> "$TMP/e"
    rc=$?
    echo "TRY $1: echo -n '$2' > $3 -> rc=$rc msg='$(cat "$TMP/e") '"
  else
    (echo "$2" > "$SYS/$3") 2> "$TMP/e"
    rc=$?
    echo "TRY $1: echo '$2' > $3 -> rc=$rc msg='$(cat "$TMP/e") '"
  fi
}

avail() {
  echo "AVAIL $1 mtty-1=$(cat "$SYS/$T/mtty-1/available_instances")"
  echo "AVAIL $1 mtty-2=$(cat "$SYS/$T/mtty-2/available_instances")"
}

busdevs() { ls "$SYS/bus/mdev/devices" | while read -r d; do echo "# bus device$1: $d"; done; }
exists() { if [ -e "$SYS/$1" ]; then echo yes; else echo no; fi; }

echo "# parent realpath=$(real class/mdev_bus/mtty) (class link -> $(readlink "$SYS/class/mdev_bus/mtty"))"
avail before
dump class_mdev_bus class/mdev_bus
dump parent_before $P
dump bus_mdev_before bus/mdev
echo "@@@ BEGIN IOMMU_GROUPS_BEFORE"
lsl kernel/iommu_groups
echo "@@@ END IOMMU_GROUPS_BEFORE"

echo "@@@ BEGIN CREATE"
try create-U1 $U1 $T/mtty-2/create
echo "@@@ END CREATE"
avail after-create
echo "# bus link $U1 -> $(readlink "$SYS/bus/mdev/devices/$U1") ; realpath=$(real bus/mdev/devices/$U1)"
dump device $P/$U1
g=$(readlink "$SYS/$P/$U1/iommu_group")
g=${g##*/}
echo "# iommu_group link -> $(readlink "$SYS/$P/$U1/iommu_group") ; group=$g ; realpath=$(real $P/$U1/iommu_group)" | norm | sed 's/group=[0-9]*/group=N/'
dump iommu_group kernel/iommu_groups/$g
dump type_mtty2_with_device class/mdev_bus/mtty/mdev_supported_types/mtty-2
dump bus_mdev_with_device bus/mdev
echo "@@@ BEGIN IOMMU_GROUPS_WITH_DEVICE"
lsl kernel/iommu_groups
echo "@@@ END IOMMU_GROUPS_WITH_DEVICE"

echo "@@@ BEGIN BADWRITES"
try bad-uuid not-a-uuid $T/mtty-2/create
try bad-uuid-36chars-nonhex zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz $T/mtty-2/create
try uuid-plus-garbage ${U2}xx $T/mtty-2/create
try duplicate-uuid-same-type $U1 $T/mtty-2/create
try duplicate-uuid-other-type $U1 $T/mtty-1/create
try remove-abc abc $P/$U1/remove
try remove-0 0 $P/$U1/remove
try write-readonly-available_instances 5 $T/mtty-2/available_instances
try write-readonly-name x $T/mtty-2/name
try write-sample_mdev_dev x $P/$U1/vendor/sample_mdev_dev
try write-uevent change $P/$U1/uevent
busdevs " after bad writes"
avail after-badwrites
echo "@@@ END BADWRITES"

echo "@@@ BEGIN UPPERCASE_NONL"
try -n create-uppercase-no-newline 83B8F4F2-509F-382F-3C1E-E6BFE0FA10AB $T/mtty-1/create
busdevs ""
avail after-uppercase
try remove-other 1 bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa10ab/remove
busdevs ""
echo "@@@ END UPPERCASE_NONL"

echo "@@@ BEGIN REMOVE2"
try create-U2-mtty1 $U2 $T/mtty-1/create
try remove-U2-with-2 2 bus/mdev/devices/$U2/remove
echo "# U2 exists after 'echo 2 > remove'? $(exists bus/mdev/devices/$U2)"
try create-U2-again $U2 $T/mtty-1/create
try remove-U2-with-0x1 0x1 bus/mdev/devices/$U2/remove
echo "# U2 exists after 'echo 0x1 > remove'? $(exists bus/mdev/devices/$U2)"
avail after-remove2
echo "@@@ END REMOVE2"

echo "@@@ BEGIN EXHAUST"
for i in 2 3 4 5 6 7 8 9 10 11 12 13; do
  try fill-$i 83b8f4f2-509f-382f-3c1e-e6bfe0fa20$(printf %02d $i) $T/mtty-2/create
done
avail exhausted
for i in 2 3 4 5 6 7 8 9 10 11 12; do
  try unfill-$i 1 bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa20$(printf %02d $i)/remove
done
avail after-unfill
echo "@@@ END EXHAUST"

echo "@@@ BEGIN REMOVE"
try remove-U1 1 $P/$U1/remove
try remove-again 1 $P/$U1/remove
echo "@@@ END REMOVE"
avail after-remove
lsl bus/mdev/devices | sed 's/^/# bus devices: /'
lsl kernel/iommu_groups | sed 's/^/# iommu_groups: /'
echo "# device dir exists after remove? $(exists $P/$U1)"
dump parent_after $P
dump bus_mdev_after bus/mdev
