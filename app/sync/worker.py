"""Reading and mapping in a worker process while this process writes.

A sync's time goes to reading the source, mapping its records into rows and
writing them. Python runs one thread at a time per process (and a thread that
reads while another writes slows the writer down), so for presets whose reads
have no side effects (``read_ahead``) a big sync hands reading and mapping to a
child process and keeps only the writing: the two run on two cores.

The sync's guarantees stay with this process:

- every page is stored here, in order, with its cursor in one transaction;
- the child starts from the cursor of the last page stored here, exactly as a
  sync resumed after a crash would (the caller makes sure the pull goes on
  after that page);
- the child reads at most :data:`AHEAD` pages ahead of what this process has
  taken, so memory stays flat however long the pull;
- errors of the source are raised here as they would have been raised in this
  process (:class:`ConnectorError` and its subclasses keep their class and
  message); anything else becomes :class:`WorkerFailed`, with the child's
  traceback for the log;
- secrets or settings the preset learns are saved here, in order with the
  pages; log records of the child are masked there and handled here by the
  loggers of the same names;
- cancelling stops the waiting at once; the child is asked to stop, and ended
  if it lingers. It also stops when this process dies (its control pipe
  closes), ignores Ctrl-C (this process decides), and is always joined.

The child converts values by this process's row plan (named steps that need
no SQLAlchemy, see :mod:`app.sync.rows`), and proves it before it is used: its
conversion of a probe row must equal ours. Starting Python and importing takes
a few tenths of a second.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from app.connectors.base import ConnectorPreset, Cursor, SourceConfig
from app.connectors.errors import ConnectorError
from app.redaction import SecretMaskingFilter, mask_text, register_secret
from app.sync.deletions import split_deleted
from app.sync.rows import PreparedPage, RowFormat, RowPlan, map_records

log = logging.getLogger(__name__)

# Pages the child may send before this process has taken them.
AHEAD = 2
# How often a wait for the child looks at the cancel flag, in seconds.
POLL_SECONDS = 0.1
# How long a stopping child is given to report and end before it is ended.
STOP_SECONDS = 1.0


class WorkerFailed(RuntimeError):
    """The child failed with an error that is not the source's, or died."""


@dataclass(frozen=True)
class Job:
    """What the child needs besides the cursor and the settings."""

    # The preset class by module and name: imported by the child where a failure
    # is reported to this process rather than printed.
    preset_module: str
    preset_class: str
    connector_id: int
    workspace_id: int
    mapping: dict[str, Any]
    # How values are converted for the store (made portable: named steps only).
    plan: RowPlan
    log_levels: dict[str, int]


def log_levels() -> dict[str, int]:
    """The levels set on this process's loggers (``""`` is the root), for the child."""
    levels = {"": logging.getLogger().level}
    # A copy: another thread may create a logger meanwhile.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


