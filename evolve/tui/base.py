"""A screen that polls the archive: a cheap change token each tick, the full load only when it moved."""
from __future__ import annotations

from typing import Any

from textual import work
from textual.screen import Screen
from textual.worker import get_current_worker


class PollingScreen(Screen):
    """Subclasses implement `fetch()` (runs in a thread) and `show(data)` (runs on the UI thread)."""

    loads = 0  # completed loads, for tests and the benchmark

    def token(self) -> Any:
        """A cheap fingerprint of what this screen shows; None means always reload."""
        return None

    def fetch(self) -> Any:
        raise NotImplementedError

    def show(self, data: Any) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        self._last_token: Any = object()
        self.reload()
        self.set_interval(self.app.poll_interval, self.poll)

    def poll(self) -> None:
        if self.app.screen is self:  # screens under a modal or pushed over stay quiet
            self._load(check_token=True)

    def reload(self) -> None:
        self._load(check_token=False)

    @work(thread=True, exclusive=True, group="poll")
    def _load(self, check_token: bool) -> None:
        worker = get_current_worker()
        try:
            token = self.token()
            if check_token and token is not None and token == self._last_token:
                return
            data = self.fetch()
        except Exception as exc:  # a database hiccup must not kill the view; say what happened
            if not worker.is_cancelled:
                self.app.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", title="load failed",
                                          severity="error")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply, token, data)

    def _apply(self, token: Any, data: Any) -> None:
        self._last_token = token
        self.show(data)
        self.loads += 1
