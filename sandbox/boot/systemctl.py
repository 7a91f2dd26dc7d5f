#!/usr/bin/env python3
"""The sandbox's stand-in for systemctl, inside a booted backend's Debian 13 root.

systemd cannot be PID 1 here (Debian 13's systemd needs cgroup v2; these machines have v1), so
this runs the units the boot script writes, the way systemd would for what the boot uses:

- unit files from /etc/systemd/system, /usr/lib/systemd/system and /lib/systemd/system, with
  drop-ins from NAME.d/*.conf, where an empty assignment (ExecStart=) clears the list;
- Requires=/Wants= started first; Environment=, EnvironmentFile= (- for optional);
  RuntimeDirectory=; ExecStartPre= (- ignores failure); NetworkNamespacePath= (setns);
- Type=oneshot (runs to its end), simple (runs in the background), notify (waits for READY=1 on
  NOTIFY_SOCKET), forking (waits for the starter to exit); Restart=always/on-failure with RestartSec;
- KillMode=process: stop and restart signal the main process only, as the boot's units ask, and
  stop waits for it to exit (up to 10 s) before returning, as systemd does;
- timers are recorded as enabled but not run (the sandbox runs no 5-minute sync).

Commands: daemon-reload, enable [--now], disable [--now], start, stop, restart, try-restart,
is-active, kill -s SIGNAL. Anything else exits 0 and says so. Service output goes to
/var/log/nlb-ftp-sandbox/UNIT.log (the journal's stand-in). Never used on EC2.
"""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time

STATE = "/run/nlb-ftp-sandbox/systemctl"
LOGS = "/var/log/nlb-ftp-sandbox"
UNIT_DIRS = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"]
LISTS = {"ExecStart", "ExecStartPre", "ExecStop", "Environment", "EnvironmentFile", "Requires", "Wants", "After"}


def say(message):
    print("systemctl (sandbox stand-in): " + message, file=sys.stderr)


def unit_name(name):
    return name if "." in name else name + ".service"


def load(name):
    """The unit's settings: {key: value} with lists for LISTS, or None when no file defines it."""
    files = []
    for d in UNIT_DIRS:
        if os.path.isfile(os.path.join(d, name)):
            files.append(os.path.join(d, name))
            break
    dropins = []
    for d in UNIT_DIRS:
        dd = os.path.join(d, name + ".d")
        if os.path.isdir(dd):
            dropins += [os.path.join(dd, f) for f in sorted(os.listdir(dd)) if f.endswith(".conf")]
    if not files and not dropins:
        return None
    unit = {k: [] for k in LISTS}
    for path in files + dropins:
        for raw in open(path, encoding="utf-8"):
            line = raw.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            key, value = (x.strip() for x in line.split("=", 1))
            if key in LISTS:
                if value == "":
                    unit[key] = []
                elif key in ("Requires", "Wants", "After"):
                    unit[key] += value.split()
                else:
                    unit[key].append(value)
            else:
                unit[key] = value
    return unit


def state_file(name, kind):
    return os.path.join(STATE, name + "." + kind)


def live_pid(name, kind):
    """The PID recorded in the unit's `kind` state file, if that process still runs."""
    try:
        pid = int(open(state_file(name, kind)).read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def main_pid(name):
    return live_pid(name, "pid")


def supervisor_pid(name):
    return live_pid(name, "supervisor")


def is_active(name):
    if name.endswith(".timer"):
        return os.path.exists(state_file(name, "enabled"))
    if os.path.exists(state_file(name, "oneshot-active")):
        return True
    return main_pid(name) is not None or supervisor_pid(name) is not None


def environment(unit):
    env = dict(os.environ)
    for line in unit["EnvironmentFile"]:
        optional = line.startswith("-")
        path = line.lstrip("-")
        try:
            for raw in open(path, encoding="utf-8"):
                raw = raw.strip()
                if raw and not raw.startswith("#") and "=" in raw:
                    k, v = raw.split("=", 1)
                    env[k] = v.strip('"')
        except OSError:
            if not optional:
                raise
    for line in unit["Environment"]:
        for word in shlex.split(line):
            k, v = word.split("=", 1)
            env[k] = v
    return env


def expand(command, env):
    """systemd's $VAR and ${VAR} expansion in command lines, then word splitting."""
    words = []
    for word in shlex.split(command):
        for k in sorted(env, key=len, reverse=True):
            word = word.replace("${" + k + "}", env[k])
            if word == "$" + k:
                word = env[k]
        words.append(word)
    return [w for w in words if w != ""]


def preexec(unit):
    ns = unit.get("NetworkNamespacePath")

    def enter():
        os.setsid()
        if ns:
            fd = os.open(ns, os.O_RDONLY)
            os.setns(fd, os.CLONE_NEWNET)
            os.close(fd)

    return enter


def run_sync(name, unit, command, env, log):
    ignore = command.startswith("-")
    argv = expand(command.lstrip("-@+!"), env)
    rc = subprocess.call(argv, env=env, stdout=log, stderr=log, preexec_fn=preexec(unit))
    if rc != 0 and not ignore:
        say("%s: %s exited %d" % (name, argv[0], rc))
        return False
    return True


def notify_socket(name):
    path = os.path.join(STATE, name + ".notify")
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock, path


def supervise(name, unit, env, log):
    """The forked supervisor of a simple/notify service: runs it, restarts it as Restart= says."""
    restart = unit.get("Restart", "no")
    delay = float(unit.get("RestartSec", "0.1").rstrip("s") or 0.1)
    stopping = {"now": False}

    def on_term(signum, frame):
        stopping["now"] = True
        pid = main_pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    first = True
    while True:
        if not first:
            for pre in unit["ExecStartPre"]:
                run_sync(name, unit, pre, env, log)
        first = False
        argv = expand(unit["ExecStart"][-1].lstrip("-@+!"), env)
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, preexec_fn=preexec(unit))
        open(state_file(name, "pid"), "w").write(str(proc.pid))
        rc = proc.wait()
        if stopping["now"] or restart == "no" or (restart == "on-failure" and rc == 0):
            break
        print("systemctl (sandbox stand-in): %s exited %d; restarting in %.1f s" % (name, rc, delay), file=log, flush=True)
        time.sleep(delay)
    for kind in ("pid", "supervisor"):
        try:
            os.unlink(state_file(name, kind))
        except OSError:
            pass
    os._exit(0)


