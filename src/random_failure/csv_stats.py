"""Stream a CSV object and count what it holds, without ever loading the whole file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class CsvStats:
    rows: int
    bytes: int
    columns: int


class _CountingReader(io.RawIOBase):
    """A raw stream over the S3 body that counts the bytes read through it."""

    def __init__(self, body: IO[bytes]):
        self._body = body
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        chunk = self._body.read(len(buffer))
        size = len(chunk)
        buffer[:size] = chunk
        self.bytes_read += size
        return size


def count_csv(body: IO[bytes]) -> CsvStats:
    """Count data rows (records after the header) and bytes of a UTF-8 CSV stream.

    Quoted fields may span lines; a byte-order mark is skipped. Invalid UTF-8 raises
    UnicodeDecodeError and malformed CSV raises csv.Error, both named errors the state machine
    catches and notifies.
    """
    counter = _CountingReader(body)
    text = io.TextIOWrapper(io.BufferedReader(counter, buffer_size=64 * 1024), encoding="utf-8-sig", newline="")
    records = 0
    columns = 0
    for record in csv.reader(text, strict=True):
        if records == 0:
            columns = len(record)
        records += 1
    return CsvStats(rows=max(records - 1, 0), bytes=counter.bytes_read, columns=columns)
