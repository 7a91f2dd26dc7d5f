#!/bin/bash
# nlb-ftp: the FTP server's own network namespace. Run at every boot by nlb-ftp-namespace.service
# on EC2 (the namespace, its link and its rules live in memory and are gone after a reboot), and
# by the local sandbox inside each emulated instance. `up` (re)creates everything; `down` removes it.
#
# Why: when every port of its PassivePorts range is held at once (sessions between their PASV/EPSV
# reply and the transfer command), ProFTPD binds *any* free port (INPORT_ANY) and advertises it.
# The NLB has no listener on that port, so the client's data connection hangs until it times out.
# The port INPORT_ANY draws from is net.ipv4.ip_local_port_range, a per-namespace setting. In a
# namespace of its own whose range is exactly the slot's passive range, that fallback bind fails
# and the client gets a prompt "425 Unable to build data connection", which FTP clients retry.
# The FTP server makes no outbound connections, so the narrow range costs it nothing; everything
# else on the instance (curl to AWS, stunnel to EFS, the SSM agent) stays in the host namespace.
#
# Traffic: the host DNATs port 21 and the passive range, addressed to any of its own addresses,
# to the namespace over a veth pair. The client IP is preserved (no source NAT), so the server's
# check that a data connection comes from the control connection's client keeps working. Nothing
# else is forwarded.
#
# Caps: ProFTPD answers its own session caps with 530, which clients read as a wrong password and
# do not retry. So the kernel counts port-21 connections here, ahead of ProFTPD: over
# MAX_PER_ADDRESS from one client address, or over MAX_SESSIONS in all, a new connection goes to a
# local responder (nlb-ftp-refuse-*.service) that answers one transient 421 naming the limit.
#
# Settings: NLBFTP_NS_ENV (default /etc/nlb-ftp/ftp-namespace.env) sets NS, HOST_IF, NS_IF,
# HOST_ADDR, NS_ADDR, PORTS (iptables multiport form, e.g. 21,40000:40003), SYSCTL_FILE,
# MAX_PER_ADDRESS, MAX_SESSIONS, REFUSE_PER_ADDRESS_PORT and REFUSE_FULL_PORT.
set -euo pipefail

# shellcheck source=/dev/null
. "${NLBFTP_NS_ENV:-/etc/nlb-ftp/ftp-namespace.env}"
: "${NS:?} ${HOST_IF:?} ${NS_IF:?} ${HOST_ADDR:?} ${NS_ADDR:?} ${PORTS:?} ${SYSCTL_FILE:?}"
: "${MAX_PER_ADDRESS:?} ${MAX_SESSIONS:?} ${REFUSE_PER_ADDRESS_PORT:?} ${REFUSE_FULL_PORT:?}"

NAT_CHAIN=NLBFTP-NS
FWD_CHAIN=NLBFTP-NS-FWD

down() {
  iptables -t nat -D PREROUTING -j "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -F "$NAT_CHAIN" 2>/dev/null || true
  iptables -t nat -X "$NAT_CHAIN" 2>/dev/null || true
  iptables -D FORWARD -j "$FWD_CHAIN" 2>/dev/null || true
  iptables -F "$FWD_CHAIN" 2>/dev/null || true
  iptables -X "$FWD_CHAIN" 2>/dev/null || true
  ip link delete "$HOST_IF" 2>/dev/null || true
  if ip netns list | grep -qx "$NS\( (id: [0-9]*)\)\?"; then ip netns delete "$NS"; fi
}

up() {
  down
  ip netns add "$NS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS"
  ip addr add "$HOST_ADDR/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add "$NS_ADDR/30" dev "$NS_IF"
  ip -n "$NS" link set "$NS_IF" up
  ip -n "$NS" route add default via "$HOST_ADDR"
  # The namespace's own sysctls: the narrow port range, and TCP keepalive (per namespace too).
  ip netns exec "$NS" sysctl -q -p "$SYSCTL_FILE"
  sysctl -qw net.ipv4.ip_forward=1
  iptables -t nat -N "$NAT_CHAIN"
  # The caps, counted by the kernel on new port-21 connections (each rule counts what reaches it).
  iptables -t nat -A "$NAT_CHAIN" -m addrtype --dst-type LOCAL -p tcp --dport 21 \
    -m connlimit --connlimit-above "$MAX_PER_ADDRESS" --connlimit-mask 32 -j REDIRECT --to-ports "$REFUSE_PER_ADDRESS_PORT"
  iptables -t nat -A "$NAT_CHAIN" -m addrtype --dst-type LOCAL -p tcp --dport 21 \
    -m connlimit --connlimit-above "$MAX_SESSIONS" --connlimit-mask 0 -j REDIRECT --to-ports "$REFUSE_FULL_PORT"
  iptables -t nat -A "$NAT_CHAIN" -m addrtype --dst-type LOCAL -p tcp -m multiport --dports "$PORTS" \
    -j DNAT --to-destination "$NS_ADDR"
  iptables -t nat -A PREROUTING -j "$NAT_CHAIN"
  # Forwarding is on for this one purpose: the FTP ports into the namespace and the replies out.
  # Every other forwarded packet is dropped, so the instance routes nothing else.
  iptables -N "$FWD_CHAIN"
  iptables -A "$FWD_CHAIN" -o "$HOST_IF" -p tcp -m multiport --dports "$PORTS" -m conntrack --ctstate DNAT -j ACCEPT
  iptables -A "$FWD_CHAIN" -i "$HOST_IF" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  iptables -A "$FWD_CHAIN" -j DROP
  iptables -I FORWARD -j "$FWD_CHAIN"
  echo "nlb-ftp namespace: $NS at $NS_ADDR serves tcp ports $PORTS; local port range $(ip netns exec "$NS" sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' '-')"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: $0 [up|down]" >&2
    exit 2
    ;;
esac
