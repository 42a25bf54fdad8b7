"""An ASGI app served by uvicorn on 127.0.0.1 in a background thread: how the HTTP simulators run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import uvicorn

from simulators.broker import free_port

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """Serves ``make_app()`` until :meth:`stop`; a context manager that starts and stops it."""

    def __init__(self, make_app: Callable[[], Any], name: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self._name = name
        config = uvicorn.Config(make_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start serving and wait until it listens."""
        self._thread.start()
        deadline = time.monotonic() + 60  # a fresh database runs every migration first: slow on a busy machine
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
