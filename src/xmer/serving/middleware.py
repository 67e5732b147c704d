"""The ASGI middleware that caps every request's body size and time (:class:`ServeLimits`)."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.exceptions import HTTPException

from xmer.serving.limits import ServeLimits

log = logging.getLogger("xmer.serving")


class LimitsMiddleware:
    """Pure ASGI middleware: refuses a body over ``max_body_bytes`` (by its Content-Length, and by
    counting what arrives, for chunked bodies) with 413, and ends a request that runs past
    ``request_timeout_s`` with 408 (body still arriving) or 504. Errors are JSON ``{"error": ...}``."""

    def __init__(self, app, limits: ServeLimits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.max_body_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():  # the HTTP parser catches most; never trust it to
                return await _answer(send, 400, f"Content-Length {declared[:40].decode('latin-1')!r} is not a byte count")
            if int(declared) > limit:
                return await _answer(send, 413, f"request body of {int(declared)} bytes is over this server's limit of {limit} bytes")
        state = {"received": 0, "started": False,
                 "body_done": declared in (None, b"0") and b"transfer-encoding" not in headers}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    raise BodyTooLarge(limit)
                state["body_done"] = not message.get("more_body", False)
            return message

        async def watched_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, counted_receive, watched_send), self.limits.request_timeout_s)
        except BodyTooLarge as error:  # when raised outside the app's own error handling
            if not state["started"]:
                await _answer(send, 413, error.detail)
        except asyncio.TimeoutError:
            log.warning("%s %s: no answer within %g s", scope.get("method"), scope.get("path"), self.limits.request_timeout_s)
            if not state["started"]:
                if state["body_done"]:
                    await _answer(send, 504, f"the request took longer than this server's limit of {self.limits.request_timeout_s:g} s")
                else:
                    await _answer(send, 408, f"the request body did not arrive within {self.limits.request_timeout_s:g} s")


class BodyTooLarge(HTTPException):
    """The body grew past the limit while arriving (an HTTPException, so FastAPI's body parsing
    passes it on to the app's handler, which answers 413)."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over this server's limit of {limit} bytes")


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
