"""What every fake server here shares: a record of requests, and scripted answers
(failures, delays) that match by method and path regex, each used a number of times."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    """One request a fake received, the status it answered, and its query parameters."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    pattern: re.Pattern[str]
    method: str | None
    status: int | None
    body: Any
    headers: dict[str, str]
    delay_s: float
    times: int | None
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return (self.method is None or self.method == method) and bool(self.pattern.search(path))


class ScriptedFake:
    """Base of the fakes: `requests`, `script`, `delay_next`, `find`, `clear`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._scripts: list[Script] = []

    def script(
        self,
        path_regex: str,
        *,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Answer matching requests with `status`/`body`/`headers` (status None: answer
        normally), after `delay_s` seconds."""
        self._scripts.append(
            Script(re.compile(path_regex), method.upper() if method else None, status, body,
                   dict(headers or {}), delay_s, times)
        )

    def delay_next(
        self, path_regex: str, seconds: float, *, times: int | None = 1, method: str | None = None
    ) -> None:
        """The next `times` matching requests are answered normally after `seconds`."""
        self.script(path_regex, delay_s=seconds, times=times, method=method)

    def find(self, *, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method and/or whose path matches the regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        ]

    def clear(self) -> None:
        self.requests.clear()
        self._scripts.clear()

    def _next_script(self, method: str, path: str) -> Script | None:
        """The first script that matches, counted as used."""
        script = next((s for s in self._scripts if s.matches(method, path)), None)
        if script is not None:
            script.used += 1
        return script
