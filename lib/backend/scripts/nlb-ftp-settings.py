#!/usr/bin/env python3
"""nlb-ftp boot: write files of the slot's settings (/etc/nlb-ftp/settings.json) to their places.

  nlb-ftp-settings.py write NAME...

Each NAME is an entry of the settings' "files" ({"path", "mode", "text"}), rendered by nlb-ftp at
synth time: the server's config, its PAM service, sysctls, the stunnel config. An unknown NAME
fails, so a boot never goes on without a file it expects.
"""

import json
import os
import sys

SETTINGS = os.environ.get("NLBFTP_SETTINGS_JSON", "/etc/nlb-ftp/settings.json")


def write(names):
    with open(SETTINGS, encoding="utf-8") as f:
        files = json.load(f)["files"]
    for name in names:
        if name not in files:
            sys.exit("nlb-ftp boot: the settings have no file %r" % name)
        entry = files[name]
        mode = int(entry["mode"], 8)
        tmp = entry["path"] + ".nlbftp-new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(entry["text"])
        os.chmod(tmp, mode)
        os.replace(tmp, entry["path"])


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "write":
        sys.exit("usage: nlb-ftp-settings.py write NAME...")
    write(sys.argv[2:])