class PullWorker:
    """A child process that reads a preset's pages and maps them into rows."""

    def __init__(self, job: Job, probe: list[tuple[Any, ...]]) -> None:
        context = multiprocessing.get_context("spawn")  # fork is unsafe with threads
        self._data, child_data = context.Pipe(duplex=False)
        child_control, self._control = context.Pipe(duplex=False)
        self._process = context.Process(
            target=serve, args=(child_control, child_data, job), name="sync-worker", daemon=True
        )
        self._probe = probe
        self._ready = False
        self._started = False
        self._process.start()
        # Each end is used by one process only; closing ours lets each see the other go.
        child_data.close()
        child_control.close()

    def ready(self) -> bool:
        """True once the child is up and converts as we do; never blocks.

        Raises:
            WorkerFailed: the child failed to start or converts differently.
        """
        while not self._ready and self._poll(0):
            message = self._receive()
            if message[0] == "log":
                _emit(message[1])
            elif message[0] != "ready":
                raise WorkerFailed(f"the sync worker failed to start: {_describe(message)}")
            elif message[1] != self._probe:
                raise WorkerFailed("the sync worker converts values differently")
            else:
                self._ready = True
        return self._ready

    def pages(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[PreparedPage]:
        """Pull from ``cursor`` in the child and yield its pages as they come, in order."""
        self._started = True
        self._send(("start", cursor, dict(config.values)))
        while True:
            message = self._next(config)
            kind = message[0]
            if kind == "page":
                _, rows, rejected, page_cursor, total, deleted = message
                # A child done with its last page may be gone: what it sent still counts.
                with contextlib.suppress(OSError, ValueError):
                    self._control.send(("more",))
                yield PreparedPage(rows, rejected, page_cursor, total, deleted)
            elif kind == "done":
                return
            elif kind == "error":
                raise message[1]
            elif kind == "crash":
                raise WorkerFailed(f"the sync worker failed:\n{message[1]}")
            else:
                self._side_message(message, config)

    def close(self, config: SourceConfig | None = None) -> None:
        """Stop the child, saving what it still reports of learned secrets and settings."""
        with contextlib.suppress(OSError, ValueError):
            self._control.send(("stop",))
        self._control.close()
        if self._started:
            # A pulling child may have learned a secret (a rotated token) to save.
            deadline = time.monotonic() + STOP_SECONDS
            with contextlib.suppress(OSError, EOFError, WorkerFailed):
                while (left := deadline - time.monotonic()) > 0 and self._data.poll(left):
                    message = self._data.recv()
                    if config is not None and message[0] in ("secrets", "settings", "log"):
                        self._side_message(message, config)
            self._process.join(max(deadline - time.monotonic(), 0.1))
        self._data.close()
        if self._process.is_alive():
            # Reading has no side effects: ending the child mid-request loses nothing.
            self._process.terminate()
            self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process.close()

    def _side_message(self, message: tuple[Any, ...], config: SourceConfig) -> None:
        kind = message[0]
        if kind == "log":
            _emit(message[1])
        elif kind == "secrets":
            config.remember_secrets(message[1])
        elif kind == "settings":
            config.remember_settings(message[1])
        else:
            raise WorkerFailed(f"the sync worker sent {kind!r} out of turn")

    def _next(self, config: SourceConfig) -> tuple[Any, ...]:
        while not self._poll(POLL_SECONDS):
            config.check_cancelled()
            if not self._process.is_alive() and not self._poll(0):
                break
        config.check_cancelled()
        return self._receive()

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self._control.send(message)
        except (OSError, ValueError):
            raise WorkerFailed(self._gone()) from None

    def _poll(self, timeout: float) -> bool:
        try:
            return self._data.poll(timeout)
        except (OSError, ValueError):
            raise WorkerFailed(self._gone()) from None

    def _receive(self) -> tuple[Any, ...]:
        try:
            return self._data.recv()
        except (EOFError, OSError, ValueError):
            raise WorkerFailed(self._gone()) from None

    def _gone(self) -> str:
        self._process.join(STOP_SECONDS)  # a child that closed its pipe is ending
        code = self._process.exitcode
        if code is None:
            return "the sync worker closed its pipe"
        return f"the sync worker stopped (exit code {code})"


def _describe(message: tuple[Any, ...]) -> str:
    if message[0] == "error":
        return str(message[1])
    if message[0] == "crash":
        return "\n" + str(message[1])
    return repr(message[0])


def _emit(fields: dict[str, Any]) -> None:
    """Handle a record of the child here, as if this process had logged it."""
    record = logging.makeLogRecord(fields)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


# -- the child ------------------------------------------------------------------


class _Control:
    """The child's side of the control pipe, read on a thread of its own."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.started = threading.Event()
        self.stopped = threading.Event()
        # Set on stop: the preset's HTTP client gives up its waits on it.
        self.cancel = threading.Event()
        self.credits = threading.Semaphore(AHEAD)
        self.start: tuple[Cursor | None, dict[str, Any]] | None = None
        self.thread = threading.Thread(target=self._listen, name="sync-worker-control", daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        try:
            while True:
                message = self.connection.recv()
                if message[0] == "start":
                    self.start = (message[1], message[2])
                    self.started.set()
                elif message[0] == "more":
                    self.credits.release()
                else:
                    break
        except (EOFError, OSError):
            pass  # the parent is gone or closed the pipe: stop as asked
        self.stopped.set()
        self.cancel.set()
        self.started.set()
        self.credits.release()

    def credit(self) -> bool:
        """Wait until the parent takes another page; False once told to stop."""
        self.credits.acquire()
        return not self.stopped.is_set()


class _Forward(logging.Handler):
    """Sends the child's log records, masked, to the parent."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self.send = send
        self.addFilter(SecretMaskingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in ("args", "exc_info", "msg", "message")
        }
        fields["msg"] = record.getMessage()
        fields["args"] = None
        with contextlib.suppress(Exception):  # a log line must never stop the sync
            self.send(("log", fields))


def serve(control_connection: Connection, data: Connection, job: Job) -> None:
    """The child's entry point: pull, map and send pages until done or told to stop."""
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            data.send(message)

    root = logging.getLogger()
    root.addHandler(_Forward(send))
    for name, level in job.log_levels.items():
        logging.getLogger(name or None).setLevel(level)
    control = _Control(control_connection)
    try:
        _pull(job, control, send)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        if not control.stopped.is_set():
            with contextlib.suppress(OSError, ValueError):
                send(_failure(exc))
    finally:
        data.close()
        control_connection.close()


def _pull(job: Job, control: _Control, send: Any) -> None:
    from app.mapping import validate_mapping

    preset_class = getattr(importlib.import_module(job.preset_module), job.preset_class)
    if not (isinstance(preset_class, type) and issubclass(preset_class, ConnectorPreset)):
        raise TypeError(f"{job.preset_module}.{job.preset_class} is not a connector preset")
    mapping = validate_mapping(job.mapping)
    form = RowFormat(job.plan)
    send(("ready", form.probe()))
    control.started.wait()
    if control.stopped.is_set() or control.start is None:
        return
    cursor, values = control.start
    preset = preset_class()
    for name in preset.secret_fields():
        register_secret(values.get(name))
    config = SourceConfig(
        values=values,
        connector_id=job.connector_id,
        save_secrets=lambda updates: send(("secrets", updates)),
        save_settings=lambda updates: send(("settings", updates)),
        cancel=control.cancel,
    )
    pages = preset.pull(config, cursor)
    try:
        for page in pages:
            records, deleted = split_deleted(page.records)
            rows, rejected = map_records(mapping, form, job.connector_id, job.workspace_id, records)
            if not control.credit():
                return
            send(("page", rows, rejected, page.cursor, page.total, deleted))
        send(("done",))
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _failure(exc: BaseException) -> tuple[Any, ...]:
    """The report of an error: the error itself if it crosses intact, else its traceback."""
    if isinstance(exc, ConnectorError):
        try:
            copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object, just made
        except Exception:  # noqa: BLE001 - sent as a traceback instead
            copy = None
        if type(copy) is type(exc) and str(copy) == str(exc):
            return ("error", exc)
    text = "".join(traceback.format_exception(exc))
    return ("crash", mask_text(text))
