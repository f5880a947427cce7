#!/bin/busybox sh
# /init of the test VM (tests/vm/run.sh builds the initramfs): mounts, loads the modules in
# /modules.list, runs each scenario in /scenarios.list (guest() of /scenarios/NAME.sh, output in
# /out/NAME), writes /out as a tar onto /dev/vda for the host, and powers off.
/bin/busybox mkdir -p /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
. /etc/vm-env  # settings from run.sh's environment
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
ip link set lo up 2>/dev/null
echo "@@BOOTED $(cut -d' ' -f1 /proc/uptime)"
cut -d' ' -f1 /proc/uptime > /out/boot-secs

for m in $(cat /modules.list); do
  insmod "/lib/modules/$m" || echo "@@WARN insmod $m failed"
done
# Device nodes appear asynchronously.
i=0
while [ $i -lt 50 ] && ! { [ -b /dev/vda ] && [ -c /dev/video0 ] && [ -e /dev/snd/controlC0 ]; }; do
  sleep 0.1; i=$((i + 1))
done
ls /dev/video* /dev/snd/ /dev/vda 2>&1 | tr '\n' ' '; echo
# No NIC (-nic none): a dummy interface with an address and a default route, as a board on a LAN
# has (WebRTC's interface gathering fails with ENODEV on a machine with only lo).
{ ip link show dummy0 > /dev/null 2>&1 || ip link add dummy0 type dummy; } && ip addr add 10.0.2.15/24 dev dummy0 && ip link set dummy0 up \
  && ip route add default via 10.0.2.2 dev dummy0 || echo "@@WARN no dummy0"

for s in $(cat /scenarios.list); do
  out="/out/$s"
  mkdir -p "$out"
  start=$(cut -d' ' -f1 /proc/uptime)
  echo "@@SCENARIO-START $s"
  # Each scenario in its own shell, bounded; its log goes to the console too.
  timeout 180 sh -c '. /vmlib.sh; . "/scenarios/$1.sh"; cd "$2"; OUT="$2" guest' sh "$s" "$out" > "$out/log" 2>&1
  rc=$?
  end=$(cut -d' ' -f1 /proc/uptime)
  sed "s/^/[$s] /" "$out/log"
  echo "$rc" > "$out/rc"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' > "$out/secs"
  echo "@@SCENARIO-RC $s $rc"
done

dmesg > /out/dmesg.txt
tar -cf /dev/vda -C /out .
sync
echo "@@DONE"
poweroff -f
