#!/usr/bin/env bash
# Build the one-folder bundle into dist/accupredix with PyInstaller, from a
# clean venv that holds the project installed the way users get it (not
# editable), so the bundle contains exactly the declared dependencies.
# Usage: installer/build.sh            (Linux or macOS; Windows: installer\build.ps1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/bundle"
VENV="$BUILD/venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off

say() { printf 'bundle: %s\n' "$*" >&2; }

PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the build venv in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "installing accupredix and PyInstaller into the build venv"
"$VENV/bin/python" -m pip install -q "${ROOT}[bundle]"

say "running PyInstaller"
rm -rf "$ROOT/dist/accupredix"
(cd "$ROOT" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$BUILD/work" installer/accupredix.spec)
say "built $ROOT/dist/accupredix ($(du -sh "$ROOT/dist/accupredix" | cut -f1))"
