#!/usr/bin/env bash
# Copy the BMv2 reference corpus (../shared/p4-reference) into tests/fixtures/p4-reference,
# so that a clone of the repository is self-contained. Run by `make corpus`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${CORPUS_SRC:-$root/../shared/p4-reference}"
dst="$root/tests/fixtures/p4-reference"
if [ ! -d "$src" ]; then
    echo "refresh-corpus: no corpus at $src" >&2
    exit 1
fi
rm -rf "$dst.tmp"
mkdir -p "$dst.tmp"
cp -pR "$src"/. "$dst.tmp"/
chmod -R u+w "$dst.tmp"
rm -rf "$dst"
mv "$dst.tmp" "$dst"
echo "refresh-corpus: $(find "$dst" -type f | wc -l) files copied from $src to $dst"
