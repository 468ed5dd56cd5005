"""Image-like records in WebDataset-style tar shards, and reading them back as a stream.

A shard is a tar of records, each two members with the same key: ``<key>.npy`` (an image, uint8,
height by width by 3, in NumPy's format) and ``<key>.cls`` (its class, ASCII digits). Shards are
read in ``tarfile``'s stream mode straight from an object's body: no seek, nothing on disk.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Record:
    """One training example."""

    key: str
    image: npt.NDArray[np.uint8]
    label: int


class ShardSource(Protocol):
    """A bucket prefix full of shards: lists them and opens each one as a stream."""

    def describe(self) -> str:
        """The prefix as a URI, for messages."""
        ...

    def shards(self) -> list[str]:
        """The shards' keys, sorted."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A readable stream of one shard's bytes."""
        ...


def write_shard(records: list[Record]) -> bytes:
    """A shard's bytes: each record's image and class as tar members, in order, fixed metadata."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for r in records:
            image = io.BytesIO()
            np.save(image, r.image, allow_pickle=False)
            for name, data in (
                (f"{r.key}.npy", image.getvalue()),
                (f"{r.key}.cls", str(r.label).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def read_shard(stream: IO[bytes]) -> Iterator[Record]:
    """The records of a shard, read front to back from `stream` (tar stream mode: no seeking)."""
    pending: dict[str, dict[str, bytes]] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.rpartition(".")
            f = tar.extractfile(member)
            if f is None or ext not in ("npy", "cls"):
                raise ValueError(f"unexpected member {member.name!r} in a shard")
            parts = pending.setdefault(key, {})
            parts[ext] = f.read()
            if len(parts) == 2:
                del pending[key]
                image = np.load(io.BytesIO(parts["npy"]), allow_pickle=False)
                yield Record(key, image.astype(np.uint8, copy=False), int(parts["cls"]))
    if pending:
        raise ValueError(f"records with a missing half: {sorted(pending)[:5]}")


def iter_records(source: ShardSource) -> Iterator[Record]:
    """Every record of every shard of `source`, shard by shard, each shard streamed."""
    for key in source.shards():
        stream = source.open(key)
        try:
            yield from read_shard(stream)
        finally:
            stream.close()
