"""A synthetic image dataset a small model can learn: a pattern per class, records noisy copies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from shards import Record, write_shard


@dataclass(frozen=True)
class DatasetSpec:
    """Shards, records, image size and classes; the seed fixes every byte."""

    shards: int
    records_per_shard: int
    size: int = 32
    classes: int = 10
    seed: int = 0

    @property
    def records(self) -> int:
        """Records in the whole dataset."""
        return self.shards * self.records_per_shard


def generate(spec: DatasetSpec) -> Iterator[tuple[str, bytes, list[str]]]:
    """Each shard as (name, bytes, its record keys), in order; one spec, one set of bytes."""
    rng = np.random.default_rng(spec.seed)
    # A smooth pattern per class (a low-resolution field, scaled up), so neighbouring pixels agree.
    coarse = rng.integers(64, 192, size=(spec.classes, 4, 4, 3)).astype(np.float32)
    reps = -(-spec.size // 4)
    patterns = np.repeat(np.repeat(coarse, reps, axis=1), reps, axis=2)[:, : spec.size, : spec.size]
    for s in range(spec.shards):
        records = []
        for i in range(spec.records_per_shard):
            label = int(rng.integers(spec.classes))
            noise = rng.normal(0, 96, size=patterns[label].shape)
            image = np.clip(patterns[label] + noise, 0, 255).astype(np.uint8)
            records.append(Record(f"s{s:05d}-r{i:06d}", image, label))
        yield f"shard-{s:05d}.tar", write_shard(records), [r.key for r in records]
