#!/usr/bin/env python3
"""nlb-ftp audit: turn the FTP server's log lines into one JSON event per action.

The server writes into a FIFO that only this program reads, so no raw server line is ever kept
on disk; this program appends JSON lines to --out, which the CloudWatch agent ships. A user name
is written only if it is on the FTP allow-list: a password typed as a user name goes nowhere.
The schema is lib/shared/audit.ts. Raw lines are never printed, not even when they do not parse.
"""
import argparse, os, re, select, signal, socket, sys, time

sys.dont_write_bytecode = True  # nothing written beside the installed tools
import nlb_ftp_event  # noqa: E402 (installed beside this script)

p = argparse.ArgumentParser()
for flag in ("server", "fifo", "out", "allow-file", "stack", "slot", "instance"):
    p.add_argument("--" + flag, required=True)
args = p.parse_args()
ORIGIN = {"STACK": args.stack, "SLOT": args.slot, "INSTANCE": args.instance, "SERVER": args.server}

VSFTPD = re.compile(
    r'^(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}) \[pid (\d+)\] (?:\[(.*)\] )?(OK|FAIL) '
    r'(LOGIN|UPLOAD|DOWNLOAD|DELETE|RENAME|MKDIR|RMDIR): Client "([^"]*)"'
    r'(?:, "(.*?)")?(?:, (\d+) bytes, ([\d.]+)Kbyte/sec)?$')
VSFTPD_KIND = {"UPLOAD": ("upload", "STOR"), "DOWNLOAD": ("download", "RETR"), "DELETE": ("delete", "DELE"),
               "RENAME": ("rename", "RNTO"), "MKDIR": ("mkdir", "MKD"), "RMDIR": ("rmdir", "RMD")}
PROFTPD_KIND = {"STOR": "upload", "APPE": "upload", "STOU": "upload", "RETR": "download", "DELE": "delete",
                "RNTO": "rename", "MKD": "mkdir", "XMKD": "mkdir", "RMD": "rmdir", "XRMD": "rmdir"}

allowed, allowed_mtime = set(), None
sessions = {}  # session process -> {"user", "ip", "port", "start", "bytes"}
children = {}  # vsftpd: a session's unprivileged process -> its session process, learnt while it lived
out = None
unparsed = 0


def known(name):
    """The name if it is an FTP user now (the allow-list is re-read when it changes), else None."""
    global allowed, allowed_mtime
    try:
        mtime = os.stat(args.allow_file).st_mtime
        if mtime != allowed_mtime:
            with open(args.allow_file) as f:
                allowed, allowed_mtime = {l.strip() for l in f if l.strip()}, mtime
    except OSError:
        pass
    return name if name in allowed else None


def reopen(*_):
    """Open --out (again, after logrotate's SIGHUP)."""
    global out
    if out:
        out.close()
    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    out = os.fdopen(fd, "a", buffering=1)


def emit(t, event, user, ip, port, command, path=None, from_path=None, nbytes=None, ms=None, ok=True, code=None, proto=None):
    out.write(nlb_ftp_event.line(t, ORIGIN, event, user, ip, port, command, path, from_path, nbytes, ms, ok, code, proto))


def end_session(key, t):
    s = sessions.pop(key)
    for child in [c for c, k in children.items() if k == key]:
        del children[child]
    emit(t, "session-end", s["user"], s["ip"], s["port"], None, nbytes=s["bytes"], ms=int(round((t - s["start"]) * 1000)),
         proto=s.get("proto"))


