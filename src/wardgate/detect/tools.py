"""Tool-call policy (OWASP LLM06, excessive agency): which calls a model may hand back.

A model that can call tools acts with the application's authority, and its arguments are
written by whatever text reached it, injected instructions included. So the calls in a
response are judged before the client can run them: the tool must be allowed, its arguments
must be one JSON object that fits the tool's schema, no string in them may point at the
server's own network (SSRF through a `fetch_url` tool), and for tools whose arguments reach a
shell no string may carry shell syntax or start like an option.

Arguments are parsed strictly, because the tool will parse them again and a policy that reads
JSON differently from the tool can be walked around: duplicate keys (parsers keep the first
or the last), `NaN` and `Infinity` are refused. Schemas are compiled once (fastjsonschema)
without defaults filled in, so validation never changes the arguments, and with every remote
`$ref` refused, so loading a policy fetches nothing.

Cost (one core of a shared VM, `test_judge_cost_report`): a shell tool's one-line command
about 5 µs, a small object without a schema 7 µs, a few short values with a schema, or a URL,
17 to 20 µs. Every string costs about a microsecond, and a single word (`celsius`) a few
more, since it may be a host (`localhost`, `metadata`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NamedTuple, TypeVar

import fastjsonschema

from wardgate.decision import Evidence, Finding, Location
from wardgate.detect.attacks import ssrf
from wardgate.detect.attacks.model import Part, PartKind

__all__ = [
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

KIND = "agency.tools"
DEFAULT_MAX_ARGUMENT_BYTES = 65_536
REMOVED_TEXT = "[tool call removed by policy]"

_MAX_PATH = 200
_MAX_NAME = 256
_MAX_HOST = 300
_SHELL_SYNTAX = re.compile(r"[;|&`<>\n\r\x00]|\$[({]")
_SHELL_REASONS = {
    ";": "command separator ';'",
    "|": "pipe or '||'",
    "&": "background or '&&'",
    "`": "command substitution '`'",
    "<": "redirection '<'",
    ">": "redirection '>'",
    "\n": "newline (a new command)",
    "\r": "carriage return",
    "\x00": "NUL byte (truncates the argument)",
    "$(": "command substitution '$('",
    "${": "parameter expansion '${'",
}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?(?::\d{1,5})?")
_BRACKETED = re.compile(r"\[[0-9a-f:.%a-z]+\](?::\d{1,5})?")
_IPV6_CHARS = frozenset("0123456789abcdef:.%")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ToolViolation:
    """Why one tool call is denied. Carries no argument value: evidence is a length and hash.

    `rule` is one of `tools.not_allowed`, `tools.arguments_too_large`, `tools.bad_arguments`,
    `tools.ssrf_argument`, `tools.shell_metacharacters`. `tool` is the called name (cut to
    256 characters), `path` the JSON path of the offending value in the arguments (`$` for the
    whole). `index` and `call_id` locate the call in a response; `judge` leaves them None.
    """

    rule: str
    tool: str
    reason: str
    severity: str = "high"
    path: str = "$"
    evidence: Evidence | None = None
    index: int | None = None
    call_id: str | None = None

    def finding(self) -> Finding:
        """The violation as a `Finding` of kind `agency.tools`, for a check's decision."""
        where = f"tool_calls[{self.index}]" if self.index is not None else "tool_call"
        return Finding(
            kind=KIND,
            rule=self.rule,
            severity=self.severity,
            location=Location(f"{where}:{self.tool}{self.path[1:]}"),
            evidence=self.evidence,
            reason=self.reason,
        )


