"""Parsing a claim file in a second process, pipelined with the database writes.

On a multi-core machine the feeder's own work is two halves of similar size: decoding and
checking lines (pure CPU, `feed/claims.py`) and filing chunks (sealing, the database). The
parser process reads and checks chunk k+1 while the feeder files chunk k. It touches no
database, key or health-data store: it only turns the file into checked lines, sent back as
msgpack frames on its stdout (an 8-byte length, then the chunk). At most one chunk waits in the
pipe (the pipe's own backpressure), so memory stays bounded. If the feeder dies, the parser's
next write fails (broken pipe) and it stops.

    python -m opendmp.feed.pipeline FILE KIND YYYY-MM-DD CHUNK_LINES
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

import msgspec

from opendmp.feed import claims

_LENGTH = struct.Struct("<Q")


class Chunk(msgspec.Struct, array_like=True):
    """Up to `chunk_lines` good lines, with the lines refused while reading them (in file order:
    the rejects come before the chunk that follows them is filed, as in the one-process path)."""

    lines: list[tuple[int, str, claims.Claim]]
    rejected: list[tuple[int, str, str | None]]
    read: int  # lines read for this chunk (blank lines excepted)
    position: int  # bytes of the file read so far (the progress bar)
    error: str | None = None  # the file could not be read further (OSError)
    done: bool = False


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Chunk).decode


def parse(path: str, kind: str, today: date, chunk_lines: int, out: IO[bytes]) -> None:
    """The parser process's work: the file as frames of checked chunks on `out`."""

    def send(chunk: Chunk) -> None:
        payload = _encode(chunk)
        out.write(_LENGTH.pack(len(payload)))
        out.write(payload)
        out.flush()

    lines: list[tuple[int, str, claims.Claim]] = []
    rejected: list[tuple[int, str, str | None]] = []
    read = 0
    position = 0
    try:
        with open(path, "rb") as stream:
            for item in claims.read_claims(stream, today, kind=kind):
                read += 1
                if type(item) is claims.Line:
                    lines.append((item.number, item.nir, item.claim))
                    if len(lines) >= chunk_lines:
                        send(Chunk(lines, rejected, read, stream.tell()))
                        lines, rejected, read = [], [], 0
                else:
                    assert isinstance(item, claims.Rejected)
                    rejected.append((item.number, item.reason, item.claim_id))
            position = stream.tell()
    except OSError as error:
        send(Chunk(lines, rejected, read, position, error=str(error.strerror or error), done=True))
        return
    send(Chunk(lines, rejected, read, position, done=True))


def _child_env() -> dict[str, str]:
    """This process's environment, with the folder this very `opendmp` package was imported from
    first on the path: the parser must run the same code as the feeder."""
    import opendmp

    root = str(Path(opendmp.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def chunks(path: Path, kind: str, today: date, chunk_lines: int) -> Iterator[Chunk]:
    """The chunks of a file, parsed by a child process while the caller files the previous one."""
    child = subprocess.Popen(  # noqa: S603 - this interpreter, this module, our own arguments
        [sys.executable, "-m", "opendmp.feed.pipeline", str(path), kind, today.isoformat(), str(chunk_lines)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=_child_env(),
    )
    assert child.stdout is not None
    pipe = child.stdout
    try:
        while True:
            head = pipe.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                raise RuntimeError(f"the claim parser process stopped (exit code {child.wait()})")
            (size,) = _LENGTH.unpack(head)
            chunk = _decode(pipe.read(size))
            yield chunk
            if chunk.done:
                return
    finally:
        pipe.close()  # on an early stop the parser's next write fails and it ends
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str]) -> int:
    path, kind, day, chunk_lines = argv
    try:
        parse(path, kind, date.fromisoformat(day), int(chunk_lines), sys.stdout.buffer)
    except BrokenPipeError:  # the feeder stopped: nothing to do (and nothing to flush at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
