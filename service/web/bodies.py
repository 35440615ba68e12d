"""Request bodies read whole or refused: the size limit whatever the framing, and JSON of any nesting.

Flask's ``MAX_CONTENT_LENGTH`` (``LETHE_MAX_BODY_BYTES``) refuses a body whose
``Content-Length`` is over the limit. A chunked body has none: werkzeug reads it
through a :class:`~werkzeug.wsgi.LimitedStream` whose ``readall`` stops at the
limit and hands on what it has read so far, without looking whether more
follows. :class:`Request` looks: a body with one byte past the limit is a
``payload-too-large`` (413) before any view sees a byte of it.

JSON nested deeper than Python's recursion limit makes the standard parser raise
``RecursionError``; :class:`JSONProvider` turns it into the ``ValueError`` of any
other malformed JSON, so the request is a ``bad-request`` (400).
"""

from __future__ import annotations

from typing import IO, Any

from flask import Request as FlaskRequest
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class _BoundedStream(LimitedStream):
    """A stream cut at the body limit that refuses, rather than truncates, a body that goes on past it."""

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return data


class Request(FlaskRequest):
    """Flask's request, with :class:`_BoundedStream` for bodies without a ``Content-Length`` (chunked)."""

    @cached_property
    def stream(self) -> IO[bytes]:
        # werkzeug's own first: its checks of a shallow request and of a Content-Length over the limit.
        stream: IO[bytes] = FlaskRequest.stream.fget(self)  # type: ignore[attr-defined]
        limit = self.max_content_length
        if limit is not None and self.content_length is None and "wsgi.input_terminated" in self.environ:
            return _BoundedStream(self.environ["wsgi.input"], limit, is_max=True)  # type: ignore[return-value]
        return stream


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON (keys in the order written), where nesting too deep to parse is malformed JSON like any other."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None
