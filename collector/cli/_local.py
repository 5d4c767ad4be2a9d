"""Settings for the client-side commands (``demo``, ``status``, ``tail``).

Order: a command-line option, then ``SWISPER_STUDIO_*`` variables, then the ``runtime.json``
a running ``swisper-studio up`` wrote to its data folder (so ``swisper-studio tail`` in a second
terminal just works with the embedded servers), then the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swisper_studio.collector.allinone import load_runtime
from swisper_studio.collector.settings import Settings

_FROM_RUNTIME = {
    "redis_url": "SWISPER_STUDIO_REDIS_URL",
    "database_url": "SWISPER_STUDIO_DATABASE_URL",
}


def local_settings(data_dir: Path | str, **options: Any) -> Settings:
    """Settings with the given options (``None`` = not given) and the running stack's URLs."""
    overrides = {key: value for key, value in options.items() if value is not None}
    runtime = load_runtime(data_dir)
    if runtime is not None:
        for key, variable in _FROM_RUNTIME.items():
            if key not in overrides and not os.environ.get(variable):
                overrides[key] = getattr(runtime, key)
    return Settings(**overrides)


def local_project_id(data_dir: Path | str, option: str | None) -> str:
    """Project id: option, ``SWISPER_STUDIO_PROJECT_ID``, the running stack's, else ``default``."""
    if option:
        return option
    if os.environ.get("SWISPER_STUDIO_PROJECT_ID"):
        return os.environ["SWISPER_STUDIO_PROJECT_ID"]
    runtime = load_runtime(data_dir)
    return runtime.project_id if runtime else "default"
