"""``swisper-studio`` command line: each command lives in its own module of this package."""

from __future__ import annotations

from swisper_studio.collector.cli import (  # noqa: F401  (each module registers its commands)
    api,
    collector,
    demo,
    migrate,
    project,
    status,
    tail,
    up,
)
from swisper_studio.collector.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
