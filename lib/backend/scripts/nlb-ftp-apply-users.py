#!/usr/bin/env python3
"""nlb-ftp: apply the FTP users read on stdin, one per line:

    name<TAB>password             a plaintext password (also name<TAB>plain<TAB>password)
    name<TAB>hash<TAB>$y$...      a crypt(3) hash, stored as given

Each user becomes a local account with a stable UID (so files on the shared storage keep their
owner on every backend), a root-owned jail and a writable files/ directory. The shared storage is
the record of UIDs (UidBook): a user whose files/ exists keeps its owner; a new user claims the UID
its name has always given (20000 + cksum % 40000) or, if another name or a local account holds that
one, the next free UID above it, so two names with the same cksum both get in, with the same UIDs
on every backend. Users not on stdin lose FTP access: they drop out of the allow-list. Never
prints a password or a hash.

Only what changed is applied. A user whose entry is as last applied (an HMAC of it, keyed per
instance, is kept in STATE_DIR) and whose account is intact costs a few stat() calls: no hashing,
no process. New and changed passwords are hashed in parallel (one process per CPU) and every
account change is one locked rewrite of the account files, as shadow-utils' own tools do it.

A skipped entry is never silent: besides its line on stderr, it is a user-skipped audit event with
its reason (the stack's "FTP users skipped" alarm counts them; `npm run status` lists them).

Settings, from the environment: FTP_ROOT (default /srv/ftp), ALLOW_FILE (the PAM allow-list,
default /etc/nlb-ftp/ftp-users), NLBFTP_STATE_DIR (default /var/lib/nlb-ftp), NLBFTP_AUDIT_ENV
and NLBFTP_AUDIT_LOG (default /etc/nlb-ftp/audit.env and /var/log/nlb-ftp/audit.log).
"""

import base64
import binascii
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import secrets
import sys
import time

sys.dont_write_bytecode = True  # nothing written beside the installed tools
import nlb_ftp_event  # noqa: E402 (installed beside this script)

FTP_ROOT = os.environ.get("FTP_ROOT", "/srv/ftp")
ALLOW_FILE = os.environ.get("ALLOW_FILE", "/etc/nlb-ftp/ftp-users")
STATE_DIR = os.environ.get("NLBFTP_STATE_DIR", "/var/lib/nlb-ftp")
# Where a backend's audit trail is (the converter's settings and the file the agent ships).
AUDIT_ENV = os.environ.get("NLBFTP_AUDIT_ENV", "/etc/nlb-ftp/audit.env")
AUDIT_LOG = os.environ.get("NLBFTP_AUDIT_LOG", "/var/log/nlb-ftp/audit.log")
# Each user's SFTP public keys, one RFC 4716 file per user name (what ProFTPD's mod_sftp reads;
# lib/backend/proftpd-conf.ts SFTP_USER_KEYS_DIR, held equal by test/unit/sftp.test.ts).
KEYS_DIR = os.environ.get("NLBFTP_KEYS_DIR", "/etc/nlb-ftp/ssh-keys")
# The key types mod_sftp 1.3.8 verifies; RSA from 2048 bits.
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
ETC = "/etc"
NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
# A crypt(3) hash the server's PAM (libxcrypt) verifies: yescrypt, gost-yescrypt, scrypt, bcrypt,
# SHA-512 or SHA-256 crypt. Never ':' or a line break: they are the shadow file's separators.
HASH = re.compile(r"^\$(y|gy|7|2b|6|5)\$[./A-Za-z0-9$=,]+$")
# yescrypt at cost 3 (about 14 ms a hash on these machines; Debian's default 5 is about 60 ms).
# The hash guards nothing an attacker with root on the backend lacks: the instance role reads the
# plaintext from Secrets Manager. What the cost does buy is CPU: every login verifies it once, and
# 2,000 users hash at boot in seconds instead of minutes.
YESCRYPT_COST = 3


def log(msg):
    print("nlb-ftp users: " + msg, file=sys.stderr)


def _crc_table():
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


CRC = _crc_table()


