"""`wardgate discover` and `wardgate inventory`: the inventory from files or a store.

`discover` reads HAR files, Postman collections and access logs, learns every path first
(so the first calls are filed under templates as sharp as the last), then every call, and
writes OpenAPI 3.1 as the output's extension says. It keeps nothing between runs unless
given `--store`, where the learned endpoints are merged into what the store holds.

`inventory diff` compares what was learned (a store, or the files `discover` takes) with a
declared spec and writes the report as text, JSON or SARIF 2.1.0. Exit codes: 0, or 1 when
a category named in `--fail-on` has findings; 2 when the diff could not run (bad options,
an unreadable spec or store).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from wardgate import __version__
from wardgate.discovery.access_log import read_access_log
from wardgate.discovery.diff import CATEGORIES, DiffReport, diff as diff_endpoints
from wardgate.discovery.har import read_har
from wardgate.discovery.inventory import Inventory, load_store, merge_states
from wardgate.discovery.observation import Observation
from wardgate.discovery.openapi import dump_document, load_document, to_openapi
from wardgate.discovery.postman import read_postman
from wardgate.errors import StoreError

__all__ = ["discover", "inventory", "learn_files", "load_store", "to_sarif", "to_text"]

_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)
_RULE = "wardgate.discovery."
_LEVELS = {"shadow": "error", "zombie": "error", "unseen": "note", "drift": "warning"}
_RULE_TEXT = {
    "shadow": "Endpoint called in traffic but not declared in the spec.",
    "zombie": "Endpoint declared deprecated but still called.",
    "unseen": "Endpoint declared in the spec but never seen in traffic.",
    "drift": "Parameter, field or type seen in traffic that the spec does not declare.",
}


def _observations(
    hars: tuple[Path, ...], postmans: tuple[Path, ...], logs: tuple[Path, ...]
) -> Iterator[Observation]:
    for path in hars:
        yield from read_har(path)
    for path in postmans:
        yield from read_postman(path)
    for path in logs:
        yield from read_access_log(path)


def learn_files(
    hars: tuple[Path, ...] = (), postmans: tuple[Path, ...] = (), logs: tuple[Path, ...] = ()
) -> Inventory:
    """An inventory of everything in the given files, paths learned before calls."""
    inventory = Inventory()
    inventory.learn_paths(_observations(hars, postmans, logs))
    for obs in _observations(hars, postmans, logs):
        inventory.add(obs)
    return inventory


def _input_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in (
        click.option(
            "--log", "logs", multiple=True, type=_FILES, help="Access log (combined or JSON lines)."
        ),
        click.option(
            "--postman", "postmans", multiple=True, type=_FILES, help="Postman collection (v2.1)."
        ),
        click.option("--har", "hars", multiple=True, type=_FILES, help="HAR 1.2 file."),
    ):
        command = option(command)
    return command


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="OpenAPI output: .json, .yaml or .yml.",
)
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Also merge what was learned into this inventory store "
    "(a SQLite path, sqlite:///path or postgresql://...).",
)
@_input_options
def discover(
    out: Path,
    store_url: str | None,
    hars: tuple[Path, ...],
    postmans: tuple[Path, ...],
    logs: tuple[Path, ...],
) -> None:
    """Learn endpoints from traffic files and write them as OpenAPI 3.1."""
    if not (hars or postmans or logs):
        raise click.UsageError("give at least one --har, --postman or --log file")
    try:
        learned = learn_files(hars, postmans, logs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    endpoints = learned.endpoints()
    if store_url:
        _save(learned, store_url)
    try:
        dump_document(to_openapi(endpoints), out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(endpoints)} endpoints from {learned.observations} calls -> {out}", err=True)


@click.group()
def inventory() -> None:
    """The inventory kept in a store: export it, compare it with a declared spec."""


@inventory.command("export")
@click.option("--store", "store_url", required=True, help="Inventory store URL or SQLite path.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(store_url: str, out: Path) -> None:
    """Write the stored inventory as OpenAPI 3.1."""
    endpoints = load_store(store_url).endpoints()
    dump_document(to_openapi(endpoints), out)
    click.echo(f"{len(endpoints)} endpoints -> {out}", err=True)


class _DiffError(click.ClickException):
    """The diff could not run: exit 2, apart from the 1 that reports findings."""

    exit_code = 2


def _categories(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; choose from {', '.join(CATEGORIES)}"
        )
    return names


@inventory.command("diff")
@click.option(
    "--spec",
    "spec",
    required=True,
    type=_FILES,
    help="The declared spec: OpenAPI 3.x or Swagger 2.0, JSON or YAML.",
)
@click.option("--store", "store_url", default=None, help="Compare what this store holds.")
@_input_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--fail-on",
    "fail_on",
    callback=_categories,
    default="",
    help=f"Exit 1 when any of these has findings (comma list of {', '.join(CATEGORIES)}).",
)
def diff(
    spec: Path,
    store_url: str | None,
    hars: tuple[Path, ...],
    postmans: tuple[Path, ...],
    logs: tuple[Path, ...],
    output_format: str,
    out: Path | None,
    fail_on: tuple[str, ...],
) -> None:
    """List shadow, zombie, unseen and drifted endpoints against a declared spec."""
    files = bool(hars or postmans or logs)
    if bool(store_url) == files:
        raise click.UsageError("give either --store or --har/--postman/--log files, not both")
    try:
        declared = load_document(spec)
        learned = load_store(store_url) if store_url else learn_files(hars, postmans, logs)
        report = diff_endpoints(learned.endpoints(), declared)
    except (ValueError, OSError, StoreError) as exc:  # orjson and yaml errors are ValueErrors
        raise _DiffError(str(exc)) from None
    if output_format == "json":
        text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    elif output_format == "sarif":
        text = orjson.dumps(to_sarif(report, str(spec)), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = to_text(report)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
    if report.failed(fail_on):
        sys.exit(1)


def to_text(report: DiffReport) -> str:
    """A short human summary: counts, then one line per finding."""
    counts = ", ".join(f"{len(report.category(name))} {name}" for name in CATEGORIES)
    lines = [counts]
    lines += [f"{f.category:6}  {f.message}" for f in report.findings]
    return "\n".join(lines) + "\n"


def to_sarif(report: DiffReport, spec_uri: str) -> dict[str, Any]:
    """The report as one SARIF 2.1.0 run, every result located in the spec file."""
    rules = [
        {
            "id": _RULE + name,
            "name": name.capitalize() + "Endpoint" if name != "drift" else "SpecDrift",
            "shortDescription": {"text": _RULE_TEXT[name]},
            "defaultConfiguration": {"level": _LEVELS[name]},
        }
        for name in CATEGORIES
    ]
    results = [
        {
            "ruleId": _RULE + finding.category,
            "ruleIndex": CATEGORIES.index(finding.category),
            "level": _LEVELS[finding.category],
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": spec_uri}},
                    "logicalLocations": [
                        {"name": finding.endpoint, "fullyQualifiedName": finding.endpoint}
                    ],
                }
            ],
        }
        for finding in report.findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "wardgate",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": {"uri": spec_uri}}],
                "results": results,
            }
        ],
    }


def _save(learned: Inventory, store_url: str) -> None:
    from wardgate.discovery.store import EndpointKey, open_store

    store = open_store(store_url)
    try:
        records = {EndpointKey(*key): state for key, state in learned.states()}
        store.merge(records, merge_states)
    finally:
        store.close()
