"""docker-compose.yml and the Dockerfile, checked against the CLI, the settings and the package.

There is no Docker engine here, so the file is validated statically: the services exist with
health checks and volumes, every SWISPER_STUDIO_* variable is one the code reads, every command
is a real ``swisper-studio`` command whose options parse, and ports agree with the commands.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from swisper_studio.collector.cli import app
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter import environment_variables
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
STANDARD_OTEL = {"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def known_variables() -> set[str]:
    settings = {f"SWISPER_STUDIO_{name.upper()}" for name in Settings.model_fields}
    exporter = {
        value
        for name, value in vars(environment_variables).items()
        if name.isupper() and isinstance(value, str)
    }
    return settings | exporter | STANDARD_OTEL


def app_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_services_images_and_profiles(compose):
    services = compose["services"]
    assert {"redis", "postgres", "collector", "api", "demo"} <= set(services)
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["demo"]["profiles"] == ["demo"]
    for name in ("redis", "postgres", "collector", "api"):
        assert "profiles" not in services[name], f"{name} must start by default"


def test_every_long_running_service_has_a_healthcheck(compose):
    services = compose["services"]
    for name in ("redis", "postgres", "collector", "api"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])


def test_healthcheck_python_snippets_compile(compose):
    for name, svc in app_services(compose).items():
        test = svc.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["python", "-c"]:
            compile(test[3], f"{name}-healthcheck", "exec")


def test_python_healthcheck_imports_exist(compose):
    """The collector's health check imports names that exist (and runs against nothing)."""
    snippet = compose["services"]["collector"]["healthcheck"]["test"][3]
    for module, name in re.findall(r"from ([\w.]+) import (\w+)", snippet):
        assert hasattr(__import__(module, fromlist=[name]), name), f"{module}.{name}"


def test_data_lives_in_named_volumes(compose):
    volumes = set(compose["volumes"])
    for name, path in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        mounts = compose["services"][name]["volumes"]
        assert any(m.split(":")[0] in volumes and m.split(":")[1] == path for m in mounts)


def test_environment_variables_are_ones_the_code_reads(compose):
    known = known_variables()
    for name, svc in compose["services"].items():
        for variable in svc.get("environment", {}) or {}:
            if variable.startswith(("SWISPER_STUDIO_", "OTEL_")):
                assert variable in known, f"{name}: {variable} is not a setting"
    for name, svc in app_services(compose).items():
        env = svc["environment"]
        assert {"SWISPER_STUDIO_REDIS_URL", "SWISPER_STUDIO_DATABASE_URL"} <= set(env), name


def test_urls_point_at_the_compose_services(compose):
    services = compose["services"]
    pg_env = services["postgres"]["environment"]
    for name, svc in app_services(compose).items():
        env = svc["environment"]
        redis_url = urlsplit(env["SWISPER_STUDIO_REDIS_URL"])
        assert (redis_url.hostname, redis_url.port) == ("redis", 6379), name
        db_url = urlsplit(env["SWISPER_STUDIO_DATABASE_URL"])
        assert (db_url.hostname, db_url.port) == ("postgres", 5432), name
        assert db_url.username == pg_env["POSTGRES_USER"]
        assert db_url.path.lstrip("/") == pg_env["POSTGRES_DB"]
        assert db_url.password == pg_env["POSTGRES_PASSWORD"]  # same ${...} default
        Settings(redis_url=redis_url.geturl(), database_url=db_url.geturl())  # validates


def test_app_services_depend_on_healthy_servers(compose):
    for name in ("collector", "api"):
        depends = compose["services"][name]["depends_on"]
        for server in ("redis", "postgres"):
            assert depends[server]["condition"] == "service_healthy", name
    assert compose["services"]["demo"]["depends_on"]["collector"]["condition"] == (
        "service_healthy"
    )


def test_commands_are_real_cli_commands_whose_options_parse(compose):
    registered = set(typer.main.get_command(app).commands)
    runner = CliRunner()
    for name, svc in app_services(compose).items():
        command = svc["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        assert command[0] == "swisper-studio", name
        assert command[1] in registered, f"{name}: unknown command {command[1]}"
        result = runner.invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, f"{name}: {command} -> {result.output}"


def test_api_binds_all_interfaces_without_dev_mode_and_publishes_its_port(compose):
    command = compose["services"]["api"]["command"]
    assert "--dev" not in command  # 0.0.0.0 means API keys are required
    host = command[command.index("--host") + 1]
    port = command[command.index("--port") + 1]
    assert host == "0.0.0.0"
    published = [p.rsplit(":", 1)[-1] for p in compose["services"]["api"]["ports"]]
    assert port in published
    assert f":{port}/ready" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_dockerfile_installs_every_mapped_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("exporter", "instrumentation", "collector", "demo"):
        assert re.search(rf"^COPY {folder} ", dockerfile, re.MULTILINE), folder
    assert re.search(r"pip install \"\.\[[^\]]*collector[^\]]*\]\"", dockerfile)
    assert "langgraph" in dockerfile  # the demo service needs the instrumentation extra
    assert "USER " in dockerfile  # not root


def test_console_script_help_runs():
    """The command in the image's CMD, through the real entry point."""
    script = Path(sys.executable).with_name("swisper-studio")
    cmd = (
        [str(script)] if script.exists() else [sys.executable, "-m", "swisper_studio.collector.cli"]
    )
    result = subprocess.run([*cmd, "api", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--host" in result.stdout
