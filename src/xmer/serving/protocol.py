"""The HTTP protocol ``xmer serve`` runs uvicorn with: uvicorn's own (h11), except that a request it
cannot parse as HTTP (a malformed ``Content-Length``, a broken request line) is answered like every
other error of the service, ``{"error": "..."}`` with status 400, instead of uvicorn's plain text.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class JsonErrorsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose answer to an unparseable request is JSON."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": f"malformed HTTP request ({msg.rstrip('.')}); the connection is closed"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
