"""The typer application behind the ``swisper-studio`` console script."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="swisper-studio",
    help="SwisperStudio: LangGraph tracing over Redis Streams into PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
project_app = typer.Typer(help="Manage projects and their API keys.", no_args_is_help=True)
app.add_typer(project_app, name="project")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
