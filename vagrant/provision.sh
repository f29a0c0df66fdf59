#!/usr/bin/env bash
# Provision the testbed VM (run as root by `vagrant up`): the p4lang packages (p4c, BMv2
# simple_switch_grpc, PI) from the openSUSE Build Service repository the P4 project publishes
# for Ubuntu, Mininet, FRR, Python 3.12, then the project's `make setup` in /vagrant.
# Safe to run again (`vagrant provision`).
#
# FRR: pimsm's generated configurations are written and tested for FRR 8.4 (Debian 12 ships
# 8.4.4); Ubuntu 24.04 ships the same release, Ubuntu 22.04 ships 8.1. The script stops when
# the installed pimd is not 8.4.
set -euo pipefail

REPO_DIR=${REPO_DIR:-/vagrant}
export DEBIAN_FRONTEND=noninteractive

# shellcheck source=/dev/null
. /etc/os-release
if [[ "${ID}" != "ubuntu" || "${VERSION_ID}" != "24.04" ]]; then
    echo "provision: expected Ubuntu 24.04, found ${ID} ${VERSION_ID}." >&2
    exit 1
fi

obs="https://download.opensuse.org/repositories/home:/p4lang/xUbuntu_${VERSION_ID}"
echo "provision: p4lang repository ${obs}"
apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates curl gnupg
curl -fsSL "${obs}/Release.key" | gpg --dearmor --yes -o /etc/apt/trusted.gpg.d/home_p4lang.gpg
echo "deb ${obs}/ /" >/etc/apt/sources.list.d/home-p4lang.list
apt-get update -q

# FRR's postinst starts its service; the testbed starts its own daemons instead. A
# policy-rc.d the machine already has is left as it is.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

echo "provision: apt-get install p4lang-p4c p4lang-bmv2 p4lang-pi mininet frr python3.12"
apt-get install -y -q --no-install-recommends \
    p4lang-p4c p4lang-bmv2 p4lang-pi \
    mininet frr iproute2 ethtool tcpdump iputils-ping bridge-utils psmisc \
    python3.12 python3.12-venv python3.12-dev \
    build-essential git make shellcheck ruby

missing=()
for tool in p4c-bm2-ss simple_switch_grpc mn /usr/lib/frr/pimd python3.12; do
    command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}")
done
if ((${#missing[@]})); then
    echo "provision: not installed: ${missing[*]}." >&2
    exit 1
fi
frr=$(/usr/lib/frr/pimd --version | sed -n 's/^pimd version \([0-9.]*\).*/\1/p')
if [[ "${frr}" != 8.4* ]]; then
    echo "provision: FRR ${frr:-of unknown version} installed; pimsm's configurations are" \
        "tested with FRR 8.4." >&2
    exit 1
fi
echo "provision: FRR ${frr}"

echo "provision: make setup in ${REPO_DIR}"
cd "${REPO_DIR}"
PYTHON=python3.12 make setup

echo "provision: done. Try: vagrant ssh -c 'cd /vagrant && sudo make run-experiment'"
