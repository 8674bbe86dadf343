"""Policy loading: every problem names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wardgate.cli import main
from wardgate.errors import PolicyError
from wardgate.policy.load import load_policy, parse_policy

VALID = """\
version: 1
upstreams:
  up:
    targets: ["http://127.0.0.1:${UP_PORT:-9000}"]
routes:
  - name: chat
    match: {path_prefix: /v1}
    upstream: up
    provider: openai
    checks:
      - type: access
        deny_networks: [10.0.0.0/8]
      - type: request_limits
        max_body_bytes: 1024
"""


def test_valid_policy_loads_with_env_defaults() -> None:
    policy = parse_policy(VALID, environ={})
    assert policy.upstreams["up"].targets == ["http://127.0.0.1:9000"]
    assert [c.type for c in policy.routes[0].checks] == ["access", "request_limits"]


def test_env_interpolation() -> None:
    policy = parse_policy(VALID, environ={"UP_PORT": "7777"})
    assert policy.upstreams["up"].targets == ["http://127.0.0.1:7777"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # a misspelt mode, deep in a check
        (
            ("type: access", "type: access\n        mode: enforced"),
            "p.yaml:12: routes[0].checks[0].mode: Input should be 'off', 'monitor' or 'enforce'",
        ),
        # an unknown key (extra=forbid)
        (
            ("provider: openai", "provider: openai\n    colour: blue"),
            "p.yaml:10: routes[0].colour: Extra inputs are not permitted",
        ),
        # an unknown check type (discriminated union)
        (
            ("type: request_limits", "type: nope"),
            "p.yaml:13: routes[0].checks[1]: Input tag 'nope' found using 'type' does not match",
        ),
        # a reference to an upstream that does not exist
        (
            ("upstream: up", "upstream: down"),
            "p.yaml:8: routes[0].upstream: unknown upstream 'down' (known: up)",
        ),
        # an invalid value
        (
            ("max_body_bytes: 1024", "max_body_bytes: -1"),
            "p.yaml:14: routes[0].checks[1].max_body_bytes: Input should be greater than or "
            "equal to 0",
        ),
        # a missing environment variable without a default
        (
            ("${UP_PORT:-9000}", "${NOT_SET_ANYWHERE}"),
            "p.yaml:4: upstreams.up.targets[0]: environment variable NOT_SET_ANYWHERE is not set",
        ),
        # a wrong version
        (("version: 1", "version: 2"), "p.yaml:1: version: Input should be 1"),
        # a duplicate key
        (("  up:\n", "  up:\n    targets: []\n"), "p.yaml:5: upstreams.up.targets: duplicate key"),
        # broken YAML
        (("routes:", "routes: ["), "p.yaml:6: invalid YAML"),
        # a bad regular expression
        (
            ("deny_networks: [10.0.0.0/8]", "deny_headers: [{name: x, matches: '(('}]"),
            "p.yaml:12: routes[0].checks[0].deny_headers[0].matches: invalid regular expression",
        ),
    ],
)
def test_errors_name_file_line_and_key(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in VALID
    with pytest.raises(PolicyError) as raised:
        parse_policy(VALID.replace(old, new, 1), "p.yaml", environ={})
    assert any(line.startswith(message) for line in raised.value.problems), raised.value.problems


def test_values_yaml_cannot_construct_are_policy_errors() -> None:
    for bad in ("mode: 2001-99-99", "mode: !!binary zz"):
        with pytest.raises(PolicyError, match=r"p\.yaml"):
            parse_policy(VALID.replace("version: 1", f"version: 1\n{bad}"), "p.yaml")


def test_empty_and_non_mapping_documents() -> None:
    for text in ("", "[1, 2]"):
        with pytest.raises(PolicyError, match=r"p\.yaml:1"):
            parse_policy(text, "p.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")


def test_wardgate_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("upstream: up", "upstream: down"))
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(good)])
    assert ok.exit_code == 0 and "OK (1 routes, 2 checks)" in ok.output
    failed = runner.invoke(main, ["check", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:8: routes[0].upstream: unknown upstream 'down'" in failed.output


def test_the_packaged_default_policy_is_valid() -> None:
    from wardgate.cli import default_policy_path

    policy = load_policy(default_policy_path(), environ={})
    assert policy.routes[0].provider == "openai"


def test_policy_schema_documents_every_field() -> None:
    import json

    result = CliRunner().invoke(main, ["policy-schema"])
    schema = json.loads(result.output)
    undocumented = [
        f"{name}.{field}"
        for name, definition in schema["$defs"].items()
        for field, spec in definition.get("properties", {}).items()
        if "description" not in spec and field != "type"
    ]
    assert undocumented == []


def test_policy_docs_are_up_to_date() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "policy_docs.py"
    checked = subprocess.run([sys.executable, str(script), "--check"], check=False)
    assert checked.returncode == 0, "run `python scripts/policy_docs.py` to refresh docs/policy.md"