@dataclass(frozen=True, slots=True, eq=False)
class ToolRules:
    """A route's tool-call policy, compiled once; `judge` is pure and safe to share.

    `allowed`: the tool names a model may call (None: any). `schemas`: a JSON Schema (draft 4,
    6 or 7) per tool name for its arguments; a tool without one is not schema-checked.
    `shell_tools`: tools whose arguments end up in a shell command; none of their string
    values may hold shell syntax or start with `-` (an option). `url_arguments`: judge
    every string argument for internal URLs, `host:port` targets, bare internal hosts and
    dangerous schemes. `max_argument_bytes`: the largest arguments (UTF-8 JSON) read at all.

    Raises `ValueError` at construction for an invalid schema or limit (a configuration
    fault). Compared by identity.

    >>> rules = ToolRules(allowed=frozenset({"fetch"}))
    >>> [v.rule for v in rules.judge("fetch", '{"url": "http://169.254.169.254/latest"}')]
    ['tools.ssrf_argument']
    """

    allowed: frozenset[str] | None = None
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shell_tools: frozenset[str] = frozenset()
    url_arguments: bool = True
    max_argument_bytes: int = DEFAULT_MAX_ARGUMENT_BYTES
    _validators: Mapping[str, Callable[[Any], Any]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.max_argument_bytes < 1:
            raise ValueError(f"max_argument_bytes must be positive, not {self.max_argument_bytes}")
        object.__setattr__(
            self, "_validators", {n: _compile(n, s) for n, s in self.schemas.items()}
        )

    def judge(self, call_name: str, arguments: str | Mapping[str, Any]) -> list[ToolViolation]:
        """Why the complete call `call_name(arguments)` is denied; empty when it is allowed.

        `arguments` is the model's JSON text (OpenAI; "" counts as `{}`) or the object
        (Anthropic). A name that is not allowed, arguments over the size limit or that do not
        parse give that one violation; otherwise at most one per rule, each naming the first
        offending value. Never raises for any name or arguments.
        """
        name = call_name[:_MAX_NAME]
        if self.allowed is not None and call_name not in self.allowed:
            return [_violation("tools.not_allowed", name, "tool is not allowed", call_name)]
        text = _as_text(arguments)
        if text is None:
            return [_violation("tools.bad_arguments", name, "arguments are not JSON", None)]
        size = _utf8_size(text)
        if size > self.max_argument_bytes:
            why = f"arguments are {size} bytes, over the limit of {self.max_argument_bytes}"
            return [_violation("tools.arguments_too_large", name, why, text, severity="medium")]
        parsed = _parse(text)
        if isinstance(parsed, str):
            return [_violation("tools.bad_arguments", name, parsed, text, severity="medium")]
        violations = []
        validator = self._validators.get(call_name)
        if validator is not None:
            schema_violation = _schema_violation(validator, parsed, name)
            if schema_violation is not None:
                violations.append(schema_violation)
        if self.url_arguments or call_name in self.shell_tools:
            violations.extend(self._string_violations(name, parsed, call_name in self.shell_tools))
        return violations

    def _string_violations(self, name: str, parsed: object, shell: bool) -> list[ToolViolation]:
        found: dict[str, ToolViolation] = {}
        wanted = int(self.url_arguments) + int(shell)
        for steps, value in _strings(parsed):
            if self.url_arguments and "tools.ssrf_argument" not in found:
                hit = _ssrf(name, steps, value)
                if hit is not None:
                    found[hit.rule] = hit
            if shell and "tools.shell_metacharacters" not in found:
                hit = _shell(name, steps, value)
                if hit is not None:
                    found[hit.rule] = hit
            if len(found) == wanted:
                break
        return list(found.values())


@dataclass(frozen=True, slots=True)
class AssembledCall:
    """A streamed tool call put back together: its index, name and argument text."""

    index: int
    name: str
    arguments: str


class ToolCallAssembler:
    """Joins streamed tool-call fragments per call index; one assembler per response.

    OpenAI streams a call as deltas at `tool_calls[i].index` (the name first, then pieces of
    the argument text); Anthropic as `content_block_start` (name) and `input_json_delta`
    events at a block index. Feed each fragment; once the calls are complete (OpenAI: the
    finish reason arrived; Anthropic: the block stopped), judge `complete()`'s calls.

    Bounded: a call keeps at most `max_argument_bytes + 1` characters of arguments, so a
    longer call still fails `ToolRules.judge` as too large; indices past `max_calls` are
    dropped and `overflowed` is set, and then the response must be refused, since calls
    that were not kept were not judged.

    >>> assembler = ToolCallAssembler()
    >>> assembler.feed(0, "fetch", '{"url": ')
    >>> assembler.feed(0, "", '"https://example.com"}')
    >>> assembler.complete()
    [AssembledCall(index=0, name='fetch', arguments='{"url": "https://example.com"}')]
    """

    def __init__(
        self, max_argument_bytes: int = DEFAULT_MAX_ARGUMENT_BYTES, max_calls: int = 128
    ) -> None:
        self._limit = max_argument_bytes + 1
        self._max_calls = max_calls
        self._names: dict[int, list[str]] = {}
        self._arguments: dict[int, list[str]] = {}
        self._sizes: dict[int, int] = {}
        self.overflowed = False

    def feed(self, index: int, name_fragment: str = "", arguments_fragment: str = "") -> None:
        """Add what one event carried for the call at `index` (either fragment may be "")."""
        if index not in self._names:
            if len(self._names) >= self._max_calls:
                self.overflowed = True
                return
            self._names[index], self._arguments[index], self._sizes[index] = [], [], 0
        if name_fragment and sum(map(len, self._names[index])) < _MAX_NAME:
            self._names[index].append(name_fragment)
        room = self._limit - self._sizes[index]
        if arguments_fragment and room > 0:
            piece = arguments_fragment[:room]
            self._arguments[index].append(piece)
            self._sizes[index] += len(piece)

    @property
    def indexes(self) -> list[int]:
        """The indexes of the calls fed so far, in order."""
        return sorted(self._names)

    def call(self, index: int) -> AssembledCall:
        """One call fed so far, its fragments joined."""
        return AssembledCall(index, "".join(self._names[index]), "".join(self._arguments[index]))

    def complete(self) -> list[AssembledCall]:
        """Every call fed so far, in index order, with its fragments joined."""
        return [
            AssembledCall(index, "".join(self._names[index]), "".join(self._arguments[index]))
            for index in sorted(self._names)
        ]


class Filtered(NamedTuple, Generic[T]):
    """A response part with the denied tool calls taken out, and why they were."""

    value: T
    violations: tuple[ToolViolation, ...]


def filter_openai_message(
    message: Mapping[str, Any], rules: ToolRules
) -> Filtered[Mapping[str, Any]]:
    """`choices[i].message` without its denied tool calls; the input is never changed.

    Judges `tool_calls` (a `function` call's `arguments`; a `custom` tool's free-form
    `input` as `{"input": text}`) and the legacy `function_call`; a call of another type or
    shape is denied as `tools.bad_arguments`. When nothing is denied, the same message comes
    back. When every call is removed, the key goes, and a null or empty `content` becomes
    `REMOVED_TEXT` so the message stays valid. Setting `finish_reason` (`tool_calls` to
    `stop`) when no call is left is the caller's job: it sits on the choice, not here.
    Kept calls and other members are shared with the input, not copied.
    """
    violations: list[ToolViolation] = []
    calls = message.get("tool_calls")
    kept: list[Any] = []
    if isinstance(calls, list):
        for index, call in enumerate(calls):
            found = _openai_call(call, rules, index)
            violations.extend(found)
            if not found:
                kept.append(call)
    elif calls is not None:
        violations.append(_malformed(None, None))
    legacy = message.get("function_call")
    legacy_found = [] if legacy is None else _openai_function(legacy, rules, None, None)
    violations.extend(legacy_found)
    if not violations:
        return Filtered(message, ())
    out = dict(message)
    if isinstance(calls, list) and kept:
        out["tool_calls"] = kept
    else:
        out.pop("tool_calls", None)
    if legacy_found:
        del out["function_call"]
    if "tool_calls" not in out and "function_call" not in out and not out.get("content"):
        out["content"] = REMOVED_TEXT
    return Filtered(out, tuple(violations))


def filter_anthropic_content(blocks: list[Any], rules: ToolRules) -> Filtered[list[Any]]:
    """A Messages response's `content` without its denied `tool_use` blocks; input unchanged.

    Only `tool_use` blocks are judged: `server_tool_use` and `mcp_tool_use` run on the
    provider's side, where the gateway cannot stop them. When nothing is denied the same
    list comes back; when nothing is left, one text block with `REMOVED_TEXT`. Setting
    `stop_reason` (`tool_use` to `end_turn`) is the caller's job.
    """
    violations: list[ToolViolation] = []
    kept: list[Any] = []
    for index, block in enumerate(blocks):
        found = _anthropic_block(block, rules, index)
        violations.extend(found)
        if not found:
            kept.append(block)
    if not violations:
        return Filtered(blocks, ())
    return Filtered(kept or [{"type": "text", "text": REMOVED_TEXT}], tuple(violations))


def _openai_call(call: Any, rules: ToolRules, index: int) -> list[ToolViolation]:
    if not isinstance(call, Mapping):
        return [_malformed(index, None)]
    call_id = call.get("id") if isinstance(call.get("id"), str) else None
    kind = call.get("type", "function")
    if kind == "function":
        return _openai_function(call.get("function"), rules, index, call_id)
    custom = call.get("custom")
    if kind == "custom" and isinstance(custom, Mapping):
        name, text = custom.get("name"), custom.get("input", "")
        if isinstance(name, str) and isinstance(text, str):
            return _located(rules.judge(name, {"input": text}), index, call_id)
    return [_malformed(index, call_id)]


def _openai_function(
    function: Any, rules: ToolRules, index: int | None, call_id: str | None
) -> list[ToolViolation]:
    if isinstance(function, Mapping):
        name, arguments = function.get("name"), function.get("arguments", "")
        if isinstance(name, str) and isinstance(arguments, str):
            return _located(rules.judge(name, arguments), index, call_id)
    return [_malformed(index, call_id)]


def _anthropic_block(block: Any, rules: ToolRules, index: int) -> list[ToolViolation]:
    if not isinstance(block, Mapping) or block.get("type") != "tool_use":
        return []
    name, arguments = block.get("name"), block.get("input", {})
    block_id = block.get("id") if isinstance(block.get("id"), str) else None
    if not isinstance(name, str) or not isinstance(arguments, Mapping):
        return [_malformed(index, block_id)]
    return _located(rules.judge(name, arguments), index, block_id)


def _located(
    violations: list[ToolViolation], index: int | None, call_id: str | None
) -> list[ToolViolation]:
    return [replace(v, index=index, call_id=call_id) for v in violations]


def _malformed(index: int | None, call_id: str | None) -> ToolViolation:
    why = "tool call of unknown shape"
    return ToolViolation("tools.bad_arguments", "", why, "medium", index=index, call_id=call_id)


def _violation(
    rule: str,
    tool: str,
    reason: str,
    value: str | None,
    *,
    severity: str = "high",
    path: str = "$",
) -> ToolViolation:
    evidence = Evidence.of(value) if value is not None else None
    return ToolViolation(rule, tool, reason, severity, path[:_MAX_PATH], evidence)


class _RefusedRemote(Mapping[str, Callable[[str], Any]]):
    """fastjsonschema's handlers: present for every scheme, so no `$ref` is ever fetched."""

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        return _refuse

    def __contains__(self, scheme: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _refuse(uri: str) -> Any:
    raise fastjsonschema.JsonSchemaDefinitionException(f"remote $ref {uri!r} is not fetched")


def _compile(name: str, schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    try:
        return fastjsonschema.compile(
            json.loads(json.dumps(schema)), handlers=_RefusedRemote(), use_default=False
        )
    except (fastjsonschema.JsonSchemaException, TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"schema for tool {name!r} is invalid: {err}") from err


def _as_text(arguments: object) -> str | None:
    """The arguments as JSON text: the model's own text, or the object written compactly."""
    if isinstance(arguments, str):
        return arguments if arguments.strip() else "{}"
    try:
        return json.dumps(arguments, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _StrictJSONError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _StrictJSONError("arguments repeat a key")
    return result


def _no_constant(name: str) -> Any:
    raise _StrictJSONError(f"arguments hold {name}, which is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def _parse(text: str) -> dict[str, Any] | str:
    """The arguments object, or why the text is not one (a string)."""
    try:
        value = _DECODER.decode(text)
    except _StrictJSONError as err:
        return str(err)
    except json.JSONDecodeError as err:
        return f"arguments are not JSON ({err.msg} at character {err.pos})"
    except (ValueError, RecursionError):
        return "arguments are not JSON (a number too long or nesting too deep)"
    if not isinstance(value, dict):
        return "arguments are not a JSON object"
    return value


def _schema_violation(
    validator: Callable[[Any], Any], arguments: dict[str, Any], name: str
) -> ToolViolation | None:
    try:
        validator(arguments)
    except fastjsonschema.JsonSchemaValueException as err:
        path = "$" + (err.name or "data")[len("data") :]
        why = f"{path[:_MAX_PATH]} fails '{err.rule}' {err.rule_definition!r:.80}"
        return _violation("tools.bad_arguments", name, why, None, severity="medium", path=path)
    except RecursionError:
        why = "arguments nest too deeply to validate"
        return _violation("tools.bad_arguments", name, why, None, severity="medium")
    return None


def _strings(value: object) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string value in parsed JSON with its keys and indices, in document order.

    Iterative, so no nesting depth can exhaust the stack; paths are formatted only for a
    violation (`_path`), since almost every value passes.
    """
    stack: list[tuple[tuple[str | int, ...], object]] = [((), value)]
    while stack:
        steps, item = stack.pop()
        if isinstance(item, str):
            yield steps, item
        elif isinstance(item, dict):
            stack.extend(((*steps, key), member) for key, member in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*steps, i), item[i]) for i in range(len(item) - 1, -1, -1))


def _path(steps: tuple[str | int, ...]) -> str:
    """A JSON path: `$.a[0]`, with keys that are not identifiers quoted (`$["a b"]`)."""
    parts = ["$"]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENTIFIER.fullmatch(step):
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step)}]")
        if sum(map(len, parts)) > _MAX_PATH:
            break
    return "".join(parts)


def _ssrf(name: str, steps: tuple[str | int, ...], value: str) -> ToolViolation | None:
    findings = ssrf.scan(Part("tool-argument", value, PartKind.BODY))
    if findings:
        first = findings[0]
        severity = "error" if first.severity == "notice" else first.severity
        why = f"{first.rule}: {first.reason}"
        return _violation(
            "tools.ssrf_argument", name, why, value, severity=severity, path=_path(steps)
        )
    host = ssrf.fold(ssrf.percent_decoded(value)).strip().lower()
    reason = ssrf.internal_target(host) if _bare_host(host) else None
    if reason is None:
        return None
    severity = "error" if reason == "internal-name" else "critical"
    why = f"bare host is {reason.replace('-', ' ')}"
    return _violation("tools.ssrf_argument", name, why, value, severity=severity, path=_path(steps))


def _bare_host(text: str) -> bool:
    """Whether `text` is written like a host alone: `10.0.0.5`, `localhost`, `[::1]`, `::1`.

    Not a number (`10`, `0.5`), a time (`12:30:00`) or a version (`1.2.3`), which a
    lenient IPv4 parser would also read as addresses.
    """
    if len(text) > _MAX_HOST:
        return False
    if text.startswith("["):
        return _BRACKETED.fullmatch(text) is not None
    if text.count(":") >= 2:
        return set(text) <= _IPV6_CHARS and _ipv6(text)
    if _HOST_NAME.fullmatch(text) is None:
        return False
    host = text.partition(":")[0].rstrip(".")
    if ssrf.ipv4_readings(host):
        return host.count(".") == 3 or host.startswith("0x")
    return not host[-1:].isdigit()


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def _shell(name: str, steps: tuple[str | int, ...], value: str) -> ToolViolation | None:
    syntax = _SHELL_SYNTAX.search(value)
    if syntax is not None:
        why = f"shell syntax: {_SHELL_REASONS[syntax.group()]}"
    elif value.lstrip().startswith("-"):
        why = "starts with '-' (read as an option by the command)"
    else:
        return None
    return _violation(
        "tools.shell_metacharacters", name, why, value, severity="critical", path=_path(steps)
    )
