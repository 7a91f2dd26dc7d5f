"""One audit event as one JSON line: lib/shared/audit.ts's schema, every field, in its order.

nlb-ftp-audit (the server's logins and transfers), nlb-ftp-bans (bans) and nlb-ftp-apply-users
(the users sync) all write through here, so the three cannot drift apart. The boot installs this
file beside them in /usr/local/sbin (Python finds a script's neighbours first).
"""
import json
import os
import time

AUDIT_ENV = "/etc/nlb-ftp/audit.env"


def origin(env_file=AUDIT_ENV):
    """The backend's STACK, SLOT, INSTANCE and SERVER (the boot writes them), or None off a backend."""
    try:
        with open(env_file, encoding="utf-8") as fh:
            return dict(line.strip().split("=", 1) for line in fh if "=" in line)
    except FileNotFoundError:
        return None


def line(t, where, event, user=None, client_ip=None, client_port=None, command=None, path=None, from_path=None,
         nbytes=None, ms=None, ok=True, code=None, protocol=None, reason=None, count=None):
    """The event at time t (seconds since the epoch), from the backend `where` describes (origin())."""
    stamp = int(round(t * 1000))
    return json.dumps({
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp // 1000)) + ".%03dZ" % (stamp % 1000),
        "event": event, "stack": where.get("STACK"), "slot": int(where.get("SLOT") or 0),
        "instance": where.get("INSTANCE"), "server": where.get("SERVER"), "user": user, "clientIp": client_ip,
        "clientPort": client_port, "command": command, "path": path, "fromPath": from_path, "bytes": nbytes,
        "durationMs": ms, "result": "ok" if ok else "fail", "code": code, "protocol": protocol, "reason": reason,
        "count": count,
    }, separators=(",", ":")) + "\n"


def append(log_file, lines):
    """Append whole lines to the audit log the CloudWatch agent ships (made 0640 if new)."""
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))
