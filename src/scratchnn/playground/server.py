"""The playground's web server: Starlette routes over a :class:`Registry`, run by uvicorn.

Listens on ``127.0.0.1`` only and answers only requests addressed to it by that name or
``localhost``. Every refused request gets status 4xx and ``{"error": message}``, changes
nothing, and leaves the server up. Frames reach the page as server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import __version__
from .recipe import parse_table
from .registry import Busy, Registry, UnknownSession
from .settings import (
    ACTIVATIONS,
    DATA_SETS,
    LIMITS,
    OPTIMIZERS,
    Settings,
    SettingsError,
    parse_settings,
)

STATIC = {
    "": ("index.html", "text/html; charset=utf-8"),
    "playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "playground.css": ("playground.css", "text/css; charset=utf-8"),
}
POLL_SECONDS = 0.01  # how often an event stream looks for a new frame
KEEP_ALIVE_SECONDS = 10.0


class TooLarge(SettingsError):
    """A request body over its limit (status 413)."""


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


DRAIN_LIMIT = 8 * 2**20  # bytes of a refused chunked body read before answering


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused once it passes ``limit`` bytes (read no further)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise TooLarge(f"the request has {length} bytes; the most is {limit:,}")
    chunks, size = [], 0
    body = request.stream()
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            # Read (and drop) a bounded rest of the same stream, so that a client still sending
            # gets the answer rather than a reset connection; past DRAIN_LIMIT, stop reading.
            try:
                async for rest in body:
                    size += len(rest)
                    if size > DRAIN_LIMIT:
                        break
            except ClientDisconnect:
                pass
            raise TooLarge(f"the request has more than {limit:,} bytes; the most is {limit:,}")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> Any:
    raw = await _body(request, LIMITS["request_bytes"])
    try:
        return json.loads(raw or b"{}")
    except (ValueError, RecursionError) as error:
        raise SettingsError(f"the request is not valid JSON: {error}") from None


def _guarded(handler: Callable) -> Callable:
    """Turn the playground's own errors into JSON answers; anything else is a 500 with text."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except TooLarge as error:
            return _error(str(error), 413)
        except Busy as error:
            return _error(str(error), 503)
        except SettingsError as error:
            return _error(str(error))
        except UnknownSession as error:
            return _error(str(error), 404)
        except Exception as error:  # noqa: BLE001  one bad request must not stop the server
            return _error(f"internal error: {type(error).__name__}: {error}", 500)

    return endpoint


