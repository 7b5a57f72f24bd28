"""An incremental multipart/form-data reader (RFC 7578): parts are read one at a time from a stream of chunks,
so a file part of any size passes through a buffer of about one chunk and never sits whole in memory.

Pure: no web framework, no disk. Malformed input raises `errors.ParseError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from incidentd.errors import ParseError

MAX_HEADER_BYTES = 8 * 1024
_HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class PartHeaders:
    name: str
    filename: str | None
    content_type: str | None


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type header; ParseError for any other type."""
    message = Message()
    message["content-type"] = content_type or ""
    boundary = message.get_param("boundary")
    if message.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ParseError("the upload must be multipart/form-data with a boundary")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise ParseError("the multipart boundary must be 1 to 70 ASCII characters")
    return boundary.encode("ascii")


class MultipartReader:
    """Reads the parts of one multipart body in order: `next_part()`, then the part's data with `data()` (or skip it
    by calling `next_part()` again)."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        # The first delimiter has no leading CRLF; giving it one lets every delimiter be found the same way.
        self._buffer = bytearray(b"\r\n")
        self._delimiter = b"\r\n--" + boundary
        self._exhausted = False
        self._started = False  # the preamble (anything before the first delimiter) has been skipped
        self._in_part = False  # positioned inside a part's data (not yet at its closing delimiter)
        self._finished = False  # the closing delimiter has been read

    async def _fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the stream."""
        if self._exhausted:
            return False
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._exhausted = True
            return False
        self._buffer += chunk
        return True

    async def next_part(self) -> PartHeaders | None:
        """Advance to the next part and read its headers; None after the last part."""
        if self._finished:
            return None
        if not self._started:
            await self._skip_to_delimiter()
            self._started = True
        elif self._in_part:
            async for _ in self.data():
                pass
        # After a delimiter: `--` closes the body; otherwise optional blanks, CRLF, the part's headers, CRLF CRLF.
        while len(self._buffer) < 2:
            if not await self._fill():
                raise ParseError("the multipart body ends inside a delimiter")
        if self._buffer[:2] == b"--":
            self._finished = True
            return None
        end = self._buffer.find(_HEADER_END)
        while end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise ParseError(f"multipart part headers exceed {MAX_HEADER_BYTES} bytes")
            if not await self._fill():
                raise ParseError("the multipart body ends inside part headers")
            end = self._buffer.find(_HEADER_END)
        if end > MAX_HEADER_BYTES:
            raise ParseError(f"multipart part headers exceed {MAX_HEADER_BYTES} bytes")
        head = bytes(self._buffer[:end]).lstrip(b" \t")
        if end > 0 and not head.startswith(b"\r\n"):
            raise ParseError("a multipart delimiter is not followed by a line break")
        del self._buffer[: end + len(_HEADER_END)]
        self._in_part = True
        return _parse_headers(head[2:])

    async def _skip_to_delimiter(self) -> None:
        """Drop the preamble before the first delimiter."""
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                del self._buffer[: index + len(self._delimiter)]
                return
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]
            if not await self._fill():
                raise ParseError("the multipart body has no delimiter")

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's data, in pieces no larger than the chunks received."""
        keep = len(self._delimiter) - 1
        while self._in_part:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                piece = bytes(self._buffer[:index])
                del self._buffer[: index + len(self._delimiter)]
                self._in_part = False
                if piece:
                    yield piece
                return
            # Everything but a tail that may be the start of a delimiter split across chunks is part data.
            if len(self._buffer) > keep:
                piece = bytes(self._buffer[: len(self._buffer) - keep])
                del self._buffer[: len(piece)]
                yield piece
            if not await self._fill():
                raise ParseError("the multipart body ends inside a part")

    async def value(self, *, limit: int) -> bytes:
        """The current part's data whole (a small form field); ParseError when it exceeds `limit` bytes."""
        collected = bytearray()
        async for piece in self.data():
            collected += piece
            if len(collected) > limit:
                raise ParseError(f"a multipart form field exceeds {limit} bytes")
        return bytes(collected)


def _parse_headers(block: bytes) -> PartHeaders:
    message = Message()
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        if not line:
            continue
        header, colon, value = line.partition(":")
        if not colon:
            raise ParseError("a multipart part header has no ':'")
        message[header.strip()] = value.strip()
    if message.get_content_disposition() != "form-data":
        raise ParseError("every multipart part needs Content-Disposition: form-data")
    name = message.get_param("name", header="content-disposition")
    if isinstance(name, tuple):  # an RFC 2231 encoded name
        name = collapse_rfc2231_value(name)
    if not isinstance(name, str):
        raise ParseError("a multipart part has no name")
    content_type = message["content-type"]
    return PartHeaders(name=name, filename=message.get_filename(), content_type=content_type)
