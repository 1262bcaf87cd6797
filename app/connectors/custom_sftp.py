"""SFTP folder: CSV or Excel files picked up from a folder on an SSH server.

The server's host key is pinned, never trusted silently. Without a pinned key,
``probe`` only fetches the key the server presents and returns its type,
SHA256 fingerprint (as ``ssh-keygen -l`` prints it) and ``type base64`` text;
it sends no credentials to a server the operator has not accepted. Once the
operator accepts the fingerprint, the caller stores the text in ``host_key``
and the next probe logs in. From then on a server presenting any other key is
refused with :class:`HostKeyMismatch`, and ``pull`` refuses to run unpinned.

Files are tracked as described in :func:`app.connectors.file_tracking.pull_files`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import io
import logging
import posixpath
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
)
from app.connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    HostKeyMismatch,
    RetryableError,
)
from app.connectors.fields import Field, FieldKind
from app.connectors.file_tracking import SourceFile, pull_files, sample_files
from app.connectors.files import (
    FORMAT_FIELDS,
    PAGE_SIZE,
    FileOptions,
    check_format_settings,
    raise_for_problems,
)
from app.connectors.registry import register
from app.redaction import register_secret

logger = logging.getLogger(__name__)

DEFAULT_PORT = 22
# paramiko's largest read request; a window of them is in flight at once, so
# reading is fast over a slow link while at most a window sits in memory.
READ_REQUEST = 32 * 1024
READ_WINDOW = 32
PROBE_LISTING = 20

_AUTH_CHOICES = ("password", "private_key")

FIELDS: tuple[Field, ...] = (
    Field("host", "Host", required=True, help="Name or address of the SFTP server."),
    Field("port", "Port", FieldKind.NUMBER, default=DEFAULT_PORT),
    Field("username", "User name", required=True),
    Field("auth", "Sign in with", FieldKind.CHOICE, default="password", choices=_AUTH_CHOICES),
    Field(
        "password",
        "Password",
        FieldKind.SECRET,
        required=True,
        visible_when={"auth": ("password",)},
    ),
    Field(
        "private_key",
        "Private key",
        FieldKind.SECRET,
        required=True,
        visible_when={"auth": ("private_key",)},
        help="Paste the whole key, BEGIN and END lines included (OpenSSH or PEM; "
        "Ed25519, ECDSA or RSA).",
    ),
    Field(
        "passphrase",
        "Key passphrase",
        FieldKind.SECRET,
        visible_when={"auth": ("private_key",)},
        help="Only if the key is encrypted.",
    ),
    Field(
        "remote_folder",
        "Folder",
        default=".",
        help="Where the files are; a relative path starts in the user's home folder.",
    ),
    Field(
        "file_glob",
        "File names",
        default="*.csv",
        help="Patterns separated by commas, such as *.csv, orders_*.xlsx; case is ignored. "
        "Uploaders should write under another name and rename when done, so that a "
        "half-written file is not read.",
    ),
    *FORMAT_FIELDS,
    Field(
        "archive_folder",
        "Archive folder",
        help="Optional: move each file here once it is imported. The folder must exist.",
    ),
    Field("timeout", "Timeout (seconds)", FieldKind.NUMBER, default=30),
    Field(
        "host_key",
        "Server host key",
        managed=True,
        help="Pinned when you accept the server's fingerprint after testing the connection.",
    ),
)


# --- host keys -------------------------------------------------------------------------


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA256 fingerprint in the form ``ssh-keygen -l`` prints."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_key_text(key: paramiko.PKey) -> str:
    """``type base64``, the form stored in the ``host_key`` setting."""
    return f"{key.get_name()} {key.get_base64()}"


def parse_host_key(text: str) -> paramiko.PKey:
    """The key from a ``type base64`` text (a known_hosts line without the host works too)."""
    parts = text.split()
    if parts and not parts[0].startswith(("ssh-", "ecdsa-")) and len(parts) >= 3:
        parts = parts[1:]  # a known_hosts line: the host names come first
    try:
        kind, blob = parts[0], base64.b64decode(parts[1], validate=True)
        key = paramiko.PKey.from_type_string(kind, blob)
    except (IndexError, binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise ConfigurationError(
            "The pinned host key is not valid; clear it and accept the server's key again.",
            fields={"host_key": "is not a valid SSH public key"},
        ) from exc
    if key.get_name() != kind:
        raise ConfigurationError(
            "The pinned host key is not valid; clear it and accept the server's key again.",
            fields={"host_key": f"says {kind} but holds a {key.get_name()} key"},
        )
    return key


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SftpSettings:
    """The connection settings of one SFTP connector."""

    host: str
    port: int
    username: str
    auth: str
    password: str | None
    private_key: str | None
    passphrase: str | None
    folder: str
    patterns: tuple[str, ...]
    archive_folder: str | None
    timeout: float
    host_key: str | None

    @classmethod
    def from_config(cls, values: Any) -> SftpSettings:
        patterns = str(values.get("file_glob") or "*.csv").replace(";", ",").split(",")
        return cls(
            host=str(values.get("host") or "").strip(),
            port=int(values.get("port") or DEFAULT_PORT),
            username=str(values.get("username") or ""),
            auth=values.get("auth") or "password",
            password=values.get("password"),
            private_key=values.get("private_key"),
            passphrase=values.get("passphrase") or None,
            folder=(str(values.get("remote_folder") or ".").strip() or ".").rstrip("/") or "/",
            patterns=tuple(p.strip().lower() for p in patterns if p.strip()),
            archive_folder=(str(values.get("archive_folder") or "").strip().rstrip("/") or None),
            timeout=float(values.get("timeout") or 30),
            host_key=(str(values.get("host_key") or "").strip() or None),
        )

    @property
    def where(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in self.patterns)


def load_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    """A paramiko key from pasted OpenSSH or PEM text; bad input is a ConfigurationError."""
    lines = [line.strip() for line in text.strip().splitlines()]
    data = ("\n".join(lines) + "\n").encode()
    load = (
        serialization.load_ssh_private_key
        if b"BEGIN OPENSSH PRIVATE KEY" in data
        else serialization.load_pem_private_key
    )
    password = passphrase.encode() if passphrase else None
    try:
        try:
            loaded = load(data, password=password)
        except TypeError:
            if password is None:
                raise ConfigurationError(
                    "The private key is encrypted: enter its passphrase.",
                    fields={"passphrase": "is needed for this key"},
                ) from None
            loaded = load(data, password=None)  # a passphrase for a key that has none
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(
            "The private key cannot be read: the passphrase is wrong, or the text is not "
            "a whole OpenSSH or PEM private key.",
            fields={"private_key": "cannot be read"},
        ) from None
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise ConfigurationError(
            "The private key's type is not supported; use an Ed25519, ECDSA or RSA key.",
            fields={"private_key": "is of an unsupported type"},
        )
    # paramiko reads every type from the OpenSSH format; convert PEM/PKCS#8 keys to it.
    openssh = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return key_class.from_private_key(io.StringIO(openssh.decode()))


# --- connecting -------------------------------------------------------------------------


class _KeyCaptured(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("host key captured")
        self.key = key


class _CaptureKey(paramiko.MissingHostKeyPolicy):
    """Stops the handshake at the server's key, before any credential is sent."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise _KeyCaptured(key)


