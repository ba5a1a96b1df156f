#!/bin/sh
# Install Varnish and varnish-modules (vmod xkey) for the varnish action's tests. Idempotent:
# does nothing when varnishd and the xkey vmod are already there. Called by .ci/run.
set -eu
if command -v varnishd >/dev/null 2>&1 && ls /usr/lib/*/varnish/vmods/libvmod_xkey.so >/dev/null 2>&1; then
    echo "varnish: already installed ($(varnishd -V 2>&1 | head -1))"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q varnish varnish-modules
# The tests start their own varnishd; the packaged service is not needed.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now varnish >/dev/null 2>&1 || true; fi
varnishd -V 2>&1 | head -1