def start(name, seen=None):
    seen = seen if seen is not None else set()
    if name in seen:
        return True
    seen.add(name)
    if name.endswith(".timer"):
        open(state_file(name, "enabled"), "w").close()
        say("%s: enabled; the sandbox does not run timers" % name)
        return True
    if not name.endswith(".service"):
        return True
    unit = load(name)
    if unit is None:
        say("Unit %s not found." % name)
        return False
    for dep in unit["Requires"] + unit["Wants"]:
        ok = start(unit_name(dep), seen)
        if not ok and dep in unit["Requires"]:
            return False
    if is_active(name):
        return True
    env = environment(unit)
    for d in unit.get("RuntimeDirectory", "").split():
        os.makedirs(os.path.join("/run", d), mode=0o755, exist_ok=True)
    log = open(os.path.join(LOGS, name + ".log"), "a")
    for pre in unit["ExecStartPre"]:
        if not run_sync(name, unit, pre, env, log):
            return False
    kind = unit.get("Type", "simple")
    if kind == "oneshot":
        for command in unit["ExecStart"]:
            if not run_sync(name, unit, command, env, log):
                return False
        if unit.get("RemainAfterExit", "no") in ("yes", "true", "1"):
            open(state_file(name, "oneshot-active"), "w").close()
        return True
    if kind == "forking":
        if not run_sync(name, unit, unit["ExecStart"][-1], env, log):
            return False
        pidfile = unit.get("PIDFile")
        for _ in range(50):
            if pidfile and os.path.exists(pidfile):
                open(state_file(name, "pid"), "w").write(open(pidfile).read().strip())
                return True
            time.sleep(0.1)
        return pidfile is None
    sock = path = None
    if kind == "notify":
        sock, path = notify_socket(name)
        env["NOTIFY_SOCKET"] = path
    pid = os.fork()
    if pid == 0:
        if sock:
            sock.close()
        os.setsid()
        # Never hold the caller's stdout: the boot's output pipe must close when the boot ends.
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        supervise(name, unit, env, log)
    open(state_file(name, "supervisor"), "w").write(str(pid))
    if sock:
        sock.settimeout(30)
        try:
            while b"READY=1" not in sock.recv(4096):
                pass
        except socket.timeout:
            say("%s: no READY=1 in 30 s" % name)
            return False
        finally:
            sock.close()
            os.unlink(path)
        return True
    for _ in range(20):
        if main_pid(name):
            return True
        time.sleep(0.05)
    return main_pid(name) is not None


def stop(name):
    unit = load(name) or {k: [] for k in LISTS}
    sup = supervisor_pid(name)
    if sup:
        os.kill(sup, signal.SIGTERM)
        for _ in range(100):
            if supervisor_pid(name) is None:
                break
            time.sleep(0.05)
    else:
        pid = main_pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
            # As systemd does (TimeoutStopSec): stop returns once the main process is gone, so a
            # restart never starts the new one while the old one still holds its port and PID file.
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.05)
    if os.path.exists(state_file(name, "oneshot-active")):
        env = environment(unit)
        log = open(os.path.join(LOGS, name + ".log"), "a")
        for command in unit["ExecStop"]:
            run_sync(name, unit, command, env, log)
        os.unlink(state_file(name, "oneshot-active"))
    for kind in ("pid", "supervisor"):
        try:
            os.unlink(state_file(name, kind))
        except OSError:
            pass
    return True


def main(argv):
    os.makedirs(STATE, exist_ok=True)
    os.makedirs(LOGS, exist_ok=True)
    args = [a for a in argv if not a.startswith("--") or a == "--now"]
    now = "--now" in args
    args = [a for a in args if a != "--now" and a not in ("-q", "--quiet", "--no-block", "--system")]
    if not args:
        say("no command")
        return 1
    command, units = args[0], [unit_name(u) for u in args[1:]]
    if command == "daemon-reload":
        return 0
    if command == "kill":
        rest, sig = args[1:], signal.SIGTERM
        if rest[:1] == ["-s"] and len(rest) > 1:
            sig = getattr(signal, "SIG" + rest[1].upper().removeprefix("SIG"))
            rest = rest[2:]
        for name in (unit_name(u) for u in rest):
            pid = main_pid(name)
            if pid:
                os.kill(pid, sig)
        return 0
    ok = True
    for name in units:
        if command == "enable":
            open(state_file(name, "enabled"), "w").close()
            ok = (start(name) if now else True) and ok
        elif command == "disable":
            try:
                os.unlink(state_file(name, "enabled"))
            except OSError:
                pass
            if now:
                stop(name)
        elif command == "start":
            ok = start(name) and ok
        elif command == "stop":
            stop(name)
        elif command in ("restart", "try-restart"):
            if command == "try-restart" and not is_active(name):
                continue
            stop(name)
            ok = start(name) and ok
        elif command == "is-active":
            active = is_active(name)
            print("active" if active else "inactive")
            ok = ok and active
        else:
            say("%s: not a command this stand-in runs; nothing done" % command)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
