"""Fixtures of the ML staging example's test: the storage emulators and a skyplane home."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python" / "testing"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skyplane_testing import Emulators, emulators


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """The storage emulators, one set for the session."""
    with emulators(tmp_path_factory.mktemp("emulators")) as e:
        yield e


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A skyplane home of the test's own."""
    h = tmp_path / "skyplane-home"
    h.mkdir()
    return h