def cksum(data):
    """POSIX cksum(1) of bytes: the CRC the UIDs have always been made from."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC[((crc >> 24) ^ b) & 0xFF]
    n = len(data)
    while n:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC[((crc >> 24) ^ (n & 0xFF)) & 0xFF]
        n >>= 8
    return (~crc) & 0xFFFFFFFF


UID_MIN, UID_SPAN = 20000, 40000


def uid_of(name):
    """The UID a name asks for first: the same on every backend (the shared storage stores numeric owners)."""
    return UID_MIN + cksum(name.encode()) % UID_SPAN


class UidBook:
    """Which user has which UID, on the shared storage every backend mounts.

    A user's files/ directory is owned by its UID; a user who has one keeps that owner (one stat()).
    A new user claims a UID with a symlink CLAIMS/<uid> -> <name>: symlink() is atomic on EFS (NFS)
    as on a local disk, so two backends can never claim one UID for two names. It tries uid_of(name)
    first, then each UID above it (wrapping in the range), skipping those another name claimed or a
    local account of the image holds (the same on every backend). Claims are never removed, so the
    probe of a name always ends at the same UID on every backend, whichever syncs first, even with
    new names added between two backends' syncs. Before the first claim of a run, the owners of
    directories made before claims existed are claimed for their users, so no new user takes them.
    """

    def __init__(self, users_dir):
        self.users_dir = users_dir
        self.claims = users_dir + "/.uids"
        self.migrated = False

    def recorded(self, name):
        try:
            uid = os.lstat("%s/%s/files" % (self.users_dir, name)).st_uid
        except FileNotFoundError:
            return None
        # Root's (a directory being made this moment) or outside the range: no record.
        return uid if UID_MIN <= uid < UID_MIN + UID_SPAN else None

    def claim(self, uid, name):
        """Whether uid is name's: claimed now, or by an earlier run or another backend."""
        link = "%s/%d" % (self.claims, uid)
        try:
            os.symlink(name, link)
            return True
        except FileExistsError:
            return os.readlink(link) == name

    def migrate(self):
        ensure_dir(self.users_dir, 0, 0, 0o755)
        ensure_dir(self.claims, 0, 0, 0o700)
        claimed = set(os.listdir(self.claims))
        for entry in sorted(os.listdir(self.users_dir)):
            uid = None if entry.startswith(".") else self.recorded(entry)
            if uid is not None and str(uid) not in claimed:
                self.claim(uid, entry)
        self.migrated = True

    def allocate(self, name, held_locally):
        """name's UID: its claim, or a new one; None if every UID in the range is held."""
        if not self.migrated:
            self.migrate()
        uid = uid_of(name)
        for _ in range(UID_SPAN):
            if held_locally(uid) is None and self.claim(uid, name):
                return uid
            uid = UID_MIN + (uid - UID_MIN + 1) % UID_SPAN
        return None


_libcrypt = None


def yescrypt(password):
    global _libcrypt
    if _libcrypt is None:
        _libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
        _libcrypt.crypt_gensalt.restype = ctypes.c_char_p
        _libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
        _libcrypt.crypt.restype = ctypes.c_char_p
        _libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = _libcrypt.crypt_gensalt(b"$y$", YESCRYPT_COST, None, 0)
    out = _libcrypt.crypt(password.encode(), salt) if salt else None
    if not out or out.startswith(b"*"):
        raise RuntimeError("libcrypt could not make a yescrypt hash")
    return out.decode()


def read_entries(stream):
    for raw in stream:
        line = raw.rstrip("\n")
        if not line:
            continue
        parts = line.split("\t", 3)
        if len(parts) == 2:
            yield parts[0], "plain", parts[1], []
        elif len(parts) in (3, 4) and parts[1] in ("plain", "hash", "none"):
            yield parts[0], parts[1], parts[2], (parts[3].split(",") if len(parts) == 4 and parts[3] else [])
        else:
            log("skipping an entry that is not name<TAB>password or name<TAB>KIND<TAB>VALUE[<TAB>KEYS]")


def key_blob(line):
    """An OpenSSH public key line ("type base64") -> (its blob, None), or (None, why it is refused)."""
    fields = line.split(" ")
    if len(fields) != 2:
        return None, "not an OpenSSH public key line (type base64 [comment])"
    kind, text = fields
    if kind not in KEY_TYPES:
        return None, "type %s is not one of %s" % (kind[:40], ", ".join(KEY_TYPES))
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None, "its key is not base64"

    def strings(data):
        out, at = [], 0
        while at + 4 <= len(data):
            n = int.from_bytes(data[at:at + 4], "big")
            out.append(data[at + 4:at + 4 + n])
            at += 4 + n
        return out if at == len(data) else None

    parts = strings(blob)
    if not parts or parts[0] != kind.encode():
        return None, "its key is not a %s key" % kind
    if kind == "ssh-rsa":
        bits = (len(parts[2]) - (1 if parts[2][:1] == b"\0" else 0)) * 8 if len(parts) == 3 else 0
        if bits < 2048:
            return None, "an RSA key of %d bits; use 2048 or more" % bits
    return blob, None


