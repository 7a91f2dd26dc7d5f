#!/usr/bin/env python3
"""nlb-ftp boot, last step: log in over FTP (FTPS with --ftps) as the health-check account, as the
checker will, retrying while the server starts. Exit 0 once a login worked; then the boot reports
CONTINUE, which puts the instance into its target groups.

The account comes on stdin as Secrets Manager's GetSecretValue response (the boot's get_secret),
so the password never reaches a command line or a log. The local check does not verify the certificate (it names the NLB, not this address);
clients and the checker do.
"""

import argparse
import ftplib
import json
import ssl
import sys
import time


def account(stream):
    text = stream.read()
    if not text.strip():
        sys.exit("nlb-ftp readiness: no health-check secret on stdin (reading it failed; see above)")
    return json.loads(json.loads(text)["SecretString"])


def login(host, ftps, user, password):
    if ftps:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        ftp.connect(host, 21)
        ftp.auth()
        ftp.login(user, password)
        ftp.prot_p()
    else:
        ftp = ftplib.FTP(timeout=10)
        ftp.connect(host, 21)
        ftp.login(user, password)
    ftp.pwd()
    ftp.quit()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", required=True)
    p.add_argument("--ftps", action="store_true")
    p.add_argument("--attempts", type=int, default=30, help="2 s apart, while the server starts")
    a = p.parse_args()
    creds = account(sys.stdin)
    last = "no attempt"
    for attempt in range(1, a.attempts + 1):
        try:
            login(a.host, a.ftps, creds["username"], creds["password"])
            print("nlb-ftp readiness: logged in on attempt %d" % attempt)
            return 0
        except Exception as err:  # the server's reply or the socket error; never the password
            last = "%s: %s" % (type(err).__name__, err)
            time.sleep(2)
    print("nlb-ftp readiness: no login after %d attempts: %s" % (a.attempts, last), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
