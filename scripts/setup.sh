#!/usr/bin/env bash
# One-command setup: Debian packages, a virtual environment, pip packages.
#
#   scripts/setup.sh             all of it (root, when Debian packages are missing)
#   scripts/setup.sh --pip-only  the virtual environment and pip packages only (any user)
#
# VENV (default .venv) is the environment; PYTHON the interpreter it is made with (default:
# the one the existing venv has, else python3; 3.11 to 3.13). The venv step is skipped when the
# dependency files have not changed since its last run (stamp keyed on their sha256).
# Sourcing this file defines the functions only (the tests call them one by one).
set -euo pipefail

APT_PACKAGES=(mininet bridge-utils iproute2 ethtool tcpdump iputils-ping procps psmisc
              kmod frr shellcheck ruby
              clang llvm libbpf-dev bpftool netsniff-ng)
# Files whose content decides what gets installed.
DEP_FILES=(pyproject.toml scripts/setup.sh)
# The locks dpkg and apt take (fcntl); another install holding one of them is waited for.
APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock
           /var/cache/apt/archives/lock)
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-900}
POLICY_RC_D=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
PYTHON_MIN=3.11
PYTHON_MAX=3.13

say() { echo "setup: $*"; }
fail() { echo "setup: $*" >&2; exit 1; }

# The PID holding a lock on FILE, from /proc/locks ("-1" for an open-file lock, which has
# none); nothing when the file is free or absent. Matched on the inode alone: the device
# field's numbering differs between filesystems.
lock_holder() {
    local ino
    ino=$(stat -c %i "$1" 2>/dev/null) || return 0
    awk -v ino="$ino" '$2 != "->" { n = split($6, d, ":"); if (d[n] == ino) { print $5; exit } }' \
        /proc/locks
}

describe_pid() {
    local cmd=""
    if [[ $1 != -1 && -r /proc/$1/cmdline ]]; then
        cmd=$(tr '\0' ' ' </proc/"$1"/cmdline)
    fi
    if [[ -n $cmd ]]; then echo "process $1 (${cmd% })"; else echo "another process"; fi
}

# Wait until no install holds any of APT_LOCKS, at most APT_LOCK_TIMEOUT seconds; says once
# per holder what it waits for.
wait_for_apt_locks() {
    local deadline=$((SECONDS + APT_LOCK_TIMEOUT)) f pid busy said=""
    while :; do
        busy=""
        for f in "${APT_LOCKS[@]}"; do
            pid=$(lock_holder "$f")
            if [[ -n $pid ]]; then busy="$f"; break; fi
        done
        [[ -z $busy ]] && return 0
        if ((SECONDS >= deadline)); then
            echo "setup: $busy is still locked by $(describe_pid "$pid") after" \
                "${APT_LOCK_TIMEOUT} s; run setup again when that install has finished" \
                "(APT_LOCK_TIMEOUT sets the wait)." >&2
            return 1
        fi
        if [[ $said != "$busy $pid" ]]; then
            say "waiting for the package manager: $busy is locked by $(describe_pid "$pid")"
            said="$busy $pid"
        fi
        sleep 1
    done
}

# Run a command with a policy-rc.d that keeps package scripts from starting services (frr's
# postinst starts frr; in a container without systemd that fails). A policy the machine
# already has is its owner's: used as it is and left in place.
with_policy_rc_d() {
    if [[ -e $POLICY_RC_D || -L $POLICY_RC_D ]]; then
        "$@"
        return
    fi
    printf '#!/bin/sh\n# written by scripts/setup.sh for the length of one apt-get run\nexit 101\n' \
        >"$POLICY_RC_D"
    chmod +x "$POLICY_RC_D"
    # shellcheck disable=SC2064  # the path is fixed now, on purpose
    trap "rm -f '$POLICY_RC_D'" EXIT
    local rc=0
    "$@" || rc=$?
    rm -f "$POLICY_RC_D"
    trap - EXIT
    return "$rc"
}

