#!/usr/bin/env bash
# The fault tests' network: three namespaces this script makes and removes, nothing on the host.
#
#   <id>-dev  198.18.1.2/24 (veth "dev0")    the doorbell (`roombell run`)
#   <id>-mid  198.18.1.1/24 ("todev"), 198.18.2.1/24 ("tosrv"): the router, forwarding on in
#             this namespace only; loss (nftables), the delay line (TUN "delay") and the link
#             cut happen here
#   <id>-srv  198.18.2.2/24 (veth "srv0")    the room server and the probe (the answerer)
#
# 198.18.0.0/15 is the benchmarking range (RFC 2544): no real network uses it, and the
# addresses exist only inside these namespaces.
#
#   lab.sh up ID | down ID
#   lab.sh loss ID PERCENT          # random loss on everything forwarded, both ways (0 = off)
#   lab.sh loss-counter ID          # packets dropped so far by the loss rule
#   lab.sh delay ID on|off          # steer forwarded packets through TUN "delay" (the relay
#                                   # examples/delay_relay.rs must have created it for "on")
#   lab.sh link ID down|up          # the device's link, cut at the router (it loses carrier)
#   lab.sh blackhole ID on|off      # everything forwarded dropped; both links stay up
#   lab.sh udp-block ID on|off      # only UDP forwarded is dropped: media dies, signaling lives
set -euo pipefail

cmd=${1:?usage: lab.sh up|down|loss|loss-counter|delay|link ID ...}
id=${2:?lab id}
dev="$id-dev" mid="$id-mid" srv="$id-srv"
run_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

case "$cmd" in
  up)
    for ns in "$dev" "$mid" "$srv"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
    # Created inside the namespaces: no interface ever appears on the host.
    ip -n "$dev" link add dev0 type veth peer name todev netns "$mid"
    ip -n "$srv" link add srv0 type veth peer name tosrv netns "$mid"
    ip -n "$dev" addr add 198.18.1.2/24 dev dev0
    ip -n "$mid" addr add 198.18.1.1/24 dev todev
    ip -n "$mid" addr add 198.18.2.1/24 dev tosrv
    ip -n "$srv" addr add 198.18.2.2/24 dev srv0
    for pair in "$dev:dev0" "$mid:todev" "$mid:tosrv" "$srv:srv0"; do
      ip -n "${pair%%:*}" link set "${pair#*:}" up
    done
    ip -n "$dev" route add default via 198.18.1.1
    ip -n "$srv" route add default via 198.18.2.1
    # Namespace-local sysctls: the router forwards, and accepts packets the delay line hands
    # back on "delay" although their sources live behind the veths (no reverse-path filter).
    run_in "$mid" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
      net.ipv4.conf.default.rp_filter=0
    run_in "$mid" nft -f - <<'EOF'
table inet faults {
  chain forward {
    type filter hook forward priority 0; policy accept;
  }
}
EOF
    ;;
  down)
    for ns in "$dev" "$mid" "$srv"; do ip netns del "$ns" 2>/dev/null || true; done
    ;;
  loss)
    pct=${3:?percent}
    run_in "$mid" nft flush chain inet faults forward
    if [ "$pct" -gt 0 ]; then
      # Only packets coming from the veths: those the delay line hands back on "delay" were
      # already judged once.
      run_in "$mid" nft add rule inet faults forward iifname != "delay" \
        numgen random mod 100 "<" "$pct" counter drop
    fi
    ;;
  loss-counter)
    run_in "$mid" nft list chain inet faults forward | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -1
    ;;
  delay)
    case "${3:?on|off}" in
      on)
        run_in "$mid" sysctl -q -w net.ipv4.conf.delay.rp_filter=0
        ip -n "$mid" link set delay up
        ip -n "$mid" route add default dev delay table 100
        ip -n "$mid" rule add iif todev lookup 100 pref 100
        ip -n "$mid" rule add iif tosrv lookup 100 pref 101
        ;;
      off)
        ip -n "$mid" rule del pref 100 2>/dev/null || true
        ip -n "$mid" rule del pref 101 2>/dev/null || true
        ip -n "$mid" route flush table 100 2>/dev/null || true
        ;;
    esac
    ;;
  link)
    ip -n "$mid" link set todev "${3:?down|up}"
    ;;
  blackhole)
    # The path dies beyond the device's own link (its Wi-Fi stays up): every packet between
    # device and server is dropped, silently, in a chain of its own so loss rules stay.
    case "${3:?on|off}" in
      on)
        run_in "$mid" nft add chain inet faults blackhole '{ type filter hook forward priority -10; policy drop; }'
        ;;
      off)
        run_in "$mid" nft delete chain inet faults blackhole
        ;;
    esac
    ;;
  udp-block)
    # A firewall or NAT that loses the media flows while the signaling TCP connection stays:
    # only UDP between device and server is dropped.
    case "${3:?on|off}" in
      on)
        run_in "$mid" nft add chain inet faults udpblock '{ type filter hook forward priority -10; policy accept; }'
        run_in "$mid" nft add rule inet faults udpblock meta l4proto udp drop
        ;;
      off)
        run_in "$mid" nft delete chain inet faults udpblock
        ;;
    esac
    ;;
  *)
    echo "lab.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