def rfc4716(name, blobs):
    """The keys as one RFC 4716 file, the format mod_sftp reads."""
    out = []
    for i, blob in enumerate(blobs):
        text = base64.b64encode(blob).decode()
        out.append("---- BEGIN SSH2 PUBLIC KEY ----")
        out.append('Comment: "nlb-ftp %s key %d"' % (name, i))
        out.extend(text[j:j + 70] for j in range(0, len(text), 70))
        out.append("---- END SSH2 PUBLIC KEY ----")
    return "\n".join(out) + "\n"


def write_keys(user_keys):
    """One file per user with public keys, written when it changed; files of other users removed."""
    os.makedirs(KEYS_DIR, 0o755, exist_ok=True)
    os.chmod(KEYS_DIR, 0o755)
    for name, text in user_keys.items():
        path = os.path.join(KEYS_DIR, name)
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    continue
        except FileNotFoundError:
            pass
        write_private(path, text, 0o644)
    for name in os.listdir(KEYS_DIR):
        if name not in user_keys and os.path.isfile(os.path.join(KEYS_DIR, name)):
            os.remove(os.path.join(KEYS_DIR, name))


class AccountFiles:
    """/etc/passwd, group, shadow and gshadow, read once and rewritten whole under lckpwdf()."""

    FILES = ("passwd", "group", "shadow", "gshadow")

    def __init__(self):
        self.lines, self.index = {}, {}
        for f in self.FILES:
            with open(os.path.join(ETC, f), encoding="utf-8") as fh:
                self.lines[f] = fh.read().splitlines()
            self.index[f] = {line.split(":", 1)[0]: i for i, line in enumerate(self.lines[f]) if line and not line.startswith("#")}
        self.changed = set()

    def field(self, f, name, k):
        i = self.index[f].get(name)
        return None if i is None else self.lines[f][i].split(":")[k]

    def append(self, f, line):
        self.index[f][line.split(":", 1)[0]] = len(self.lines[f])
        self.lines[f].append(line)
        self.changed.add(f)

    def set_field(self, f, name, k, value):
        i = self.index[f][name]
        parts = self.lines[f][i].split(":")
        parts[k] = value
        self.lines[f][i] = ":".join(parts)
        self.changed.add(f)

    def write(self):
        for f in sorted(self.changed):
            path = os.path.join(ETC, f)
            st = os.stat(path)
            tmp = path + "+nlbftp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(self.lines[f]) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, st.st_mode & 0o7777)
            os.replace(tmp, path)


def ensure_dir(path, uid, gid, mode):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, mode)
        st = os.lstat(path)
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def state_key():
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    path = os.path.join(STATE_DIR, "users.key")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key


def write_private(path, text, mode):
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def audit(applied, skips):
    """The sync as audit events (lib/shared/audit.ts): one user-skipped per skipped entry, with its
    reason, and one users-synced with the count applied, all with the same time. Written only on a
    backend (its audit.env names stack, slot, instance and server), to the file the agent ships."""
    where = nlb_ftp_event.origin(AUDIT_ENV)
    if where is None:
        return
    t = time.time()
    lines = [nlb_ftp_event.line(t, where, "user-skipped", name, ok=False, reason=reason) for name, reason in skips]
    lines.append(nlb_ftp_event.line(t, where, "users-synced", count=applied))
    nlb_ftp_event.append(AUDIT_LOG, lines)


