"""Finding the Node side: ``SKYPLANE_NODE_CLI``, or the checkout this package is installed from."""

import os
import shutil
from pathlib import Path

from .errors import error_for

#: The checkout this package sits in when it is installed from it (``pip install -e ./python``).
CHECKOUT = Path(__file__).resolve().parent.parent.parent

_HOW = (
    "set SKYPLANE_NODE_CLI to the checkout's dist/cli/main.js (built by 'npm run setup' or "
    "'npm run build' there) or to an installed 'skyplane' command, or install this package from a "
    "built checkout with 'pip install -e ./python'"
)


def _runner(cli: Path) -> list[str]:
    """How to run ``cli``: a JavaScript file with node from PATH, anything else as an executable."""
    if cli.suffix not in (".js", ".cjs", ".mjs"):
        if not os.access(cli, os.X_OK):
            raise error_for(
                "NODE_SIDE_NOT_FOUND",
                f"{cli} is neither a .js file nor executable: {_HOW}",
            )
        return [str(cli)]
    node = shutil.which("node")
    if node is None:
        raise error_for(
            "NODE_SIDE_NOT_FOUND",
            "node is not on PATH: install Node 20.19 or later (the Node side runs on it)",
        )
    return [node, str(cli)]


def node_command(cli: str | None = None) -> list[str]:
    """The command line of the Node side: ``cli``, ``SKYPLANE_NODE_CLI`` or the checkout."""
    named = cli if cli is not None else os.environ.get("SKYPLANE_NODE_CLI")
    if named:
        path = Path(named)
        if not path.is_file():
            raise error_for(
                "NODE_SIDE_NOT_FOUND",
                f"the Node side {named} (SKYPLANE_NODE_CLI) is not a file: {_HOW}",
            )
        return [*_runner(path), "rpc", "--stdio"]
    main = CHECKOUT / "dist" / "cli" / "main.js"
    if main.is_file():
        return [*_runner(main), "rpc", "--stdio"]
    if (CHECKOUT / "package.json").is_file():
        raise error_for(
            "NODE_SIDE_NOT_FOUND",
            f"the checkout {CHECKOUT} is not built (no dist/cli/main.js): "
            "run 'npm run setup' there",
        )
    raise error_for("NODE_SIDE_NOT_FOUND", f"cannot find skyplane's Node side: {_HOW}")
