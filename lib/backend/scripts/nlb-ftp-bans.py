#!/usr/bin/env python3
"""nlb-ftp bans: refuse, on every backend, a client address that keeps failing to log in.

A server's own limit (MaxLoginAttempts, max_login_fails) ends one session, and the attacker
reconnects, to any backend the NLB picks. This agent runs on every backend. Every BAN_SYNC_SECONDS:

1. it reads the failed logins the audit converter wrote since its last look (the audit log, whose
   clientIp the NLB preserves), and adds them to the address's counter for this minute in the bans
   table (DynamoDB, shared by every backend);
2. for each such address it sums the counters of the last BAN_WINDOW_SECONDS over all backends,
   and at BAN_FAILURES or more writes a ban until now + BAN_SECONDS. The write is conditional, so
   one backend decides each ban and writes its `ban` audit event;
3. it reads every ban (one Query) and makes the firewall chain NLBFTP-BANS hold exactly the active
   ones: TCP from them is answered with a reset, in INPUT (vsftpd) and FORWARD (ProFTPD's own
   namespace), on every port.

Addresses in BAN_EXEMPT (the VPC, where the health checker and the NLB's health checks come from,
and neverBanCidrs) are never counted and never banned. When the table cannot be reached the agent
fails open: it keeps each ban it has until that ban's end, bans nothing new, and says so on stderr
once per outage. The table's items are lib/shared/bans.ts's. AWS calls are signed by curl with the
instance role's credentials (aws-curl.sh's role_config), as the users sync makes them.

Its state (how far it has read the audit log, the bans in force, the bans it decided) is kept in
NLBFTP_STATE_DIR/bans.json after every round, so a restarted agent neither counts a failure twice
nor loses one, and fails open from what it knew.

Environment (tests): NLBFTP_SETTINGS_JSON, NLBFTP_AUDIT_LOG, NLBFTP_AUDIT_ENV, NLBFTP_STATE_DIR,
NLBFTP_LIB, NLBFTP_BANS_ONCE=1 (one round, then exit).
"""
import ipaddress
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # nothing written beside the installed tools
import nlb_ftp_event  # noqa: E402 (installed beside this script)

SETTINGS = os.environ.get("NLBFTP_SETTINGS_JSON", "/etc/nlb-ftp/settings.json")
AUDIT_LOG = os.environ.get("NLBFTP_AUDIT_LOG", "/var/log/nlb-ftp/audit.log")
AUDIT_ENV = os.environ.get("NLBFTP_AUDIT_ENV", "/etc/nlb-ftp/audit.env")
LIB = os.environ.get("NLBFTP_LIB", "/usr/local/lib/nlb-ftp")
STATE_DIR = os.environ.get("NLBFTP_STATE_DIR", "/var/lib/nlb-ftp")
CHAIN = "NLBFTP-BANS"
BAN_PARTITION = "ban"
CREDENTIALS_SECONDS = 300


def log(message):
    sys.stderr.write("nlb-ftp bans: %s\n" % message)
    sys.stderr.flush()


class Settings:
    def __init__(self, env):
        self.table = str(env["BAN_TABLE"])
        self.failures = int(env["BAN_FAILURES"])
        self.window = int(env["BAN_WINDOW_SECONDS"])
        self.ban_seconds = int(env["BAN_SECONDS"])
        self.sync = int(env["BAN_SYNC_SECONDS"])
        self.exempt = [ipaddress.ip_network(c) for c in str(env.get("BAN_EXEMPT", "")).split()]
        self.region = str(env["REGION"])
        self.url_suffix = str(env["URL_SUFFIX"])
        self.slot = int(env["SLOT"])

    def exempted(self, address):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True  # not an address: nothing to ban
        return any(ip in net for net in self.exempt)