def create_app(registry: Registry) -> Starlette:
    """The playground's routes over ``registry``'s sessions."""

    async def static(request: Request) -> Response:
        name, media_type = STATIC.get(request.path_params.get("name", ""), (None, None))
        if name is None:
            return _error("no such file", 404)
        text = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(text, media_type=media_type, headers={"Cache-Control": "no-store"})

    async def limits(request: Request) -> Response:
        return JSONResponse(_limits())

    async def create(request: Request) -> Response:
        session = await run_in_threadpool(registry.create)
        return JSONResponse({"id": session.id, "settings": session.settings.to_json()})

    def session_of(request: Request):
        return registry.get(request.path_params["id"])

    async def settings(request: Request) -> Response:
        session = session_of(request)
        values = await _json(request)
        new = parse_settings(values, session.settings)
        await run_in_threadpool(session.apply, new)
        return JSONResponse({"settings": session.settings.to_json()})

    async def upload(request: Request) -> Response:
        session = session_of(request)
        table = parse_table(await _body(request, LIMITS["upload_bytes"]))
        session.upload(table)
        return JSONResponse({"rows": len(table.y), "classes": list(table.names)})

    async def action(request: Request) -> Response:
        session = session_of(request)
        name = request.path_params["action"]
        actions = {"play": session.play, "pause": session.pause, "step": session.step,
                   "reset": session.reset}  # fmt: skip
        if name == "close":
            await run_in_threadpool(registry.remove, session.id)
            return JSONResponse({"state": "closed"})
        if name not in actions:
            return _error(f"unknown action {name!r}; known: {', '.join(actions)}, close", 404)
        await run_in_threadpool(actions[name])
        return JSONResponse({"state": session.state, "epochs": session.epochs})

    async def points(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(session_of(request).points))

    async def events(request: Request) -> Response:
        session = session_of(request)

        async def stream():
            session.streams += 1
            last, quiet = -1, 0.0
            try:
                yield "retry: 1000\n\n"
                while not (registry.closing.is_set() or session.closed):
                    number, text = session.frame()
                    if number != last:
                        last, quiet = number, 0.0
                        yield f"data: {text}\n\n"
                    elif quiet > KEEP_ALIVE_SECONDS:
                        quiet = 0.0
                        yield ": still here\n\n"
                    session.touch()
                    await asyncio.sleep(POLL_SECONDS)
                    quiet += POLL_SECONDS
            finally:
                session.streams -= 1
                session.touch()

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def download(request: Request) -> Response:
        session = session_of(request)
        kind = request.path_params["kind"]
        if kind == "script.py":
            return Response(await run_in_threadpool(session.script), media_type="text/x-python")
        if kind not in ("model.npz", "model.onnx"):
            return _error(
                f"unknown download {kind!r}; known: model.npz, model.onnx, script.py", 404
            )
        content = await run_in_threadpool(_model_file, session, kind)
        headers = {"Content-Disposition": f'attachment; filename="playground-{kind}"'}
        return Response(content, media_type="application/octet-stream", headers=headers)

    routes = [
        Route("/", _guarded(static)),
        Route("/static/{name}", _guarded(static)),
        Route("/api/limits", _guarded(limits)),
        Route("/api/sessions", _guarded(create), methods=["POST"]),
        Route("/api/sessions/{id}/settings", _guarded(settings), methods=["POST"]),
        Route("/api/sessions/{id}/upload", _guarded(upload), methods=["POST"]),
        Route("/api/sessions/{id}/points", _guarded(points)),
        Route("/api/sessions/{id}/events", _guarded(events)),
        Route("/api/sessions/{id}/{kind}", _guarded(download)),
        Route("/api/sessions/{id}/{action}", _guarded(action), methods=["POST"]),
    ]
    hosts = TrustedHostMiddleware, ["127.0.0.1", "localhost"]
    return Starlette(routes=routes, middleware=[Middleware(hosts[0], allowed_hosts=hosts[1])])


def _model_file(session: Any, kind: str) -> bytes:
    model = session.snapshot()[0]
    with tempfile.TemporaryDirectory(prefix="scratchnn-playground-") as folder:
        path = Path(folder) / kind
        if kind == "model.npz":
            model.save(path)
        else:
            try:
                model.to_onnx(path)
            except ImportError:
                raise SettingsError(
                    "the ONNX export needs the onnx package: pip install 'scratchnn[onnx]'"
                ) from None
        return path.read_bytes()


def _limits() -> dict[str, Any]:
    return {
        "limits": LIMITS,
        "defaults": Settings().to_json(),
        "choices": {"data": DATA_SETS, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS},
        "version": __version__,
    }


# -- running it ---------------------------------------------------------------------------------
class _Server(uvicorn.Server):
    """uvicorn, ending the event streams as soon as it is told to stop (they would hold it)."""

    def __init__(self, config: uvicorn.Config, registry: Registry) -> None:
        super().__init__(config)
        self.registry = registry

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.registry.closing.set()
        super().handle_exit(sig, frame)


def bind(port: int = 0) -> socket.socket:
    """A listening socket on ``127.0.0.1:port`` (0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise OSError(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}): choose another --port, or "
            "leave it out for a free one"
        ) from None
    sock.listen(128)
    return sock


def _server(sock: socket.socket, registry: Registry) -> _Server:
    config = uvicorn.Config(
        create_app(registry),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    return _Server(config, registry)


@contextlib.contextmanager
def running(port: int = 0, registry: Registry | None = None) -> Iterator[str]:
    """The playground served from a background thread; yields its address, stops on exit."""
    registry = Registry() if registry is None else registry
    sock = bind(port)
    server = _server(sock, registry)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        registry.closing.set()
        server.should_exit = True
        thread.join(timeout=10)
        registry.close()
        sock.close()


def serve(port: int = 0, open_browser: bool = False, print_fn: Callable = print) -> int:
    """Serve the playground until Ctrl-C; returns 0."""
    registry = Registry()
    sock = bind(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print_fn(f"scratchnn playground: {url} (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        _server(sock, registry).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped
        pass
    finally:
        registry.close()
        sock.close()
    print_fn("scratchnn playground: stopped", flush=True)
    return 0
