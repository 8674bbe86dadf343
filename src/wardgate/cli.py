"""The `wardgate` command: a thin layer over the library.

wardgate demo                      bundled demo upstream + gateway (what `make run` starts)
wardgate serve --policy FILE       run the gateway
wardgate check FILE                validate a policy (exit 1 with file:line:key on errors)
wardgate events --since 10m ...    query the event store
wardgate usage --by consumer,model tokens and cost per consumer and model
wardgate scan request|...         run a detector over JSON Lines on stdin
wardgate policy-schema             the policy's JSON Schema
wardgate version
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Coroutine
from importlib import resources
from pathlib import Path
from typing import Any

import click
import orjson

from wardgate import __version__
from wardgate.discovery.commands import discover, inventory
from wardgate.durations import parse_duration
from wardgate.errors import PolicyError, StoreError
from wardgate.scan import scan
from wardgate.state import STATE_DIR_ENV

__all__ = ["configure_logging", "main", "run_loop"]

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"])


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop where available (it is the faster loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def default_policy_path() -> Path:
    return Path(str(resources.files("wardgate") / "data" / "default-policy.yaml"))


def _set_state_dir(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        os.environ[STATE_DIR_ENV] = value


state_dir_option = click.option(
    "--state-dir",
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_state_dir,
    help=f"Where events are kept (default: the XDG state dir; also ${STATE_DIR_ENV}).",
)
host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the gateway listens on."
)
port_option = click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port the gateway listens on (0: any free port).",
)
log_level_option = click.option(
    "--log-level", default="info", show_default=True, type=LOG_LEVELS, help="Log verbosity."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Wardgate: a security gateway for the APIs of AI applications.

    Start with `wardgate demo`, then point an OpenAI SDK at the URL it prints.
    """


