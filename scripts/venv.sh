# shellcheck shell=bash
# Sourced by scripts/run and scripts/test: make .venv and keep the project
# installed in it. Usage: ensure_venv "<pip target>" <stamp name> [<stamp name that also counts> ...]
# Sets BIN to the venv's programs folder.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# Git Bash on Windows puts the venv's programs in Scripts/.
BIN="$VENV/bin"
if [ -d "$VENV/Scripts" ] && [ ! -d "$BIN" ]; then BIN="$VENV/Scripts"; fi

say() { printf 'accupredix: %s\n' "$*" >&2; }

find_python() {
    local candidate
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    say "Python 3.11 or newer is needed, and python3 is missing or older."
    say "Install it (Debian/Ubuntu: apt-get install python3 python3-venv), then run this again."
    return 1
}

# Installs only when the venv is new or pyproject.toml changed since the last
# install, so that a second start is quick.
ensure_venv() {
    local target="$1" stamp="$VENV/$2" digest name
    shift 2
    if [ ! -x "$BIN/python" ] && [ ! -x "$BIN/python.exe" ]; then
        local python
        python="$(find_python)"
        if ! "$python" -c 'import ensurepip' 2>/dev/null; then
            say "$python cannot create virtual environments (the venv module has no pip)."
            say "Install it (Debian/Ubuntu: apt-get install python3-venv), then run this again."
            exit 1
        fi
        say "creating $VENV"
        # A half-made venv would look present next time, so remove it on failure.
        "$python" -m venv "$VENV" || { rm -rf "$VENV"; exit 1; }
    fi
    digest="$("$BIN/python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$ROOT/pyproject.toml")"
    for name in "$(basename "$stamp")" "$@"; do
        if [ "$(cat "$VENV/$name" 2>/dev/null)" = "$digest" ]; then return 0; fi
    done
    say "installing $target into .venv (the first time downloads Qt, a few hundred MB)"
    "$BIN/python" -m pip install --disable-pip-version-check -e "$target"
    printf '%s\n' "$digest" >"$stamp"
}
