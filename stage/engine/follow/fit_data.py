"""Where the follower's fit scripts (chord_fit, key_fit, metre_fit) find the data."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_DATA = Path(__file__).parents[4] / "shared/data"
"""``../shared/data`` beside the repository, as on the project's machines."""


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data DIR``: the folder holding pop909/ (default ``STAGE_DATA``, else
    :data:`DEFAULT_DATA`)."""
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("STAGE_DATA", DEFAULT_DATA)))
