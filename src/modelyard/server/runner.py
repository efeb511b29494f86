"""Running the model server: one process, or several worker processes on one port.

With ``workers > 1`` this process binds the socket and starts the workers (``spawn``: a fork
would copy thread pools and connections), hands each the socket (the kernel spreads the
connections), restarts a worker that dies, and on SIGINT / SIGTERM stops them all gracefully:
each finishes its requests and flushes its prediction log. Only the first worker records the
deployment history, so a restart of N workers is one event, not N.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from modelyard.config import Settings
from modelyard.serving import AccessLog, DeploymentsSpec, ModelServer

__all__ = ["serve_models"]

log = logging.getLogger("modelyard.server")


def _config(app: Any, host: str, port: int, log_level: str, proxy_headers: bool) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=proxy_headers,  # off by default: one ASGI layer less per request
        loop="uvloop",
        http="httptools",
        access_log=False,  # ours is structured and written in the background
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
    )


def _app(spec: DeploymentsSpec, settings: Settings, first: bool) -> Any:
    from modelyard.server.models import create_app
    from modelyard.storage import Workspace

    server = ModelServer(spec, workspace=Workspace(settings), record_history=first)
    access = AccessLog() if spec.server.access_log else None
    return create_app(server, access_log=access)


def serve_models(
    spec: DeploymentsSpec,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until interrupted."""
    import uvicorn

    if workers <= 1:
        with _quiet_signals():
            app = _app(spec, settings, True)
            uvicorn.Server(_config(app, host, port, log_level, spec.server.proxy_headers)).run()
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    _Supervisor(spec, settings, sock, host, port, workers, log_level).run()


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    """uvicorn handles SIGINT / SIGTERM (a graceful stop), then raises the signal again for the
    handler that was there before; with this one there, a clean stop exits with status 0."""
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(
    spec: DeploymentsSpec,
    settings: Settings,
    sock: socket.socket,
    host: str,
    port: int,
    index: int,
    log_level: str,
) -> None:
    import uvicorn

    app = _app(spec, settings, index == 0)
    config = _config(app, host, port, log_level, spec.server.proxy_headers)
    config.configure_logging()
    with _quiet_signals():
        uvicorn.Server(config).run(sockets=[sock])


class _Supervisor:
    def __init__(
        self,
        spec: DeploymentsSpec,
        settings: Settings,
        sock: socket.socket,
        host: str,
        port: int,
        workers: int,
        log_level: str,
    ) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.args = (spec, settings, sock, host, port)
        self.log_level = log_level
        self.procs: list[Any] = [None] * workers
        self.stopping = False

    def _start(self, index: int) -> None:
        proc = self.context.Process(
            target=_worker,
            args=(*self.args, index, self.log_level),
            name=f"modelyard-serve-{index}",
        )
        proc.start()
        self.procs[index] = proc

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for i in range(len(self.procs)):
                self._start(i)
            while not self.stopping:
                time.sleep(0.5)
                for i, proc in enumerate(self.procs):
                    if not self.stopping and not proc.is_alive():
                        log.warning("worker %d exited with %s; starting it again", i, proc.exitcode)
                        self._start(i)
        finally:
            for proc in self.procs:
                if proc is not None and proc.is_alive():
                    proc.terminate()  # SIGTERM: uvicorn finishes requests and runs the shutdown
            for proc in self.procs:
                if proc is not None:
                    proc.join(60)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.args[2].close()
            sys.stdout.flush()
