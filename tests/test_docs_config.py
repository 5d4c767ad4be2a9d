"""docs/configuration.md matches the code: every variable, its default and its meaning."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter import environment_variables

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts" / "gen_config_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def table_rows(doc: str, block: str) -> dict[str, list[str]]:
    """variable -> cells of a generated table."""
    match = re.search(
        rf"<!-- BEGIN GENERATED: {block} -->\n(.*?)<!-- END GENERATED: {block} -->", doc, re.DOTALL
    )
    assert match, f"no generated block {block}"
    rows = {}
    for line in match[1].splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def test_generated_tables_are_up_to_date(gen, doc):
    assert gen.update(doc) == doc, "run: python scripts/gen_config_docs.py"


def test_check_mode_passes_on_the_committed_page():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_setting_is_documented_with_its_default(doc):
    rows = table_rows(doc, "settings")
    assert set(rows) == {f"SWISPER_STUDIO_{name.upper()}" for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        _, _, default, meaning = rows[f"SWISPER_STUDIO_{name.upper()}"]
        if field.default_factory is None and field.default is not None:
            expected = (
                str(field.default).lower() if isinstance(field.default, bool) else field.default
            )
            assert default == f"`{expected}`", name
        assert meaning == " ".join((field.description or "").split()), name


def exporter_constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(environment_variables).items()
        if name.isupper() and isinstance(value, str)
    }


def test_every_exporter_variable_is_documented(doc):
    rows = table_rows(doc, "exporter")
    assert set(rows) == set(exporter_constants().values())
    assert all(meaning for _, _, meaning in rows.values())


def test_documented_exporter_defaults_are_the_real_defaults(doc, monkeypatch):
    from swisper_studio.exporter import ExporterConfig

    for variable in exporter_constants().values():
        monkeypatch.delenv(variable, raising=False)
    config = ExporterConfig()
    rows = table_rows(doc, "exporter")
    checked = 0
    for variable, (_, default, _) in rows.items():
        field = variable.removeprefix("SWISPER_STUDIO_").lower()
        if not variable.startswith("SWISPER_STUDIO_") or not hasattr(config, field):
            continue
        documented = re.match(r"`([^`]*)`", default)
        assert documented, f"{variable} has no default in the doc"
        actual = getattr(config, field)
        actual = str(actual).lower() if isinstance(actual, bool) else str(actual)
        assert documented[1] == actual, variable
        checked += 1
    assert checked >= 6


def test_env_variable_names_in_the_docs_exist():
    """No page mentions a SWISPER_STUDIO_* variable that nothing reads (typos, renames)."""
    known = {f"SWISPER_STUDIO_{name.upper()}" for name in Settings.model_fields}
    known |= set(exporter_constants().values())
    pages = [*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "docker-compose.yml"]
    for page in pages:
        for variable in set(re.findall(r"SWISPER_STUDIO_[A-Z0-9_]*[A-Z0-9]", page.read_text())):
            assert variable in known, f"{page.name}: {variable}"


def github_slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {github_slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize(
    "page", ["README.md", "docs/quickstart.md", "docs/configuration.md", "docs/performance.md"]
)
def test_links_between_pages_resolve(page):
    source = ROOT / page
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", source.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path = (source.parent / target).resolve() if target else source
        assert path.exists(), f"{page}: link to missing {target}"
        if anchor:
            assert anchor in anchors(path), f"{page}: no heading #{anchor} in {path.name}"