class Store:
    """The bans table over DynamoDB's JSON API, signed by curl as the instance role."""

    def __init__(self, s):
        self.s = s
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL") or "https://dynamodb.%s.%s" % (s.region, s.url_suffix)
        self.config, self.config_at = None, 0.0

    def credentials(self):
        if self.config is None or time.time() - self.config_at > CREDENTIALS_SECONDS:
            out = subprocess.run(["bash", "-c", '. "$1/aws-curl.sh" && role_config', "_", LIB],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise RuntimeError("cannot read the instance role's credentials from IMDS")
            self.config, self.config_at = out.stdout, time.time()
        return self.config

    def call(self, action, body):
        body = dict(body, TableName=self.s.table)
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-K", "-", "--aws-sigv4", "aws:amz:%s:dynamodb" % self.s.region,
             "-H", "X-Amz-Target: DynamoDB_20120810." + action, "-H", "Content-Type: application/x-amz-json-1.0",
             "--data-binary", json.dumps(body), "-w", "\n%{http_code}", self.endpoint + "/"],
            input=self.credentials(), capture_output=True, text=True, timeout=30)
        text, _, code = out.stdout.rpartition("\n")
        if out.returncode != 0 or not code.startswith("2"):
            answer = json.loads(text) if text.startswith("{") else {}
            kind = str(answer.get("__type", "")).split("#")[-1] or ("HTTP %s" % code if code else "curl exit %d" % out.returncode)
            if kind in ("ExpiredTokenException", "UnrecognizedClientException"):
                self.config = None
            raise StoreError(action, kind, answer.get("message") or answer.get("Message") or out.stderr.strip())
        return json.loads(text or "{}")

    def add_failures(self, address, count, now):
        minute = now - now % 60
        self.call("UpdateItem", {
            "Key": {"pk": {"S": "fail#" + address}, "sk": {"S": "%010d" % minute}},
            "UpdateExpression": "ADD failures :n SET expiresAt = :exp",
            "ExpressionAttributeValues": {":n": {"N": str(count)}, ":exp": {"N": str(minute + self.s.window + 60)}},
        })

    def failures_since(self, address, since):
        out = self.call("Query", {
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {":pk": {"S": "fail#" + address}, ":since": {"S": "%010d" % (since - since % 60)}},
        })
        return sum(int(i.get("failures", {}).get("N", "0")) for i in out.get("Items", []))

    def ban(self, address, failures, now):
        """The ban, unless an active one is there: True when this backend decided it."""
        ends = now + self.s.ban_seconds
        try:
            self.call("PutItem", {
                "Item": {"pk": {"S": BAN_PARTITION}, "sk": {"S": address}, "endsAt": {"N": str(ends)},
                         "failures": {"N": str(failures)}, "slot": {"N": str(self.s.slot)}, "expiresAt": {"N": str(ends)}},
                "ConditionExpression": "attribute_not_exists(pk) OR endsAt < :now",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            })
            return True
        except StoreError as e:
            if e.kind == "ConditionalCheckFailedException":
                return False
            raise

    def bans(self, now):
        """Active bans: address -> (end, slot that decided it)."""
        out = self.call("Query", {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": BAN_PARTITION}},
        })
        active = {}
        for i in out.get("Items", []):
            ends = int(i.get("endsAt", {}).get("N", "0"))
            if ends > now:
                active[i["sk"]["S"]] = (ends, int(i.get("slot", {}).get("N", "-1")))
        return active


class StoreError(Exception):
    def __init__(self, action, kind, message):
        super().__init__("%s: %s %s" % (action, kind, message))
        self.kind = kind