def fetch_host_key(settings: SftpSettings) -> paramiko.PKey:
    """The key the server presents; nothing is sent but the key exchange."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_CaptureKey())
    try:
        with _connection_errors(settings):
            client.connect(**_connect_args(settings), look_for_keys=False, allow_agent=False)
    except _KeyCaptured as captured:
        return captured.key
    finally:
        client.close()
    raise ConnectorError(f"The SFTP server {settings.where} did not present a host key.")


@contextlib.contextmanager
def open_sftp(settings: SftpSettings) -> Iterator[paramiko.SFTPClient]:
    """A logged-in SFTP session with the pinned host key; closed on exit."""
    if not settings.host_key:
        raise ConfigurationError(
            f"No host key is pinned for the SFTP server {settings.where}: test the connection "
            "and accept the server's fingerprint first.",
            fields={"host_key": "is not pinned yet"},
        )
    pinned = parse_host_key(settings.host_key)
    credentials = _credentials(settings)
    client = paramiko.SSHClient()
    # Only the pinned key is known; any other key fails instead of being added.
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    entry = settings.host if settings.port == DEFAULT_PORT else f"[{settings.host}]:{settings.port}"
    client.get_host_keys().add(entry, pinned.get_name(), pinned)
    try:
        with _connection_errors(settings):
            try:
                client.connect(
                    **_connect_args(settings),
                    **credentials,
                    look_for_keys=False,
                    allow_agent=False,
                )
            except paramiko.BadHostKeyException as exc:
                raise _mismatch(settings, pinned, exc.key) from None
            except paramiko.BadAuthenticationType as exc:
                accepted = ", ".join(exc.allowed_types) or "nothing"
                raise AuthError(
                    f"SFTP server {settings.where} does not accept {_method(settings)} login "
                    f"for user {settings.username}; it accepts: {accepted}."
                ) from None
            except paramiko.AuthenticationException:
                raise AuthError(
                    f"SFTP server refused the {_method(settings)} for user {settings.username}."
                ) from None
            sftp = client.open_sftp()
        logger.info("Connected to SFTP server %s as %s", settings.where, settings.username)
        try:
            sftp.get_channel().settimeout(settings.timeout)
            yield sftp
        finally:
            sftp.close()
    finally:
        client.close()


def _connect_args(settings: SftpSettings) -> dict[str, Any]:
    return {
        "hostname": settings.host,
        "port": settings.port,
        "username": settings.username,
        "timeout": settings.timeout,
        "banner_timeout": settings.timeout,
        "auth_timeout": settings.timeout,
        "channel_timeout": settings.timeout,
    }


def _credentials(settings: SftpSettings) -> dict[str, Any]:
    if settings.auth == "private_key":
        if not settings.private_key:
            raise ConfigurationError(
                "Paste the private key.", fields={"private_key": "is required"}
            )
        register_secret(settings.passphrase)
        return {"pkey": load_private_key(settings.private_key, settings.passphrase)}
    if not settings.password:
        raise ConfigurationError("Enter the password.", fields={"password": "is required"})
    register_secret(settings.password)
    return {"password": settings.password}


def _method(settings: SftpSettings) -> str:
    return "private key" if settings.auth == "private_key" else "password"


def _mismatch(settings: SftpSettings, pinned: paramiko.PKey, got: paramiko.PKey) -> HostKeyMismatch:
    return HostKeyMismatch(
        f"The SFTP server {settings.where} presented a different host key than the pinned one: "
        f"{got.get_name()} {fingerprint(got)} instead of "
        f"{pinned.get_name()} {fingerprint(pinned)}. If the server's key was changed on "
        "purpose, test the connection again and accept the new key; otherwise someone may "
        "be intercepting the connection."
    )


@contextlib.contextmanager
def _connection_errors(settings: SftpSettings) -> Iterator[None]:
    """Turn socket and SSH failures while connecting into connector errors."""
    where = settings.where
    try:
        yield
    except socket.gaierror:
        raise ConnectorError(
            f"Cannot find the SFTP server {settings.host}: check the host name."
        ) from None
    except paramiko.ssh_exception.NoValidConnectionsError:
        raise RetryableError(
            f"The SFTP server {where} refused the connection: check the host and port, "
            "and that the server is running."
        ) from None
    except TimeoutError:
        raise RetryableError(
            f"The SFTP server {where} did not answer within {settings.timeout:g} seconds."
        ) from None
    except (ConnectorError, _KeyCaptured):
        raise
    except paramiko.SSHException as exc:
        raise RetryableError(
            f"The SSH handshake with {where} failed ({exc}); check that the port is an SFTP "
            "server's."
        ) from None
    except OSError as exc:
        raise RetryableError(
            f"Cannot reach the SFTP server {where}: {exc.strerror or exc}."
        ) from None


# --- the folder -------------------------------------------------------------------------


class SftpFolder:
    """The files of a remote folder, as the file-tracking code reads them."""

    def __init__(self, sftp: paramiko.SFTPClient, settings: SftpSettings) -> None:
        self.sftp = sftp
        self.settings = settings

    def list_files(self) -> list[SourceFile]:
        folder = self.settings.folder
        try:
            entries = self.sftp.listdir_attr(folder)
        except OSError as exc:
            raise self._error(f"Cannot list the folder {folder}", exc) from None
        return [
            SourceFile(
                path=posixpath.join(folder, entry.filename),
                name=entry.filename,
                size=int(entry.st_size or 0),
                mtime=int(entry.st_mtime or 0),
            )
            for entry in entries
            if stat.S_ISREG(entry.st_mode or 0) and self.settings.matches(entry.filename)
        ]

    def read_bytes(self, file: SourceFile) -> Iterator[bytes]:
        try:
            with self.sftp.open(file.path, "rb") as handle:
                offset = 0
                while offset < file.size:
                    end = min(offset + READ_REQUEST * READ_WINDOW, file.size)
                    requests = [
                        (start, min(READ_REQUEST, end - start))
                        for start in range(offset, end, READ_REQUEST)
                    ]
                    yield from handle.readv(requests)
                    offset = end
        except OSError as exc:
            raise self._error(f"Cannot read {file.name}", exc) from None
        except paramiko.SSHException as exc:
            raise RetryableError(
                f"The SFTP connection to {self.settings.where} failed while reading "
                f"{file.name} ({exc})."
            ) from None

    def check_archive_folder(self) -> None:
        folder = self.settings.archive_folder
        if folder is None:
            return
        try:
            attributes = self.sftp.stat(folder)
        except OSError as exc:
            raise self._error(f"Cannot use the archive folder {folder}", exc) from None
        if not stat.S_ISDIR(attributes.st_mode or 0):
            raise ConnectorError(f"The archive folder {folder} on the SFTP server is not a folder.")

    def archive(self, file: SourceFile) -> str:
        folder = self.settings.archive_folder or "."
        stem, extension = posixpath.splitext(file.name)
        target = posixpath.join(folder, file.name)
        number = 1
        # Keep earlier files of the same name: the server's rename does not overwrite.
        while self._exists(target):
            number += 1
            target = posixpath.join(folder, f"{stem}-{number}{extension}")
        try:
            self.sftp.rename(file.path, target)
        except OSError as exc:
            raise self._error(f"Cannot move {file.name} to {folder}", exc) from None
        return target

    def _exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
        except FileNotFoundError:
            return False
        return True

    def _error(self, what: str, exc: OSError) -> ConnectorError:
        if isinstance(exc, TimeoutError):
            return RetryableError(
                f"{what}: the SFTP server {self.settings.where} stopped answering."
            )
        if isinstance(exc, FileNotFoundError):
            return ConnectorError(f"{what}: it does not exist on the SFTP server.")
        if isinstance(exc, PermissionError):
            return ConnectorError(f"{what}: permission denied for user {self.settings.username}.")
        return ConnectorError(f"{what}: {exc.strerror or exc}.")


# --- the preset ------------------------------------------------------------------------


@register
class CustomSftpPreset(ConnectorPreset):
    id = "custom_sftp"
    display_name = "SFTP folder"
    category = Category.CUSTOM
    description = "CSV or Excel files from a folder on an SFTP server, read as they arrive."
    fields = FIELDS
    # Rows of one file per page.
    page_size: ClassVar[int] = PAGE_SIZE

    @classmethod
    def validate(cls, values: Any) -> dict[str, Any]:
        settings = super().validate(values)
        problems = check_format_settings(settings)
        port = settings.get("port", DEFAULT_PORT)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems["port"] = "must be a whole number from 1 to 65535"
        if not settings.get("timeout", 30) > 0:
            problems["timeout"] = "must be more than 0"
        if not SftpSettings.from_config(settings).patterns:
            problems["file_glob"] = "needs at least one pattern"
        raise_for_problems(cls.fields, problems)
        if settings.get("host_key"):
            parse_host_key(settings["host_key"])
        return settings

    def probe(self, config: SourceConfig) -> ProbeResult:
        settings = SftpSettings.from_config(config)
        if not settings.host_key:
            key = fetch_host_key(settings)
            return ProbeResult(
                account=f"{settings.username}@{settings.where}",
                message=(
                    f"The server presented the host key {key.get_name()} {fingerprint(key)}. "
                    "Check the fingerprint with the server's administrator and accept it; "
                    "the login is tested once the key is pinned."
                ),
                details=_key_details(key, pinned=False),
            )
        with open_sftp(settings) as sftp:
            folder = SftpFolder(sftp, settings)
            files = folder.list_files()
            folder.check_archive_folder()
        names = [file.name for file in sorted(files, key=lambda file: (file.mtime, file.name))]
        details = _key_details(parse_host_key(settings.host_key), pinned=True)
        details.update(matching_files=len(names), files=names[:PROBE_LISTING])
        return ProbeResult(
            account=f"{settings.username}@{settings.where}",
            message=(
                f"Connected. {len(names)} file(s) in the folder {settings.folder} match "
                f"{', '.join(settings.patterns)}."
            ),
            details=details,
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = SftpSettings.from_config(config)
        options = FileOptions.from_config(config)
        with open_sftp(settings) as sftp:
            folder = SftpFolder(sftp, settings)
            folder.check_archive_folder()
            yield from pull_files(
                folder,
                options,
                cursor,
                archive=settings.archive_folder is not None,
                page_size=self.page_size,
                checkpoint=config.check_cancelled,
            )

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        # Not the default (a pull): a pull would move files to the archive folder.
        settings = SftpSettings.from_config(config)
        with open_sftp(settings) as sftp:
            return sample_files(SftpFolder(sftp, settings), FileOptions.from_config(config), limit)


def _key_details(key: paramiko.PKey, *, pinned: bool) -> dict[str, Any]:
    return {
        "host_key_type": key.get_name(),
        "host_key_fingerprint": fingerprint(key),
        "host_key": host_key_text(key),
        "host_key_pinned": pinned,
    }
