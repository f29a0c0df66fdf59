#!/usr/bin/env bash
# Create (once) a separate virtual environment with p4runtime-shell, which pins an old
# protobuf that the project's own environment must not get. Prints the venv's python.
# Usage: tests/switch/p4rt_shell_venv.sh [VENV_DIR]   (default: build/venv-p4rt-shell, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${1:-build/venv-p4rt-shell}
mkdir -p "$(dirname "$VENV")"
VERSION=0.0.6
stamp="$VENV/.p4rt-shell-$VERSION"
if [[ ! -f "$stamp" ]]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "p4runtime-shell==$VERSION" >&2
    "$VENV/bin/python" -c "import p4runtime_sh.shell" >&2
    touch "$stamp"
fi
echo "$PWD/$VENV/bin/python"
