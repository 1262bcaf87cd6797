#!/usr/bin/env bash
# Smoke test of a built bundle, as CI runs it after installer/build.sh:
# --version; `serve --demo` answering /healthz; a queued forecast run executed
# by the server's run worker (a spawned child of the frozen program, with the
# forecasting library's compiled parts); then a clean stop on SIGTERM.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="${1:-$ROOT/dist/accupredix/accupredix}"
say() { printf 'smoke [%4ds]: %s\n' "$SECONDS" "$*" >&2; }

DATA="$(mktemp -d /tmp/accupredix-smoke.XXXXXX)"
server=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" || true; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

export ACCUPREDIX_DATA_DIR="$DATA"
ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY="$(head -c 32 /dev/urandom | base64)"
export ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY
unset ACCUPREDIX_DATABASE_URL ACCUPREDIX_APP_PUBLIC_URL
export QT_QPA_PLATFORM=offscreen

version="$("$APP" --version)"
say "$version"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$APP" serve --host 127.0.0.1 --port "$port" --demo >"$DATA/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
    if python3 - "$port" <<'PY' 2>/dev/null; then break; fi
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2) as r:
    sys.exit(0 if json.load(r).get("status") == "ok" else 1)
PY
    if ! kill -0 "$server" 2>/dev/null; then cat "$DATA/serve.log" >&2; say "serve exited"; exit 1; fi
    sleep 1
done
say "serve answers /healthz on 127.0.0.1:$port"

"$APP" run create >/dev/null
status=""
for _ in $(seq 1 300); do
    status="$("$APP" run list --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["status"])')"
    case "$status" in complete | failed) break ;; esac
    sleep 2
done
if [ "$status" != complete ]; then
    "$APP" run list >&2 || true
    tail -n 50 "$DATA/serve.log" >&2
    say "forecast run ended $status"
    exit 1
fi
say "forecast run complete: $("$APP" run list | head -n 3 | tail -n 1)"

kill -TERM "$server"
code=0
wait "$server" || code=$?
server=""
if [ "$code" -ne 0 ]; then
    tail -n 30 "$DATA/serve.log" >&2
    say "serve exited with $code on SIGTERM"
    exit 1
fi
say "serve stopped cleanly; bundle OK"
