#!/bin/bash
# nlb-ftp: apply FTP users read as "user<TAB>password" lines on stdin: each becomes a local account
# with a stable UID (so files on the shared storage keep their owner on every backend), a
# root-owned jail and a writable files/ directory. Users not on stdin lose FTP access because they
# drop out of the allow-list. Never prints a password.
# Settings: FTP_ROOT (the shared root, EFS on EC2; default /srv/ftp) and ALLOW_FILE (the PAM
# allow-list it writes; default /etc/nlb-ftp/ftp-users), from the environment.
set -euo pipefail
umask 077
FTP_ROOT=${FTP_ROOT:-/srv/ftp}
ALLOW_FILE=${ALLOW_FILE:-/etc/nlb-ftp/ftp-users}
allow=$(mktemp)
trap 'rm -f "$allow"' EXIT
count=0
while IFS=$'\t' read -r user pass; do
  if [[ ! "$user" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]]; then
    echo "nlb-ftp users: skipping an entry whose name is not a valid Linux user name" >&2
    continue
  fi
  # chpasswd splits its line at the first ':' only, so a password may contain ':'.
  if [[ -z "$pass" ]]; then
    echo "nlb-ftp users: skipping $user: its password is empty" >&2
    continue
  fi
  # Same name -> same UID on every backend, because the shared file system stores numeric owners.
  sum=$(printf '%s' "$user" | cksum)
  uid=$((20000 + ${sum%% *} % 40000))
  # An account of that name that this script did not make (root, ec2-user, any system account
  # or one added to the image later) is never given a password or FTP access.
  if existing=$(id -u "$user" 2>/dev/null) && [[ "$existing" != "$uid" ]]; then
    echo "nlb-ftp users: ERROR: skipping $user: an account of that name already exists (UID $existing) that nlb-ftp did not create" >&2
    continue
  fi
  # A group of that name that is not the user's own (users, wheel, video...): groupadd would fail
  # and stop the whole sync, so skip the one name instead.
  if gid=$(getent group "$user" | cut -d: -f3) && [[ -n "$gid" && "$gid" != "$uid" ]]; then
    echo "nlb-ftp users: ERROR: skipping $user: a group of that name already exists (GID $gid); rename the user" >&2
    continue
  fi
  if ! id -u "$user" >/dev/null 2>&1; then
    if getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; then
      echo "nlb-ftp users: skipping $user: its UID $uid is taken by another account; rename the user" >&2
      continue
    fi
    groupadd -g "$uid" "$user"
    useradd -u "$uid" -g "$uid" -M -d "$FTP_ROOT/users/$user/./files" -s /usr/sbin/nologin "$user"
  fi
  install -d -o root -g root -m 0755 "$FTP_ROOT/users"
  install -d -o root -g root -m 0755 "$FTP_ROOT/users/$user"
  install -d -o "$user" -g "$user" -m 0750 "$FTP_ROOT/users/$user/files"
  printf '%s:%s\n' "$user" "$pass" | chpasswd
  printf '%s\n' "$user" >>"$allow"
  count=$((count + 1))
done
install -D -m 0644 "$allow" "$ALLOW_FILE"
echo "nlb-ftp users: $count FTP user(s) applied"