def main():
    key = state_key()
    state_file = os.path.join(STATE_DIR, "users.json")
    try:
        with open(state_file, encoding="utf-8") as fh:
            applied_before = json.load(fh)
    except (FileNotFoundError, ValueError):
        applied_before = {}

    os.makedirs(FTP_ROOT, 0o755, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.lckpwdf() != 0:
        log("ERROR: cannot lock the account files (another user tool holds the lock); nothing applied")
        return 1
    try:
        acc = AccountFiles()
        book = UidBook(FTP_ROOT + "/users")
        uid_taken = {acc.field("passwd", n, 2): n for n in list(acc.index["passwd"])}
        gid_taken = {acc.field("group", n, 2): n for n in list(acc.index["group"])}
        allowed, applied, to_hash, skips, user_keys = [], {}, {}, [], {}
        new = password_set = 0

        def other_holder(uid, name):
            """The local account or group other than name's own that holds uid here, if any."""
            for taken in (uid_taken, gid_taken):
                if taken.get(str(uid)) not in (None, name):
                    return taken[str(uid)]
            return None

        def skip(name, reason, error=True):
            log("%sskipping %s: %s" % ("ERROR: " if error else "", name if name else "an entry", reason))
            skips.append((name, reason))

        for name, kind, value, keys in read_entries(sys.stdin):
            if not NAME.match(name):
                skip(None, "the name is not a valid Linux user name", error=False)
                continue
            if kind == "none" and not keys:
                skip(name, "it has neither a password nor public keys", error=False)
                continue
            if kind != "none" and not value:
                skip(name, "its password is empty", error=False)
                continue
            blobs, refused = [], None
            for i, line in enumerate(keys):
                blob, why = key_blob(line)
                if why:
                    refused = "publicKeys[%d]: %s" % (i, why)
                    break
                blobs.append(blob)
            if refused:
                skip(name, refused)
                continue
            if kind == "hash" and not HASH.match(value):
                skip(name, "its password hash is not a crypt(3) hash ($y$, $gy$, $7$, $2b$, $6$ or $5$)")
                continue
            # An account of that name that nlb-ftp did not make (root, ec2-user, any system account
            # or one added to the image later) is never given a password or FTP access.
            existing = acc.field("passwd", name, 2)
            home = "%s/users/%s/./files" % (FTP_ROOT, name)
            if existing is not None and acc.field("passwd", name, 5) != home:
                skip(name, "an account of that name already exists (UID %s) that nlb-ftp did not create" % existing)
                continue
            # A group of that name that is not the user's own (users, wheel, video...).
            gid = acc.field("group", name, 2)
            if gid is not None and gid != existing:
                skip(name, "a group of that name already exists (GID %s); rename the user" % gid)
                continue
            uid = book.recorded(name)
            if uid is None:
                uid = book.allocate(name, lambda u: other_holder(u, name))
                if uid is None:
                    skip(name, "every UID from %d to %d is taken" % (UID_MIN, UID_MIN + UID_SPAN - 1))
                    continue
            if existing is not None and existing != str(uid):
                skip(name, "its account has UID %s here but its files are owned by UID %d on the shared storage" % (existing, uid))
                continue
            if existing is None:
                if other_holder(uid, name) is not None:
                    skip(name, "its files' UID %d on the shared storage is held by another account here" % uid)
                    continue
                if gid is None:
                    acc.append("group", "%s:x:%d:" % (name, uid))
                    acc.append("gshadow", "%s:!::" % name)
                acc.append("passwd", "%s:x:%d:%d::%s:/usr/sbin/nologin" % (name, uid, uid, home))
                acc.append("shadow", "%s:!:%d:0:99999:7:::" % (name, int(time.time() // 86400)))
                uid_taken[str(uid)] = gid_taken[str(uid)] = name
                new += 1
            ensure_dir(FTP_ROOT + "/users", 0, 0, 0o755)
            ensure_dir("%s/users/%s" % (FTP_ROOT, name), 0, 0, 0o755)
            ensure_dir("%s/users/%s/files" % (FTP_ROOT, name), uid, uid, 0o750)
            mark = hmac.new(key, ("%s\0%s" % (kind, value)).encode(), hashlib.sha256).hexdigest()
            current = acc.field("shadow", name, 1) or "!"
            if blobs:
                user_keys[name] = rfc4716(name, blobs)
            if kind == "none":
                # Public keys only: the password stays locked, so FTP (passwords) never lets it in.
                if current != "!":
                    acc.set_field("shadow", name, 1, "!")
            elif existing is None or applied_before.get(name) != mark or current.startswith(("!", "*")) or not current:
                password_set += 1
                if kind == "hash":
                    acc.set_field("shadow", name, 1, value)
                else:
                    to_hash[name] = value
            applied[name] = mark
            allowed.append(name)
        if to_hash:
            names = list(to_hash)
            workers = min(len(names), len(os.sched_getaffinity(0)))
            if workers > 1:
                with multiprocessing.Pool(workers) as pool:
                    hashes = pool.map(yescrypt, [to_hash[n] for n in names], chunksize=16)
            else:
                hashes = [yescrypt(to_hash[n]) for n in names]
            today = str(int(time.time() // 86400))
            for n, h in zip(names, hashes):
                acc.set_field("shadow", n, 1, h)
                acc.set_field("shadow", n, 2, today)
        acc.write()
    finally:
        libc.ulckpwdf()

    os.makedirs(os.path.dirname(ALLOW_FILE) or ".", exist_ok=True)
    write_private(ALLOW_FILE, "".join(n + "\n" for n in allowed), 0o644)
    write_keys(user_keys)
    write_private(state_file, json.dumps(applied, sort_keys=True), 0o600)
    audit(len(allowed), skips)
    print(
        "nlb-ftp users: %d FTP user(s) applied: %d new, %d password(s) set, %d unchanged, %d with SFTP public keys; %d skipped"
        % (len(allowed), new, password_set, len(allowed) - password_set, len(user_keys), len(skips))
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--uid-of"]:
        print(uid_of(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
