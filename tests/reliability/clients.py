"""HTTP clients that load a server from threads and remember every answer they got."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.reliability.support import FIGURES

# Long enough for a starved two-core CI machine; a hung server still fails the test.
TIMEOUT = 60.0
# Unexpected answers kept whole for the failure message.
KEPT = 20


@dataclass
class Answers:
    """Status counts by route, and the first few answers that were not as expected."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, route: str, status: int) -> None:
        with self._lock:
            self.statuses[(route, status)] += 1

    def flag(self, what: str) -> None:
        """Keep an answer that was not as expected, for the failure message."""
        with self._lock:
            if len(self.unexpected) < KEPT:
                self.unexpected.append(what[:600])

    def server_errors(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return {key: n for key, n in self.statuses.items() if key[1] >= 500 or key[1] == 0}


class Client:
    """A keep-alive session to one server with an API key; counts what it sends."""

    def __init__(self, base_url: str, key: str | None, answers: Answers) -> None:
        self.base_url = base_url
        self.answers = answers
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(
        self, method: str, path_or_url: str, route: str | None = None, **kwargs: Any
    ) -> requests.Response | None:
        """The answer, or None when the connection failed (noted as status 0)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        route = route or method + " " + path_or_url.split("?", 1)[0]
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            self.answers.note(route, 0)
            self.answers.flag(f"{route}: no answer ({type(exc).__name__}: {exc})")
            return None
        FIGURES.add("requests served")
        self.answers.note(route, response.status_code)
        return response

    def get(self, path_or_url: str, route: str | None = None, **kwargs: Any) -> requests.Response:
        response = self.request("GET", path_or_url, route, **kwargs)
        if response is None:
            raise ConnectionError(f"GET {path_or_url}: no answer")
        return response

    def close(self) -> None:
        self.session.close()


class LoadThread(threading.Thread):
    """Calls ``step`` until ``stopping`` is set, pausing ``pause`` s between calls.

    An exception ends the thread; :meth:`finish` raises it in the test's thread.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        stopping: threading.Event,
        pause: float = 0.0,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.step = step
        self.stopping = stopping
        self.pause = pause
        self.error: Exception | None = None
        self.steps = 0

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.step()
                self.steps += 1
                self.stopping.wait(self.pause)
        except Exception as exc:  # noqa: BLE001 - handed to the test by finish()
            self.error = exc

    def finish(self, timeout: float = 120) -> None:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"load thread {self.name} did not stop within {timeout:.0f} s")
        if self.error is not None:
            raise AssertionError(f"load thread {self.name} failed: {self.error!r}") from self.error


def odata_pages(client: Client, path: str, max_page: int = 250) -> int:
    """Read an OData collection to its end, following ``@odata.nextLink``; rows read."""
    url: str | None = path
    rows = 0
    while url:
        response = client.get(
            url,
            route="GET " + path.split("?", 1)[0],
            headers={"Prefer": f"odata.maxpagesize={max_page}"},
        )
        if response.status_code != 200:
            client.answers.flag(f"GET {url}: {response.status_code} {response.text}")
            return rows
        page = response.json()
        rows += len(page["value"])
        url = page.get("@odata.nextLink")
    return rows
