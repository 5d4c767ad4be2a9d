#!/usr/bin/env python3
"""Generate the variable tables of docs/configuration.md from the code.

Sources: ``swisper_studio.collector.settings.Settings`` (collector, API, CLI) and the constants
with their docstrings in ``exporter/environment_variables.py`` (the app side). The tables sit
between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` markers; the
rest of the page is hand-written.

    python scripts/gen_config_docs.py           # rewrite the tables in place
    python scripts/gen_config_docs.py --check   # exit 1 if the page is out of date (the tests)
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import sys
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
EXPORTER_VARS = ROOT / "exporter" / "environment_variables.py"
SETTINGS_PREFIX = "SWISPER_STUDIO_"
_DEFAULT = re.compile(r"Default:\s*(?P<value>.+?)\.?\s*$", re.DOTALL)


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def settings_rows() -> list[tuple[str, str, str, str]]:
    """(variable, type, default, meaning) per ``Settings`` field, in declaration order."""
    from swisper_studio.collector.settings import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            doc = (field.default_factory.__doc__ or "").strip().split("\n")[0]
            default = f"computed: {doc.replace('``', '`')}" if doc else "computed"
        elif field.default is None:
            default = "unset"
        elif isinstance(field.default, bool):
            default = f"`{str(field.default).lower()}`"
        else:
            default = f"`{field.default}`"
        variable = f"`{SETTINGS_PREFIX}{name.upper()}`"
        rows.append((variable, _type_name(field.annotation), default, field.description or ""))
    return rows


def exporter_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) per constant documented in environment_variables.py."""
    tree = ast.parse(EXPORTER_VARS.read_text())
    rows = []
    body = tree.body
    for node, following in itertools.pairwise(body):
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            continue
        variable = node.value.value
        lines = [
            line.strip()
            for line in following.value.value.strip().splitlines()
            if line.strip() and not line.strip().startswith(".. envvar::")
        ]
        text = " ".join(lines)
        match = _DEFAULT.search(text)
        default = match["value"].replace("``", "`") if match else ""
        meaning = (text[: match.start()] if match else text).replace("``", "`").strip()
        rows.append((f"`{variable}`", default, meaning))
    return rows


def render_settings() -> str:
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {v} | {_cell(t)} | {_cell(d)} | {_cell(m)} |" for v, t, d, m in settings_rows()]
    return "\n".join(lines)


def render_exporter() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| {v} | {_cell(d)} | {_cell(m)} |" for v, d, m in exporter_rows()]
    return "\n".join(lines)


GENERATORS = {"settings": render_settings, "exporter": render_exporter}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN GENERATED: {name} -->\n)(.*?)(<!-- END GENERATED: {name} -->)", re.DOTALL
    )


def update(text: str) -> str:
    """``text`` with every generated block replaced by the current table."""
    for name, render in GENERATORS.items():
        pattern = _block(name)
        if not pattern.search(text):
            raise ValueError(f"docs/configuration.md has no generated block {name!r}")
        table = render()
        text = pattern.sub(lambda m, table=table: m[1] + table + "\n" + m[3], text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is out of date")
    args = parser.parse_args()
    current = DOC.read_text()
    wanted = update(current)
    if args.check:
        if current != wanted:
            sys.stderr.write(
                "docs/configuration.md is out of date: run scripts/gen_config_docs.py\n"
            )
            return 1
        return 0
    if current != wanted:
        DOC.write_text(wanted)
        sys.stdout.write(f"updated {DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
