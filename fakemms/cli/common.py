"""What the CLI's commands share."""

from __future__ import annotations

import sys

from fakemms.errors import ConfigError


def print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"{error.source}: {problem}", file=sys.stderr)
