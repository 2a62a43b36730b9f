"""The sessions of one server: one per browser tab, at most ``LIMITS["sessions"]``, idle ones freed.

A session is busy while it has a request or an open event stream; one quiet for
``idle_seconds`` is closed (its worker stopped) by a sweeper thread, and its tab is told to
reload if it comes back.
"""

from __future__ import annotations

import threading
import time

from .session import Session
from .settings import LIMITS, SettingsError


class Busy(SettingsError):
    """As many sessions as the server keeps are open (status 503)."""


class UnknownSession(LookupError):
    """A request for a session that does not exist (never did, or was freed)."""


class Registry:
    """Sessions by id, created on request and freed when idle."""

    def __init__(
        self, max_sessions: int = LIMITS["sessions"], idle_seconds: float = LIMITS["idle_seconds"]
    ) -> None:
        self.max_sessions, self.idle_seconds = max_sessions, idle_seconds
        self.closing = threading.Event()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._sweeper = threading.Thread(target=self._sweep, name="playground-sweeper", daemon=True)
        self._sweeper.start()

    def create(self) -> Session:
        self.free_idle()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise Busy(
                    f"{len(self._sessions)} tabs have a playground open already (the most is "
                    f"{self.max_sessions}): close one, or wait for idle ones to be freed after "
                    f"{self.idle_seconds:g} s"
                )
            session = Session()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(
                "this page's session is gone (freed after being idle, or the server restarted): "
                "reload the page"
            )
        session.touch()
        return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def remove(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()

    def free_idle(self) -> list[str]:
        """Close the sessions with no stream and no request for ``idle_seconds``."""
        now = time.monotonic()
        with self._lock:
            idle = [
                key
                for key, session in self._sessions.items()
                if session.streams == 0 and now - session.touched > self.idle_seconds
            ]
        for key in idle:
            self.remove(key)
        return idle

    def _sweep(self) -> None:
        while not self.closing.wait(min(5.0, self.idle_seconds / 2)):
            self.free_idle()

    def close(self) -> None:
        """Stop the sweeper and every session's worker."""
        self.closing.set()
        with self._lock:
            keys = list(self._sessions)
        for key in keys:
            self.remove(key)
