#!/usr/bin/env bash
# Remove what a crashed run may have left: Mininet's namespaces and links, and our switch
# processes. Safe to run when nothing is left.
set -u
pkill -f 'python.* -m softswitch( |$)' 2>/dev/null || true
pkill -x simple_switch_grpc 2>/dev/null || true
if command -v mn >/dev/null; then mn -c >/dev/null 2>&1 || true; fi
exit 0
