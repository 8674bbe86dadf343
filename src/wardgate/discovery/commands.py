"""`wardgate discover` and `wardgate inventory`: the inventory from files or a store.

`discover` reads HAR files, Postman collections and access logs, learns every path first
(so the first calls are filed under templates as sharp as the last), then every call, and
writes OpenAPI 3.1 as the output's extension says. It keeps nothing between runs unless
given `--store`, where the learned endpoints are merged into what the store holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click

from wardgate.discovery.access_log import read_access_log
from wardgate.discovery.har import read_har
from wardgate.discovery.inventory import Endpoint, Inventory, merge_states
from wardgate.discovery.observation import Observation
from wardgate.discovery.openapi import dump_document, to_openapi
from wardgate.discovery.postman import read_postman

__all__ = ["discover", "inventory", "learn_files"]

_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)


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


def load_store(store_url: str) -> Inventory:
    """The inventory a store holds, as one `Inventory`."""
    from wardgate.discovery.store import open_store

    store = open_store(store_url)
    try:
        records = store.load()
    finally:
        store.close()
    learned = Inventory()
    for key, state in sorted(records.items(), key=lambda item: _key_tuple(item[0])):
        host, method, template = _key_tuple(key)
        learned.merge_endpoint(Endpoint.from_state(host, method, template, state))
    return learned


def _save(learned: Inventory, store_url: str) -> None:
    from wardgate.discovery.store import EndpointKey, open_store

    store = open_store(store_url)
    try:
        records = {EndpointKey(*key): state for key, state in learned.states()}
        store.merge(records, merge_states)
    finally:
        store.close()


def _key_tuple(key: object) -> tuple[str, str, str]:
    return (getattr(key, "host"), getattr(key, "method"), getattr(key, "template"))  # noqa: B009
