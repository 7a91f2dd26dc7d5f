#!/usr/bin/env python3
"""nlb-ftp: turn a Secrets Manager secret (read on stdin) into what the sync applies.

  users        the users secret {"name": "password" or {"passwordHash": "$y$..."} or
               {"password" or "passwordHash" (either optional with keys), "publicKeys": [...]}, ...}
               -> "name<TAB>plain<TAB>password", "name<TAB>hash<TAB>HASH" or, keys only,
               "name<TAB>none<TAB>" lines, with "<TAB>KEY,KEY" after when the user has public keys
               (each "type base64", its comment dropped; the users script checks them), without
               reserved names (reserved-users.json beside this script: root, system accounts, the
               health-check account; generated from lib/shared/users.ts)
  health       the health-check secret {"username", "password"} -> one such line
  certificate CRT KEY
               the certificate secret {"certificate", "privateKey"} -> two PEM files
  host-keys ECDSA RSA
               the SFTP host keys secret {"ecdsa", "rsa"} -> two PEM files

With --api, stdin is Secrets Manager's GetSecretValue response, whose SecretString is the secret.
Never prints a password anywhere but stdout, which the sync pipes into the users script.
"""

import json
import os
import sys


# lib/shared/ssh-host-keys.ts, SSH_HOST_KEY_TYPES (test/unit/sftp.test.ts holds them equal).
HOST_KEY_TYPES = ("ecdsa", "rsa")
RESERVED_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reserved-users.json")


def users(secret):
    # No fallback: without the list no user is applied (a missing file fails the sync loudly).
    with open(RESERVED_FILE, encoding="utf-8") as fh:
        lists = json.load(fh)
    reserved = set(lists["names"])
    prefixes = tuple(lists["prefixes"])
    for user, password in secret.items():
        if user in reserved or user.startswith(prefixes):
            print(
                "nlb-ftp users: ERROR: skipping " + user
                + ": the name is reserved for a system or nlb-ftp account; rename it in the users secret",
                file=sys.stderr,
            )
            continue
        kind, keys = "plain", None
        if isinstance(password, dict):
            entry, password = password, None
            unknown = sorted(set(entry) - {"password", "passwordHash", "publicKeys"})
            keys = entry.get("publicKeys")
            if unknown or ("password" in entry and "passwordHash" in entry):
                password = False  # refused below, with the reason
            elif "passwordHash" in entry:
                # A hash instead of the password (mkpasswd, or openssl passwd -6).
                kind, password = "hash", entry["passwordHash"]
            elif "password" in entry:
                password = entry["password"]
            elif keys:
                kind, password = "none", ""
            if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) and k.strip() for k in keys)):
                print(
                    "nlb-ftp users: ERROR: skipping " + user
                    + ": its publicKeys is not a list of OpenSSH public key lines; change it in the users secret",
                    file=sys.stderr,
                )
                continue
        # One line per user, split at its tabs: a password with a tab or a line break cannot pass.
        if not isinstance(password, str) or any(c in password for c in "\t\r\n"):
            print(
                "nlb-ftp users: ERROR: skipping " + user
                + ": its entry is not a password (text without tabs and line breaks), {\"passwordHash\": \"...\"}"
                + " or {\"password\" or \"passwordHash\", \"publicKeys\": [...]}; change it in the users secret",
                file=sys.stderr,
            )
            continue
        if keys:
            # "type base64 comment" -> "type base64": no tab, line break or comma can pass.
            fields = [" ".join(k.split()[:2]) for k in keys]
            print("%s\t%s\t%s\t%s" % (user, kind, password, ",".join(f.replace(",", " ") for f in fields)))
        else:
            print("%s\t%s\t%s" % (user, kind, password))


def health(secret):
    print("%s\tplain\t%s" % (secret["username"], secret["password"]))


def certificate(secret, crt, key):
    with open(crt, "w", encoding="utf-8") as f:
        f.write(secret["certificate"].strip() + "\n")
    with open(key, "w", encoding="utf-8") as f:
        f.write(secret["privateKey"].strip() + "\n")


def host_keys(secret, files):
    """The SFTP host keys, one PEM per algorithm, in the order of HOST_KEY_TYPES."""
    for kind, path in zip(HOST_KEY_TYPES, files):
        with open(path, "w", encoding="utf-8") as f:
            f.write(secret[kind].strip() + "\n")


def main(argv):
    secret = json.load(sys.stdin)
    if argv[1:2] == ["--api"]:
        argv = argv[:1] + argv[2:]
        secret = json.loads(secret["SecretString"])
    if argv[1:] == ["users"]:
        users(secret)
    elif argv[1:] == ["health"]:
        health(secret)
    elif len(argv) == 4 and argv[1] == "certificate":
        certificate(secret, argv[2], argv[3])
    elif len(argv) == 2 + len(HOST_KEY_TYPES) and argv[1] == "host-keys":
        host_keys(secret, argv[2:])
    else:
        sys.exit("usage: nlb-ftp-secrets.py [--api] users | health | certificate CRT KEY | host-keys ECDSA RSA")


if __name__ == "__main__":
    main(sys.argv)
