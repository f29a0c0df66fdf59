#!/usr/bin/env bash
# One-command setup: Debian packages, a virtual environment, pip packages.
# Skips all work when the dependency files have not changed since the last
# successful run (stamp keyed on their sha256).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
APT_PACKAGES=(mininet bridge-utils iproute2 ethtool tcpdump iputils-ping procps psmisc
              kmod frr shellcheck ruby)
# Files whose content decides what gets installed.
DEP_FILES=(pyproject.toml scripts/setup.sh)

key=$(cat "${DEP_FILES[@]}" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.setup-stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" && -x "$VENV/bin/python" ]]; then
    echo "setup: up to date ($VENV)"
    exit 0
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need root to install Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # frr's postinst tries to start the service; in a container without systemd that fails
    # harmlessly, so policy-rc.d keeps it from starting at all.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup: creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
fi
# Debian's mininet lives in the system dist-packages; expose only that package to the venv
# (not all of dist-packages, whose old versions would shadow our pins).
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$VENV/debian-mininet"
if [[ -d /usr/lib/python3/dist-packages/mininet ]]; then
    ln -sfn /usr/lib/python3/dist-packages/mininet "$VENV/debian-mininet/mininet"
fi
(cd "$VENV/debian-mininet" && pwd) >"$site/debian-mininet.pth"

echo "setup: pip install"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[dev]'
echo "$key" >"$stamp"
echo "setup: done"
