#!/bin/sh
# ensure-users.sh: the users the tests need, as on real hosts (field-notes.md), created
# idempotently: www-data (Debian base), and opencode, a service user in group www-data with
# a 0750 home; and the system group permwatch, the shipped policy's control_group (the package
# creates it from packaging/permwatch.sysusers).
set -eu
getent group permwatch >/dev/null || groupadd --system permwatch
getent passwd www-data >/dev/null || { echo "user www-data is missing" >&2; exit 1; }
if ! getent passwd opencode >/dev/null; then
    useradd --system --create-home --home-dir /home/opencode --shell /usr/sbin/nologin \
        --groups www-data opencode
fi
id -nG opencode | tr ' ' '\n' | grep -qx www-data || usermod -a -G www-data opencode
[ -d /home/opencode ] || install -d -o opencode -g opencode /home/opencode
chmod 0750 /home/opencode
