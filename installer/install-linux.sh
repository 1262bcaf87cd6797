#!/usr/bin/env bash
# Install the bundle built by installer/build.sh on a Linux machine.
#   sudo installer/install-linux.sh [--server] [--desktop] [BUNDLE_DIR]
# --server   (default) dedicated user, /etc/accupredix/accupredix.env with a new
#            credentials key (mode 600, owner accupredix), systemd unit enabled
#            and started.
# --desktop  menu entry and icon for desktop users (each keeps its own data dir
#            and uses the OS keyring for its key).
# Installing again upgrades the program; the data and the key are kept.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUNDLE="$HERE/../dist/accupredix"
PREFIX="${ACCUPREDIX_PREFIX:-/opt/accupredix}"
server="" desktop=""
for arg in "$@"; do
    case "$arg" in
        --server) server=yes ;;
        --desktop) desktop=yes ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) BUNDLE="$arg" ;;
    esac
done
if [ -z "$server$desktop" ]; then server=yes; fi

say() { printf 'install: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    say "run as root (sudo)"
    exit 1
fi
if [ ! -x "$BUNDLE/accupredix" ]; then
    say "no bundle at $BUNDLE; build it first with installer/build.sh"
    exit 1
fi
"$BUNDLE/accupredix" --version >/dev/null || { say "the bundle does not start"; exit 1; }

# Replace the program in one step: copy beside, then swap directories.
say "installing $BUNDLE into $PREFIX"
rm -rf "$PREFIX.new"
cp -a "$BUNDLE" "$PREFIX.new"
install -m 0644 "$HERE/accupredix.service" "$PREFIX.new/accupredix.service"
if [ -d "$PREFIX" ]; then
    rm -rf "$PREFIX.old"
    mv "$PREFIX" "$PREFIX.old"
fi
mv "$PREFIX.new" "$PREFIX"
rm -rf "$PREFIX.old"
chown -R root:root "$PREFIX"
chmod -R go-w "$PREFIX"

if [ -n "$desktop" ]; then
    install -D -m 0644 "$HERE/../resources/icons/accupredix.svg" \
        /usr/share/icons/hicolor/scalable/apps/accupredix.svg
    install -D -m 0644 "$HERE/accupredix.desktop" /usr/share/applications/accupredix.desktop
    if command -v update-desktop-database >/dev/null; then update-desktop-database -q || true; fi
    say "desktop entry installed"
fi

if [ -n "$server" ]; then
    if ! id accupredix >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/accupredix --shell /usr/sbin/nologin accupredix
        say "created the system user accupredix"
    fi
    install -d -m 0750 -o root -g accupredix /etc/accupredix
    env_file=/etc/accupredix/accupredix.env
    if [ ! -f "$env_file" ]; then
        key="$(head -c 32 /dev/urandom | base64)"
        umask 077
        cat >"$env_file" <<CONF
# AccuPredix server settings (see the README's Configuration section).
# Keep a copy of this key somewhere safe: without it, stored connector
# credentials cannot be decrypted, also from a backup.
ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY=$key
ACCUPREDIX_HOST=127.0.0.1
ACCUPREDIX_PORT=8765
# ACCUPREDIX_DATABASE_URL=postgresql+psycopg://accupredix:...@127.0.0.1/accupredix
# ACCUPREDIX_APP_PUBLIC_URL=https://forecast.example.com
# ACCUPREDIX_TRUSTED_PROXIES=127.0.0.1
CONF
        chown accupredix:accupredix "$env_file"
        chmod 0600 "$env_file"
        say "wrote $env_file with a new credentials key (back it up)"
    fi
    install -m 0644 "$HERE/accupredix.service" /etc/systemd/system/accupredix.service
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable --now accupredix
        systemctl restart accupredix
        say "accupredix.service running; check it with:"
        say "  sudo -u accupredix sh -c 'set -a; . $env_file; ACCUPREDIX_DATA_DIR=/var/lib/accupredix $PREFIX/accupredix doctor'"
    else
        say "systemd is not running here: start the server with $PREFIX/accupredix serve"
    fi
fi