@main.command()
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Policy YAML file.",
)
@host_option
@port_option
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Worker processes sharing the port.",
)
@state_dir_option
@log_level_option
def serve(policy_path: Path, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the gateway with a policy. SIGHUP or editing the file reloads it."""
    from wardgate.policy.load import load_policy

    configure_logging(log_level)
    try:
        load_policy(policy_path)
    except PolicyError as exc:
        raise click.ClickException(f"invalid policy:\n{exc}") from None
    if workers > 1:
        if port == 0:
            raise click.UsageError("--workers > 1 needs a fixed --port")
        from wardgate.proxy.workers import run_workers

        run_workers(policy_path, host, port, workers, log_level)
        return
    from wardgate.runtime import GatewayProcess, run_gateway

    def started(process: GatewayProcess) -> None:
        click.echo(f"wardgate listening on http://{host}:{process.port}", err=True)

    run_loop(run_gateway(policy_path, host, port, on_started=started))


@main.command()
@host_option
@port_option
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Policy to serve instead of the default one.",
)
@state_dir_option
@log_level_option
def demo(host: str, port: int, policy_path: Path | None, log_level: str) -> None:
    """Start a bundled OpenAI-compatible demo upstream and the gateway in front of it."""
    from wardgate.demo.upstream import start_demo_upstream
    from wardgate.runtime import GatewayProcess, run_gateway

    configure_logging(log_level)

    async def run() -> None:
        runner, upstream_port = await start_demo_upstream("127.0.0.1", 0)
        os.environ["WARDGATE_UPSTREAM"] = f"http://127.0.0.1:{upstream_port}"

        def started(process: GatewayProcess) -> None:
            click.echo(_banner(host, process.port))

        try:
            await run_gateway(policy_path or default_policy_path(), host, port, on_started=started)
        finally:
            await runner.cleanup()

    run_loop(run())


def _banner(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}/v1"
    return f"""
Wardgate is running in front of a demo OpenAI-compatible API.

  Base URL for an OpenAI SDK: {base}
  API key:                    demo-key

  from openai import OpenAI
  client = OpenAI(base_url="{base}", api_key="demo-key")
  reply = client.chat.completions.create(
      model="demo-chat", messages=[{{"role": "user", "content": "Hello!"}}])
  print(reply.choices[0].message.content)

  Events:  wardgate events --since 10m
  Stop:    Ctrl-C
"""


@main.command()
@click.argument("policy_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
def check(policy_path: Path) -> None:
    """Validate a policy file; exit 1 and print file:line: key: problem for each error."""
    from wardgate.policy.compile import compile_policy
    from wardgate.policy.load import load_policy

    try:
        policy = load_policy(policy_path)
        plan = compile_policy(policy)
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    checks = sum(len(route.checks) for route in policy.routes)
    click.echo(f"{policy_path}: OK ({len(plan.routes)} routes, {checks} checks)")


@main.command()
@click.option("--since", default=None, help="Only events newer than this: 30s, 10m, 2h, 7d.")
@click.option(
    "--action",
    type=click.Choice(["allow", "flag", "modify", "block"]),
    default=None,
    help="Only events whose strongest decision is this.",
)
@click.option("--route", default=None, help="Only events of this route.")
@click.option("--status", type=int, default=None, help="Only events with this HTTP status.")
@click.option("--request-id", default=None, help="Only the event of this request.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Event store (default: events.sqlite3 in the state dir).",
)
@state_dir_option
def events(
    since: str | None,
    action: str | None,
    route: str | None,
    status: int | None,
    request_id: str | None,
    limit: int,
    db: Path | None,
) -> None:
    """Query recorded events, newest first, as JSON Lines."""
    from wardgate.observe.query import EventQuery, query_events
    from wardgate.runtime import default_event_db

    query = EventQuery(
        since=time.time() - _seconds(since) if since else None,
        action=action,
        route=route,
        status=status,
        request_id=request_id,
        limit=limit,
    )
    try:
        rows = query_events(db or default_event_db(), query)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    out = sys.stdout.buffer
    for row in rows:
        out.write(orjson.dumps(row) + b"\n")


@main.command()
@click.option(
    "--by",
    default="consumer,model",
    show_default=True,
    help="Group by any of consumer, model, route, status (comma-separated).",
)
@click.option("--since", default=None, help="Only calls newer than this: 30s, 10m, 2h, 7d.")
@click.option("--route", default=None, help="Only calls of this route.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Event store (default: events.sqlite3 in the state dir).",
)
@state_dir_option
def usage(by: str, since: str | None, route: str | None, as_json: bool, db: Path | None) -> None:
    """Tokens and cost of AI calls, per consumer and model (or other groupings)."""
    from wardgate.observe.query import usage_report
    from wardgate.runtime import default_event_db

    dimensions = tuple(part.strip() for part in by.split(",") if part.strip())
    try:
        rows = usage_report(
            db or default_event_db(),
            dimensions,
            since=time.time() - _seconds(since) if since else None,
            route=route,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for row in rows:
            record: dict[str, object] = dict(zip(dimensions, row.key, strict=True))
            record.update(
                requests=row.requests,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cost_usd=row.cost_usd,
            )
            sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        return
    header = [*dimensions, "requests", "input tokens", "output tokens", "cost USD"]
    table = [
        [
            *(k if k is not None else "-" for k in row.key),
            f"{row.requests:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            "-" if row.cost_usd is None else f"{row.cost_usd:,.6f}",
        ]
        for row in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *table, strict=True)]
    for line in [header, *table]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _seconds(duration: str) -> float:
    try:
        return parse_duration(duration, unit_required=True)
    except ValueError:
        raise click.BadParameter(
            f"{duration!r}: use a number and s, m, h, d or w (e.g. 10m)", param_hint="--since"
        ) from None


@main.command("policy-schema")
def policy_schema() -> None:
    """Print the policy's JSON Schema (every key with its description)."""
    from wardgate.policy.model import Policy

    click.echo(orjson.dumps(Policy.model_json_schema(), option=orjson.OPT_INDENT_2).decode())


main.add_command(scan)
main.add_command(discover)
main.add_command(inventory)


@main.command()
def version() -> None:
    """Print Wardgate's version."""
    click.echo(f"wardgate {__version__}")