# Install the Debian packages that are missing (INSTALLED=1 when it did).
INSTALLED=0
install_debian_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]]; then
        fail "need root to install Debian packages: ${missing[*]} (or run the fast tests:" \
            "make test-fast, which needs none)."
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT")
    wait_for_apt_locks
    "${apt[@]}" update >/dev/null
    wait_for_apt_locks
    with_policy_rc_d "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
    INSTALLED=1
}

py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

check_python() {
    local v
    v=$(py_version "$1" 2>/dev/null) || fail "'$1' does not run as a Python interpreter" \
        "(set PYTHON to one)."
    if [[ $(printf '%s\n' "$PYTHON_MIN" "$v" "$PYTHON_MAX" | sort -V | sed -n 2p) != "$v" ]]; then
        fail "Python $v ($1) is not supported; use $PYTHON_MIN to $PYTHON_MAX," \
            "e.g. PYTHON=python3.12 make setup."
    fi
}

# Mininet's Python package as the Debian package (or a source install) put it.
mininet_dir() {
    local d
    d=$(dpkg-query -L mininet 2>/dev/null | grep -m1 '/mininet/__init__\.py$' || true)
    if [[ -n $d ]]; then dirname "$d"; return; fi
    for d in /usr/lib/python3/dist-packages/mininet /usr/local/lib/python3*/dist-packages/mininet \
             /usr/local/lib/python3*/site-packages/mininet; do
        if [[ -f $d/__init__.py ]]; then echo "$d"; return; fi
    done
}

# Expose Mininet alone to the venv (not all of dist-packages, whose old versions would shadow
# our pins). It is pure Python, so one copy serves every interpreter version.
link_mininet() {
    local venv=$1 dir site
    dir=$(mininet_dir)
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    mkdir -p "$venv/debian-mininet"
    if [[ -n $dir ]]; then
        ln -sfn "$dir" "$venv/debian-mininet/mininet"
    fi
    (cd "$venv/debian-mininet" && pwd) >"$site/debian-mininet.pth"
}

check_mininet() {
    local venv=$1 err
    [[ -e $venv/debian-mininet/mininet ]] || fail "Mininet's Python package was not found."
    if ! err=$("$venv/bin/python" -c 'import mininet.net, mininet.node' 2>&1); then
        fail "Mininet ($(readlink "$venv/debian-mininet/mininet")) does not import with" \
            "Python $(py_version "$venv/bin/python"): ${err##*$'\n'}"
    fi
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local pip_only=0 venv=${VENV:-.venv} py key stamp
    case "${1:-}" in
        --pip-only) pip_only=1 ;;
        "") ;;
        *) fail "unknown option '$1' (usage: scripts/setup.sh [--pip-only])." ;;
    esac
    if [[ -n ${PYTHON:-} ]]; then
        py=$PYTHON
    elif [[ -x $venv/bin/python ]]; then
        py=$venv/bin/python
    else
        py=python3
    fi
    check_python "$py"
    ((pip_only)) || install_debian_packages

    key=$(cat "${DEP_FILES[@]}" | sha256sum | cut -d' ' -f1)
    stamp="$venv/.setup-stamp"
    if [[ -x $venv/bin/python && $(py_version "$venv/bin/python") != $(py_version "$py") ]]; then
        say "$venv has Python $(py_version "$venv/bin/python"), PYTHON is $(py_version "$py"):" \
            "making it anew"
        "$py" -m venv --clear "$venv"
    elif ((!INSTALLED)) && [[ -f $stamp && $(cat "$stamp") == "$key" ]] &&
        [[ -z $(mininet_dir) || -e $venv/debian-mininet/mininet ]]; then
        say "up to date ($venv)"
        return 0
    fi

    if [[ ! -x $venv/bin/python ]]; then
        say "creating $venv with $("$py" --version)"
        "$py" -m venv "$venv"
    fi
    link_mininet "$venv"
    say "pip install"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q -e '.[dev]'
    ((pip_only)) || check_mininet "$venv"
    echo "$key" >"$stamp"
    say "done"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