class Audit:
    """Failed logins in from the audit log; ban and unban events out to it."""

    def __init__(self, offset=None, inode=None):
        self.offset, self.inode = offset, inode
        self.origin = nlb_ftp_event.origin(AUDIT_ENV) or {}

    def failed_logins(self):
        """Addresses -> failed logins since the last call (the first call starts at the end)."""
        counts = {}
        try:
            st = os.stat(AUDIT_LOG)
        except FileNotFoundError:
            return counts
        if self.inode != st.st_ino or (self.offset or 0) > st.st_size:
            # A new file (first look, or rotated): start at its end the first time, else read it whole.
            self.offset = st.st_size if self.inode is None else 0
            self.inode = st.st_ino
        with open(AUDIT_LOG, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next round
        self.offset += end
        for line in data[:end].splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == "login-failed" and e.get("clientIp"):
                counts[e["clientIp"]] = counts.get(e["clientIp"], 0) + 1
        return counts

    def write(self, kind, address, reason, count=None):
        nlb_ftp_event.append(AUDIT_LOG, [nlb_ftp_event.line(time.time(), self.origin, kind, client_ip=address,
                                                            reason=reason, count=count)])


def firewall(addresses):
    """The chain holds exactly these addresses (one atomic iptables-restore; other chains untouched)."""
    rules = "".join("-A %s -s %s/32 -p tcp -j REJECT --reject-with tcp-reset\n" % (CHAIN, a) for a in sorted(addresses))
    subprocess.run(["iptables-restore", "--noflush"], input="*filter\n:%s - [0:0]\n%sCOMMIT\n" % (CHAIN, rules),
                   text=True, check=True, timeout=30)


def ensure_chain():
    """The chain exists and is the first rule of INPUT and FORWARD: ProFTPD's namespace script
    inserts its own FORWARD chain first when it starts, and that one accepts the FTP ports."""
    subprocess.run(["iptables", "-N", CHAIN], capture_output=True)
    jump = ["-p", "tcp", "-j", CHAIN]
    for hook in ("INPUT", "FORWARD"):
        rules = subprocess.run(["iptables", "-S", hook], capture_output=True, text=True, check=True).stdout.splitlines()
        if len(rules) > 1 and rules[1] == "-A %s %s" % (hook, " ".join(jump)):
            continue
        while subprocess.run(["iptables", "-D", hook] + jump, capture_output=True).returncode == 0:
            pass
        subprocess.run(["iptables", "-I", hook, "1"] + jump, check=True)


def load_state():
    try:
        with open(os.path.join(STATE_DIR, "bans.json"), encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}


def save_state(state):
    os.makedirs(STATE_DIR, 0o700, exist_ok=True)
    path = os.path.join(STATE_DIR, "bans.json")
    with open(path + ".new", "w", encoding="utf-8") as fh:
        json.dump(state, fh)
    os.replace(path + ".new", path)


def main():
    with open(SETTINGS, encoding="utf-8") as fh:
        s = Settings(json.load(fh)["env"])
    state = load_state()
    store, audit = Store(s), Audit(state.get("offset"), state.get("inode"))
    applied = state.get("applied", {})  # address -> end (epoch seconds): what the chain holds
    decided = state.get("decided", {})  # address -> end: bans this backend decided (it writes their unban events)
    ensure_chain()
    firewall(applied)
    outage = state.get("outage", False)
    log("counting failed logins; %d in %d s ban an address for %d s; synced every %d s; never banned: %s"
        % (s.failures, s.window, s.ban_seconds, s.sync, " ".join(str(n) for n in s.exempt) or "none"))
    while True:
        now = int(time.time())
        counts = {a: n for a, n in audit.failed_logins().items() if not s.exempted(a)}
        try:
            for address, n in sorted(counts.items()):
                store.add_failures(address, n, now)
                total = store.failures_since(address, now - s.window)
                if total >= s.failures and address not in applied and store.ban(address, total, now):
                    decided[address] = now + s.ban_seconds
                    audit.write("ban", address, "%d failed logins in %d min over all backends; banned for %d min"
                                % (total, s.window // 60, s.ban_seconds // 60), total)
                    log("banned %s: %d failed logins in %d s" % (address, total, s.window))
            active = {a: ends for a, (ends, _) in store.bans(now).items() if not s.exempted(a)}
            if outage:
                log("the bans table answers again")
            outage = False
        except (StoreError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
            if not outage:
                log("cannot reach the bans table (%s); failing open: bans in force stay until they end, none is added" % e)
            outage = True
            active = {a: ends for a, ends in applied.items() if ends > now}
        for address, ends in list(decided.items()):
            if address not in active:
                audit.write("unban", address, "expired" if now >= ends else "lifted before its end (npm run unban)")
                del decided[address]
        ensure_chain()
        if set(active) != set(applied):
            firewall(active)
            log("%d address(es) banned" % len(active))
        applied = active
        save_state({"offset": audit.offset, "inode": audit.inode, "applied": applied, "decided": decided, "outage": outage})
        if os.environ.get("NLBFTP_BANS_ONCE") == "1":
            return
        time.sleep(max(1, s.sync - (time.time() - now)))


if __name__ == "__main__":
    main()
