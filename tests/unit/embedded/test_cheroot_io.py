"""cheroot_io.LineReader reads what cheroot's own reader reads, line by line, whatever the
lines, the sizes asked for and how the bytes arrive (within the buffer or across refills)."""

from __future__ import annotations

import socket

from cheroot import makefile
from hypothesis import given, settings
from hypothesis import strategies as st

from serverless_testbed.embedded.moto.cheroot_io import LineReader, http_date

BUFFER = 64  # small, so lines cross the buffer's refills


def _read_lines(reader_class: type, data: bytes, sizes: list[int | None]) -> list[bytes]:
    sender, receiver = socket.socketpair()
    try:
        sender.sendall(data)
        sender.shutdown(socket.SHUT_WR)
        reader = reader_class(receiver, "rb", BUFFER)
        lines = []
        for size in sizes:
            lines.append(reader.readline() if size is None else reader.readline(size))
        lines.append(reader.read())  # what is left
        assert reader.bytes_read == len(data)
        return lines
    finally:
        sender.close()
        receiver.close()


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=150).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    ending=st.sampled_from([b"\n", b"\r\n"]),
    tail=st.binary(max_size=20),
    sizes=st.lists(st.one_of(st.none(), st.integers(-1, 200)), max_size=16),
)
def test_line_reader_reads_what_cheroots_reader_reads(
    lines: list[bytes], ending: bytes, tail: bytes, sizes: list[int | None]
) -> None:
    data = b"".join(line + ending for line in lines) + tail
    expected = _read_lines(makefile.StreamReader, data, sizes)
    assert _read_lines(LineReader, data, sizes) == expected


def test_a_request_head_reads_line_by_line() -> None:
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: A.B\r\n\r\n{}"
    assert _read_lines(LineReader, head, [None] * 4) == [
        b"POST / HTTP/1.1\r\n",
        b"Host: 127.0.0.1\r\n",
        b"X-Amz-Target: A.B\r\n",
        b"\r\n",
        b"{}",
    ]


def test_the_http_date_is_an_rfc_7231_date() -> None:
    day, date = http_date().split(", ")
    assert day in {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
    assert date.endswith(" GMT") and len(date) == len("30 Nov 2026 06:15:56 GMT")
