"""Fixtures of the provider's tests: Airflow in a home of its own, the emulators, a skyplane home.

Airflow reads AIRFLOW_HOME when it is first imported, so this module sets it (a temporary folder,
removed at the end) before any test module imports the provider.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testing"))

from skyplane_testing import Emulators, emulators

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="skyplane-airflow-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
#: The example DAGs, which the DAG tests run.
EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database (sqlite in AIRFLOW_HOME), migrated once for the session."""
    run = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    db = AIRFLOW_HOME / "airflow.db"
    assert db.is_file()
    return db


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
