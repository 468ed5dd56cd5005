"""``pip install ./python`` into another venv: typed, finding the Node side by SKYPLANE_NODE_CLI."""

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import CHECKOUT, CLI_MAIN, Home


def test_a_wheel_installed_elsewhere_finds_the_node_side_only_through_skyplane_node_cli(
    home: Home, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(CHECKOUT / "python"),
        ],
        check=True,
    )
    [wheel] = wheels.glob("skyplane-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "skyplane/py.typed" in names
    assert "skyplane/_codes.py" in names
    assert not [n for n in names if n.startswith("tests/")], "the tests stay out of the wheel"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", str(wheel)], check=True)
    probe = (
        "import skyplane\n"
        "try:\n"
        "    with skyplane.SkyplaneClient() as c:\n"
        "        print('home', c.home)\n"
        "except skyplane.NodeSideNotFoundError as e:\n"
        "    print('not found:', e)\n"
    )
    run = [py, "-c", probe]
    # Run away from the checkout, so that only the installed package can be imported.
    without = subprocess.run(
        run, env=home.env(), cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert without.stdout.startswith(
        "not found: cannot find skyplane's Node side: set SKYPLANE_NODE_CLI to the checkout's "
        "dist/cli/main.js"
    ), without.stdout
    env = home.env({"SKYPLANE_NODE_CLI": str(CLI_MAIN)})
    named = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert named.stdout == f"home {home.path}\n"
    where = subprocess.run(
        [py, "-c", "import skyplane; print(skyplane.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), "the wheel's copy, not the checkout's"
