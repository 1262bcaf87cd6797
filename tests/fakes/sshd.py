"""A real OpenSSH server on 127.0.0.1 for the SFTP tests.

``running_sshd()`` starts Debian's ``/usr/sbin/sshd`` (package openssh-server,
installed by .ci/run), not the system's ssh service: in the foreground
(``-D -e``) on a free port of 127.0.0.1, from a temporary directory that holds
its own ``sshd_config``, host keys made with ssh-keygen, pid file, log and the
folder the SFTP session starts in. Only SFTP is offered (``internal-sftp``).

Logging in with a password needs a real system account, so the helper needs
root: it creates the system user ``accupredix-sftp`` (no home, no shell) with
``useradd`` if it does not exist yet, with a random password made once per
machine (kept root-only in the temp dir) and set with ``chpasswd``. The account
stays on the machine; it can log in only to these test servers (``AllowUsers``
here; the system sshd is not touched). Key login reads ``authorized_keys`` from
the temporary directory.

Example::

    with running_sshd() as server:
        server.put("incoming/orders.csv", b"...")
        server.host_key_line()      # "ssh-ed25519 AAAA..."
        server.fingerprint()        # "SHA256:...", as ssh-keygen -l prints it
        server.rotate_host_key()    # same port, a new host key
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
USER = "accupredix-sftp"
# sshd's privilege separation directory; the package creates it at boot only.
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 15.0


class SshdUnavailable(RuntimeError):
    """The test server cannot run here; the message says why and what to do."""


def generate_key(path: Path, key_type: str = "ed25519", passphrase: str = "") -> str:
    """Make a key pair with ssh-keygen at ``path`` (+ ``.pub``); returns the public line."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    bits = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", key_type, *bits, "-N", passphrase, "-C", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return public_line(path.with_name(path.name + ".pub"))


def public_line(pub: Path) -> str:
    """``type base64`` of a .pub file, without the comment."""
    kind, blob = pub.read_text().split()[:2]
    return f"{kind} {blob}"


