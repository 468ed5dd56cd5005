"""The training loop: shards streamed from a bucket into scikit-learn's SGDClassifier."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import SGDClassifier

from shards import Record, ShardSource, iter_records


@dataclass
class EpochStats:
    """What one pass over the data read and how the model did on it."""

    records: int
    bytes: int
    seconds: float
    # Progressive validation: each batch is scored before the model learns from it.
    accuracy: float
    keys: Counter[str] = field(repr=False)


def _features(batch: list[Record]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    x = np.stack([r.image.reshape(-1) for r in batch]).astype(np.float32) / 255.0 - 0.5
    y = np.fromiter((r.label for r in batch), dtype=np.int64, count=len(batch))
    return x, y


def train(
    source: ShardSource,
    epochs: int,
    classes: int,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[SGDClassifier, list[EpochStats]]:
    """Trains a linear classifier for `epochs` passes, each reading every shard from `source`."""
    model = SGDClassifier(loss="log_loss", alpha=1e-4, learning_rate="optimal", random_state=seed)
    labels = np.arange(classes)
    stats: list[EpochStats] = []
    for _ in range(epochs):
        start = time.perf_counter()
        keys: Counter[str] = Counter()
        correct = 0
        scored = 0
        nbytes = 0
        batch: list[Record] = []

        def step(batch: list[Record]) -> None:
            nonlocal correct, scored
            x, y = _features(batch)
            if hasattr(model, "coef_"):
                correct += int(np.sum(model.predict(x) == y))
                scored += len(y)
            model.partial_fit(x, y, classes=labels)

        for record in iter_records(source):
            keys[record.key] += 1
            nbytes += record.image.nbytes
            batch.append(record)
            if len(batch) == batch_size:
                step(batch)
                batch = []
        if batch:
            step(batch)
        stats.append(
            EpochStats(
                records=sum(keys.values()),
                bytes=nbytes,
                seconds=time.perf_counter() - start,
                accuracy=correct / scored if scored else 0.0,
                keys=keys,
            )
        )
    return model, stats