def parent_of(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return None


def vsftpd_session_of(pid, user, ip):
    """The session a vsftpd line belongs to. vsftpd logs a login from the session's privileged
    process and a transfer from its unprivileged child, so the child is looked up in /proc. On a
    busy machine the line can be read after the child has exited; then the session is the open one
    of the same user and address whose process is the child's nearest older one (vsftpd forks the
    child at login, so the child's pid follows its parent's)."""
    if pid in sessions:
        return pid
    if pid in children:
        return children[pid]
    parent = parent_of(pid)
    if parent in sessions:
        children[pid] = parent
        return parent
    older = [k for k, s in sessions.items() if s["user"] == user and s["ip"] == ip and int(k) < int(pid)]
    return max(older, key=int) if older else None


def vsftpd_line(line):
    m = VSFTPD.match(line)
    if not m:
        return " CONNECT: Client " in line  # a connection before login: no event of its own
    stamp, pid, name, status, what, ip, arg, nbytes, rate = m.groups()
    t, ok, user = time.mktime(time.strptime(stamp, "%a %b %d %H:%M:%S %Y")), status == "OK", known(name)
    if what == "LOGIN":
        emit(t, "login" if ok else "login-failed", user, ip, None, "PASS", ok=ok)
        if ok:  # the privileged process that logged this line lives as long as the session
            sessions[pid] = {"user": user, "ip": ip, "port": None, "start": t, "bytes": 0}
        return True
    event, command = VSFTPD_KIND[what]
    key = vsftpd_session_of(pid, user, ip)
    n = int(nbytes) if nbytes else None
    if key in sessions and n:
        sessions[key]["bytes"] += n
    ms = int(round(n / (float(rate) * 1024) * 1000)) if n is not None and rate and float(rate) > 0 else (0 if n is not None else None)
    path, from_path = arg, None
    if event == "rename" and arg and " /" in arg:  # vsftpd logs "old new"; both are absolute
        from_path, path = arg.split(" /", 1)
        path = "/" + path
    emit(t, event, user, ip, None, command, path, from_path, n, ms, ok)
    return True


def proftpd_line(line):
    f = line.split("\t")
    if len(f) != 13:
        return False
    stamp, pid, ip, port, user_in, name, command, code, path, from_path, nbytes, ms, proto = [None if v == "-" else v for v in f]
    # mod_sftp names the SSH phase of a session (its logins, its end) ssh2 and its file operations
    # sftp: one SFTP session, which is all that port serves.
    if proto == "ssh2":
        proto = "sftp"
    t, port = float(stamp), int(port) if port else None
    code = int(code) if code and code.isdigit() else None
    ok = code is not None and code < 400
    if command == "EXIT":
        if pid in sessions:
            end_session(pid, t)
        return True
    if command in ("PASS", "USER"):
        if command == "PASS" and ok:
            user = known(user_in or name)
            emit(t, "login", user, ip, port, "PASS", code=code, proto=proto)
            sessions[pid] = {"user": user, "ip": ip, "port": port, "start": t, "bytes": 0, "proto": proto}
        elif code is not None and code >= 500:  # 530 after PASS, or a USER refused at once
            emit(t, "login-failed", known(name), ip, port, command, ok=False, code=code, proto=proto)
        return True
    event = PROFTPD_KIND.get(command)
    if event is None:
        return True  # RNFR, SITE and the like: the next line (RNTO...) is the event
    n = int(nbytes) if nbytes and event in ("upload", "download") else None
    if pid in sessions and n:
        sessions[pid]["bytes"] += n
    emit(t, event, known(user_in), ip, port, command, path, from_path if event == "rename" else None, n,
         int(ms) if ms and n is not None else None, ok, code, proto)
    return True


def reap_vsftpd_sessions(drain):
    """End the sessions whose process has exited. Every line a session wrote was written before it
    exited, so once its exit is seen, draining the FIFO brings all of them in before its end."""
    over = [k for k in sessions if not os.path.exists("/proc/" + k)]
    if over:
        drain()
    for key in over:
        if key in sessions:
            end_session(key, time.time())


def notify_ready():
    """Tell systemd (Type=notify) that the FIFO has its reader: only then does the server start."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if addr:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect("\0" + addr[1:] if addr.startswith("@") else addr)
            s.sendall(b"READY=1")


def main():
    reopen()
    signal.signal(signal.SIGHUP, reopen)
    # Read and write: the FIFO always has a reader while this runs, and never reports end of file.
    fd = os.open(args.fifo, os.O_RDWR)
    notify_ready()
    handle = vsftpd_line if args.server == "vsftpd" else proftpd_line
    buf = b""

    def pump(timeout):
        """Read what the FIFO has (waiting up to timeout for it) and handle every whole line."""
        global unparsed
        nonlocal buf
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return False
        buf += os.read(fd, 65536)
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            try:
                understood = handle(raw.decode("utf-8", "replace"))
            except (ValueError, KeyError):
                understood = False
            if not understood:
                unparsed += 1
                print("nlb-ftp audit: %d line(s) not understood so far (never printed)" % unparsed, file=sys.stderr)
        return True

    def drain():
        while pump(0):
            pass

    while True:
        pump(1.0)
        if args.server == "vsftpd":
            reap_vsftpd_sessions(drain)


if __name__ == "__main__":
    main()