def keygen_fingerprint(pub: Path) -> str:
    """The SHA256 fingerprint as ``ssh-keygen -lf`` prints it."""
    out = subprocess.run(
        [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(pub)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _sshd_version() -> tuple[int, int]:
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, check=False)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    if not match:
        raise SshdUnavailable(f"Cannot tell the version of {SSHD}: {out.stderr.strip()}")
    return int(match.group(1)), int(match.group(2))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def account_password() -> str:
    """The test account's password: random once per machine, then reused.

    Reused rather than renewed per server, so that two test sessions on one
    machine do not lock each other out by resetting it. Kept readable by root
    only, like the account it opens.
    """
    path = Path(tempfile.gettempdir()) / f"{USER}.password"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(password)
    return password


def ensure_test_user(password: str) -> pwd.struct_passwd:
    """Create the test account if missing and set its password (root only)."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        result = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        # 9: another test process created it meanwhile.
        if result.returncode not in (0, 9):
            raise SshdUnavailable(f"useradd {USER} failed: {result.stderr.strip()}") from None
    # The password goes in on stdin, never on a command line.
    subprocess.run(["chpasswd"], input=f"{USER}:{password}\n", text=True, check=True)
    return pwd.getpwnam(USER)


class SshServer:
    """One sshd in a temporary directory; see the module docstring."""

    host = "127.0.0.1"
    username = USER

    def __init__(self, base: Path, key_types: tuple[str, ...] = ("ed25519",)) -> None:
        self.base = base
        self.key_types = key_types
        self.password = account_password()
        self.port = 0
        self.etc = base / "etc"  # root only: config and host keys
        self.keys = base / "keys"  # readable by the user: authorized_keys
        self.root = base / "files"  # where the SFTP session starts; the user's
        self.log_path = base / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._starts = 0

    # --- set-up ---------------------------------------------------------------------

    def prepare(self) -> None:
        if os.geteuid() != 0:
            raise SshdUnavailable(
                "The SFTP tests start a real sshd and log in with a password as a dedicated "
                "system user, which needs root (as in CI). Run them as root."
            )
        if not SSHD.exists():
            raise SshdUnavailable(f"{SSHD} is missing: apt-get install openssh-server.")
        account = ensure_test_user(self.password)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        # The user must be able to pass through base to reach its folders.
        self.base.chmod(0o711)
        self.etc.mkdir(mode=0o700)
        self.keys.mkdir(mode=0o755)
        self.root.mkdir(mode=0o755)
        os.chown(self.root, account.pw_uid, account.pw_gid)
        (self.keys / USER).write_text("")
        for key_type in self.key_types:
            generate_key(self.host_key_path(key_type), key_type)
        self._penalties = _sshd_version() >= (9, 8)

    def host_key_path(self, key_type: str = "ed25519") -> Path:
        return self.etc / f"ssh_host_{key_type}_key"

    def _write_config(self) -> Path:
        host_keys = "\n".join(f"HostKey {self.host_key_path(kind)}" for kind in self.key_types)
        # StrictModes no: the directory lives under /tmp, which is world-writable.
        config = f"""\
ListenAddress {self.host}:{self.port}
{host_keys}
PidFile {self.base}/sshd.pid
AuthorizedKeysFile {self.keys}/%u
StrictModes no
UsePAM no
PermitRootLogin no
AllowUsers {USER}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
MaxStartups 50
LogLevel VERBOSE
Subsystem sftp internal-sftp -d {self.root}
ForceCommand internal-sftp -d {self.root}
"""
        if self._penalties:
            # Newer sshd locks out an address after failed logins; tests fail logins on purpose.
            config += "PerSourcePenalties no\n"
        path = self.etc / "sshd_config"
        path.write_text(config)
        return path

    # --- running --------------------------------------------------------------------

    def start(self) -> None:
        """Start on ``self.port``, or on a free port if none was chosen yet."""
        fixed = self.port != 0
        for _attempt in range(5):
            if not fixed:
                self.port = _free_port()
            if self._spawn():
                return
            if fixed or "Address already in use" not in self.log_text():
                break
        raise SshdUnavailable(f"sshd did not start; its log:\n{self.log_text()}")

    def _spawn(self) -> bool:
        config = self._write_config()
        check = subprocess.run(
            [str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise SshdUnavailable(f"sshd rejects its configuration: {check.stderr.strip()}")
        self._starts += 1
        marker = f"--- start {self._starts} ---\n".encode()
        self._log = self.log_path.open("ab")
        self._log.write(marker)
        self._log.flush()
        # sshd re-executes itself and so must be started by its absolute path.
        self._process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        ready = f"Server listening on {self.host} port {self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes().rsplit(marker, 1)[-1].decode(errors="replace")
            if ready in text:
                return True
            if self._process.poll() is not None:
                self._reap()
                return False
            time.sleep(0.02)
        self.stop()
        raise SshdUnavailable(f"sshd did not listen within {START_TIMEOUT} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._reap()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def rotate_host_key(self, key_type: str | None = None) -> None:
        """Restart on the same port with newly generated host key(s)."""
        self.stop()
        if key_type is not None:
            self.key_types = (key_type,)
        for kind in self.key_types:
            generate_key(self.host_key_path(kind), kind)
        self.start()

    # --- what tests look at ----------------------------------------------------------

    def host_key_line(self, key_type: str | None = None) -> str:
        """The server's public host key as ``type base64``."""
        kind = key_type or self.key_types[0]
        return public_line(self.host_key_path(kind).with_suffix(".pub"))

    def fingerprint(self, key_type: str | None = None) -> str:
        kind = key_type or self.key_types[0]
        return keygen_fingerprint(self.host_key_path(kind).with_suffix(".pub"))

    def authorize(self, public_key: str) -> None:
        with (self.keys / USER).open("a") as handle:
            handle.write(public_key.strip() + "\n")

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    # --- the files the SFTP user sees ----------------------------------------------------

    def mkdir(self, relative: str) -> Path:
        """A folder under the SFTP start folder, owned by the SFTP user."""
        account = pwd.getpwnam(USER)
        path = self.root / relative
        path.mkdir(parents=True, exist_ok=True)
        current = path
        while current != self.root:
            os.chown(current, account.pw_uid, account.pw_gid)
            current = current.parent
        return path

    def put(self, relative: str, data: bytes, mtime: float | None = None) -> Path:
        """Write a file under the SFTP start folder (its folder owned by the user)."""
        path = self.root / relative
        parent = Path(relative).parent
        if parent != Path():
            self.mkdir(str(parent))
        path.write_bytes(data)
        path.chmod(0o644)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path


@contextlib.contextmanager
def running_sshd(key_types: tuple[str, ...] = ("ed25519",)) -> Iterator[SshServer]:
    """A started :class:`SshServer`, stopped and removed afterwards."""
    # Not under pytest's tmp_path: that is private to root, and the SFTP user
    # must be able to reach its folder.
    base = Path(tempfile.mkdtemp(prefix="accupredix-sshd-"))
    server = SshServer(base, key_types)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
