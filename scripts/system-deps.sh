#!/bin/sh
# Install the system tools the test suite drives for real, when they are absent.
# Runs as root with apt-get (CI and the development machines); elsewhere it says what is missing.
set -eu
need=""
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v unshare >/dev/null 2>&1 || need="$need util-linux"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system tools:$need"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
else
    echo "missing system tools:$need (tests that need them will say so and skip)" >&2
fi
