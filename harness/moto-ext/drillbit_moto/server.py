"""Runs moto's server with drillbit's extension: ``python -m drillbit_moto.server -H HOST -p PORT``.

Takes the same arguments as ``moto_server`` (they go to ``moto.server.main`` unchanged).
"""

from __future__ import annotations

import sys

from . import install


def main(argv: list[str] | None = None) -> None:
    """Install the extension, then hand over to moto's own server main."""
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
