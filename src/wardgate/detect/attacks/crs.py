"""The `crs` engine: the OWASP Core Rule Set, run by libmodsecurity3 through its C API.

CRS is the reference ruleset for request attacks, tuned by a community for a decade; running
it beside our own engine gives a second opinion and a yardstick. The binding is cffi in ABI
mode (`dlopen`), so installing Wardgate never needs a compiler: the library and the rules
come from the system (`apt-get install libmodsecurity3 modsecurity-crs`), and
`crs_available` says why the engine cannot run when they are missing.

What is loaded, once per engine: the engine settings of `modsecurity.conf-recommended` that
matter for requests (body access, JSON/XML body processors chosen by Content-Type, body
errors reported rather than denied), an inline equivalent of `crs-setup.conf` (anomaly
scoring, the paranoia level and the inbound threshold; the operator's own
`/etc/modsecurity/crs/crs-setup.conf` is deliberately not read, so results do not depend on
local edits), then every `REQUEST-*.conf` file of the rules directory in name order.
Response rules are never loaded: only requests are inspected.

Per-rule detail comes from libmodsecurity's server log callback, one text line per matched
rule. Parts of that line are client text that libmodsecurity does not escape (the matched
value, the URI, two messages), so fields are read from the right, from a hostname that is a
random token only the engine knows; the score and the block come from values a client
cannot forge (the intervention, and a final rule of ours that logs `tx.anomaly_score`).
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import weakref
from ctypes.util import find_library
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import cffi  # type: ignore[import-untyped]

from wardgate.decision import Finding, Location
from wardgate.detect.attacks.model import HttpSample, Report, Severity

__all__ = [
    "DEFAULT_RULES_DIR",
    "INSPECTED_ARGUMENTS_LIMIT",
    "INSPECTED_BODY_LIMIT",
    "CrsEngine",
    "crs_available",
]

DEFAULT_RULES_DIR = Path("/usr/share/modsecurity-crs/rules")
# Bytes of a body that are inspected; the rest is ignored (ModSecurity's ProcessPartial).
INSPECTED_BODY_LIMIT = 1_048_576
# Fields (query, form, JSON values) parsed from a request; see `CrsEngine` for why.
INSPECTED_ARGUMENTS_LIMIT = 1000

_INSTALL_HINT = "apt-get install libmodsecurity3 modsecurity-crs"
_LIBRARY = "libmodsecurity.so.3"
_CDEF = """
typedef struct ModSecurity_t ModSecurity;
typedef struct RulesSet_t RulesSet;
typedef struct Transaction_t Transaction;
typedef struct ModSecurityIntervention_t {
    int status; int pause; char *url; char *log; int disruptive;
} ModSecurityIntervention;
typedef void (*ModSecLogCb) (void *, const void *);
ModSecurity *msc_init(void);
void msc_set_connector_info(ModSecurity *msc, const char *connector);
void msc_set_log_cb(ModSecurity *msc, ModSecLogCb cb);
void msc_cleanup(ModSecurity *msc);
RulesSet *msc_create_rules_set(void);
int msc_rules_add(RulesSet *rules, const char *plain_rules, const char **error);
int msc_rules_cleanup(RulesSet *rules);
Transaction *msc_new_transaction(ModSecurity *ms, RulesSet *rules, void *logCbData);
int msc_process_connection(Transaction *transaction,
    const char *client, int cPort, const char *server, int sPort);
int msc_process_uri(Transaction *transaction, const char *uri,
    const char *protocol, const char *http_version);
int msc_add_n_request_header(Transaction *transaction, const unsigned char *key,
    size_t len_key, const unsigned char *value, size_t len_value);
int msc_process_request_headers(Transaction *transaction);
int msc_append_request_body(Transaction *transaction, const unsigned char *body, size_t size);
int msc_process_request_body(Transaction *transaction);
int msc_intervention(Transaction *transaction, ModSecurityIntervention *it);
void msc_transaction_cleanup(Transaction *transaction);
void free(void *ptr);
"""

# Rule ids from the local-use range (1-99999) and modsecurity.conf-recommended (2000xx).
_SCORE_RULE = 99001
_BODY_ERROR_RULES = frozenset({200002, 200003, 200007})
_BLOCKING_RULE = 949110

_ENGINE_CONFIG = """\
SecRuleEngine On
SecRequestBodyAccess On
SecResponseBodyAccess Off
SecRequestBodyLimit {limit}
SecRequestBodyNoFilesLimit {limit}
SecRequestBodyLimitAction ProcessPartial
SecArgumentsLimit {arguments}
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" \
 "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/(?:[a-z0-9.-]+\\+)?json" \
 "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \
 "id:200002,phase:2,t:none,pass,log,severity:'ERROR',msg:'Request body does not parse'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \
 "id:200003,phase:2,t:none,pass,log,severity:'ERROR',msg:'Multipart body fails strict checks'"
SecRule &ARGS "@ge {arguments}" \
 "id:200007,phase:2,t:none,pass,log,severity:'ERROR',msg:'Request has too many fields to inspect'"
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900990,phase:1,pass,nolog,t:none,setvar:tx.crs_setup_version=334"
SecAction "id:900000,phase:1,pass,nolog,t:none,\
setvar:tx.paranoia_level={paranoia},setvar:tx.executing_paranoia_level={paranoia},\
setvar:tx.blocking_paranoia_level={paranoia},setvar:tx.detection_paranoia_level={paranoia},\
setvar:tx.inbound_anomaly_score_threshold={threshold}"
"""
_SCORE_CONFIG = (
    f"SecAction \"id:{_SCORE_RULE},phase:2,pass,log,msg:'score %{{tx.anomaly_score}}'\"\n"
)

# (first id, last id, category); the first row that holds an id wins.
_CATEGORY_RANGES: tuple[tuple[int, int, str], ...] = (
    (200002, 200007, "malformed"),
    (910000, 910999, "scanner"),
    (913000, 913999, "scanner"),
    (921110, 921110, "protocol"),
    (921120, 921199, "crlf"),
    (921200, 921200, "ldapi"),
    (930000, 930999, "traversal"),
    (931000, 931999, "rfi"),
    (932000, 932999, "cmdi"),
    (933000, 934999, "code"),
    (941000, 941999, "xss"),
    (942000, 942999, "sqli"),
    (943000, 943999, "session_fixation"),
    (944120, 944120, "deserialization"),
    (944200, 944240, "deserialization"),
    (944000, 944999, "code"),
)
_DEFAULT_CATEGORY = "protocol"
# HPP (921170, 921180) and dangerous content types (921421) are protocol abuse, not CRLF.
_PROTOCOL_IDS = frozenset({921170, 921180, 921230, 921421, 921422})
# ModSecurity logs syslog levels; CRS rules use 2 to 5.
_SEVERITIES = {0: "critical", 1: "critical", 2: "critical", 3: "error", 4: "warning"}

_TAIL = re.compile(
    r' \[data "(?P<data>[^"]*)"\] \[severity "(?P<severity>\d+)"\] \[ver "[^"]*"\]'
    r' \[maturity "\d+"\] \[accuracy "\d+"\](?: \[tag "[^"]*"\])*$'
)
_HEAD = re.compile(r'\[file "[^"]*"\] \[line "\d+"\] \[id "(?P<id>\d+)"\] \[rev "[^"]*"\] \[msg "')
_MATCHED_VARIABLE = re.compile(
    r"Matched \"Operator `[^`]*' with parameter `.*?' against variable `(?P<var>.*?)' \(Value: `"
)
_DATA_VARIABLE = re.compile(r"found within (?P<var>[A-Z_]+(?::.*?)?): ")
_TOTAL_SCORE = re.compile(r"\(Total Score: (\d+)\)")
_JSON_ARRAY_INDEX = re.compile(r"\.array_(\d+)(?=\.|$)")
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


@dataclass(frozen=True, slots=True)
class _LogLine:
    """One rule match as libmodsecurity logged it."""

    rule_id: int
    message: str
    severity: str
    variable: str | None


def crs_available(rules_dir: Path | None = None) -> str | None:
    """None when the engine can run; otherwise why not, and how to fix it."""
    loaded = _load()
    if isinstance(loaded, str):
        return loaded
    directory = rules_dir or DEFAULT_RULES_DIR
    if not (directory / "REQUEST-901-INITIALIZATION.conf").is_file():
        return f"CRS rules not found in {directory}: {_INSTALL_HINT}"
    return None


class CrsEngine:
    """CRS in anomaly-scoring mode: findings per matched rule, CRS's own block decision.

    `paranoia` (1-4) selects the rules that run; `threshold` is CRS's inbound anomaly score
    threshold, so `blocked` is CRS's verdict (rule 949110 denied the request). Construction
    parses the whole ruleset (tens of milliseconds) and raises `RuntimeError` when
    libmodsecurity or the rules are missing or do not load; `inspect` never raises for input.

    CRS knows nothing of natural-language fields, so `text_slots` is accepted and ignored:
    a chat message is inspected like any other JSON value (expect false positives on prose
    at paranoia 2 and above). Inspections are serialised by a lock; libmodsecurity releases
    the GIL, so for parallel inspection build one engine per worker thread.

        engine = CrsEngine(paranoia=1)
        engine.inspect(HttpSample("GET", "/", "id=1%27%20OR%20%271%27%3D%271")).blocked  # True
    """

    name = "crs"

    def __init__(
        self, paranoia: int = 1, threshold: int = 5, rules_dir: Path | None = None
    ) -> None:
        if paranoia not in (1, 2, 3, 4):
            raise ValueError(f"paranoia must be 1, 2, 3 or 4, not {paranoia}")
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, not {threshold}")
        reason, library = crs_available(rules_dir), _load()
        if reason is not None or isinstance(library, str):
            raise RuntimeError(reason or library)
        self._ffi, self._lib = _FFI, library
        self.paranoia = paranoia
        self.threshold = threshold
        # Only the engine knows this token: it marks where client-controlled log text ends.
        self._server = f"wardgate-{secrets.token_hex(8)}"
        self._lock = threading.Lock()
        self._log_callback = self._ffi.callback("void(void *, const void *)", _collect_log)
        self._modsec = self._lib.msc_init()
        self._lib.msc_set_connector_info(self._modsec, b"wardgate")
        self._lib.msc_set_log_cb(self._modsec, self._log_callback)
        self._rules = self._lib.msc_create_rules_set()
        weakref.finalize(self, _release, self._lib, self._modsec, self._rules, self._log_callback)
        self._add_rules(_configuration(paranoia, threshold, rules_dir or DEFAULT_RULES_DIR))

    def inspect(self, sample: HttpSample, *, text_slots: frozenset[str] = frozenset()) -> Report:
        """Run phases 1 and 2 on `sample`; `malformed` when a body or field list was cut."""
        lines: list[str] = []
        handle = self._ffi.new_handle(lines)
        with self._lock:
            denial_log = self._run(sample, handle)
        denial = self._parse(denial_log) if denial_log is not None else None
        matches = [match for match in map(self._parse, lines) if match is not None]
        findings = _findings(matches, sample)
        malformed = any(match.rule_id in _BODY_ERROR_RULES for match in matches)
        score = _score(matches, denial, findings)
        return Report(tuple(findings), score, denial_log is not None, malformed)

    def _run(self, sample: HttpSample, handle: Any) -> str | None:
        """Feed `sample` to a new transaction: the log of a disruptive action, or None."""
        ffi, lib = self._ffi, self._lib
        transaction = lib.msc_new_transaction(self._modsec, self._rules, handle)
        intervention = ffi.new("ModSecurityIntervention *")
        try:
            lib.msc_process_connection(transaction, b"127.0.0.1", 40000, self._server.encode(), 80)
            lib.msc_process_uri(transaction, _uri(sample), _bytes(sample.method), b"1.1")
            for key, value in _headers(sample):
                lib.msc_add_n_request_header(transaction, key, len(key), value, len(value))
            lib.msc_process_request_headers(transaction)
            if not _intervened(lib, transaction, intervention):
                body = memoryview(sample.body)[:INSPECTED_BODY_LIMIT]
                lib.msc_append_request_body(transaction, ffi.from_buffer(body), len(body))
                lib.msc_process_request_body(transaction)
                _intervened(lib, transaction, intervention)
            if not intervention.disruptive:
                return None
            return (
                ffi.string(intervention.log).decode("utf-8", "replace") if intervention.log else ""
            )
        finally:
            for pointer in (intervention.url, intervention.log):
                if pointer != ffi.NULL:
                    lib.free(pointer)
            lib.msc_transaction_cleanup(transaction)

    def _add_rules(self, configuration: str) -> None:
        error = self._ffi.new("const char **")
        if self._lib.msc_rules_add(self._rules, configuration.encode(), error) < 0:
            message = self._ffi.string(error[0]).decode("utf-8", "replace") if error[0] else "?"
            self._lib.free(self._ffi.cast("void *", error[0]))
            raise RuntimeError(f"CRS rules did not load: {message.strip()}")

    def _parse(self, line: str) -> _LogLine | None:
        """Read one log line from the right, where every field is quoted or escaped."""
        end = line.rfind(f' [hostname "{self._server}"]')
        tail = _TAIL.search(line, 0, end) if end >= 0 else None
        if tail is None:
            return None
        # The last header wins: client text (the matched value) can only come before it.
        heads = list(_HEAD.finditer(line, 0, tail.start()))
        if not heads:
            return None
        head = heads[-1]
        message = line[head.end() : tail.start() - 2]
        return _LogLine(
            rule_id=int(head["id"]),
            message=message,
            severity=_SEVERITIES.get(int(tail["severity"]), "notice"),
            variable=_variable(line[: head.start()], tail["data"]),
        )


def _intervened(lib: Any, transaction: Any, intervention: Any) -> bool:
    """Collect a pending disruptive action; libmodsecurity strdup()s its url and log."""
    if intervention.disruptive:
        return True
    return bool(lib.msc_intervention(transaction, intervention))


def _score(matches: list[_LogLine], denial: _LogLine | None, findings: list[Finding]) -> int:
    """CRS's `tx.anomaly_score`: from the denial when blocked, else from our final rule."""
    if denial is not None and denial.rule_id == _BLOCKING_RULE:
        total = _TOTAL_SCORE.search(denial.message)
        if total:
            return int(total[1])
    for match in matches:
        if match.rule_id == _SCORE_RULE and match.message.removeprefix("score ").isdigit():
            return int(match.message.removeprefix("score "))
    # Neither ran (another rule denied first): the best estimate is the findings' points.
    return sum(int(finding.score) for finding in findings)


def _findings(matches: list[_LogLine], sample: HttpSample) -> list[Finding]:
    query_keys = {key for key, _ in parse_qsl(sample.query, keep_blank_values=True)}
    findings: dict[tuple[int, str | None], Finding] = {}
    for match in matches:
        if match.rule_id in (_SCORE_RULE, _BLOCKING_RULE):
            continue
        slot = _slot(match.variable, query_keys) if match.variable else None
        findings.setdefault(
            (match.rule_id, slot),
            Finding(
                kind=f"attack.{_category(match.rule_id)}",
                rule=f"crs.{match.rule_id}",
                severity=match.severity,
                score=float(Severity.points(match.severity)),
                location=Location(slot) if slot else None,
                reason=match.message,
            ),
        )
    return list(findings.values())


def _category(rule_id: int) -> str:
    if rule_id in _PROTOCOL_IDS:
        return "protocol"
    for first, last, category in _CATEGORY_RANGES:
        if first <= rule_id <= last:
            return category
    return _DEFAULT_CATEGORY


def _variable(match_part: str, data: str) -> str | None:
    """The matched variable (`ARGS:id`), from the match text or else the logdata."""
    found = _MATCHED_VARIABLE.search(match_part) or _DATA_VARIABLE.search(data)
    if found is None:
        return None
    raw = _HEX_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), found["var"].encode())
    return raw.decode("utf-8", "replace")


def _slot(variable: str, query_keys: set[str]) -> str:
    """Our slot name (`query:id`, `json:a.b`, `header:user-agent`) for a CRS variable."""
    collection, _, key = variable.partition(":")
    if key.startswith("json."):
        # libmodsecurity names `{"a": [{"b": 1}]}`'s value `json.a.array_0.b`.
        key = _JSON_ARRAY_INDEX.sub(r"[\1]", key)
    if collection in ("ARGS", "ARGS_GET", "ARGS_POST"):
        if key.startswith("json."):
            return f"json:{key[5:]}"
        return f"query:{key}" if collection == "ARGS_GET" or key in query_keys else f"form:{key}"
    if collection in ("ARGS_NAMES", "ARGS_GET_NAMES", "ARGS_POST_NAMES"):
        if key.startswith("json."):
            return f"json-key:{key[5:]}"
        in_query = collection == "ARGS_GET_NAMES" or key in query_keys
        return f"query-key:{key}" if in_query else f"form-key:{key}"
    if collection in ("REQUEST_HEADERS", "REQUEST_HEADERS_NAMES"):
        return f"header:{key.lower()}"
    if collection in ("REQUEST_COOKIES", "REQUEST_COOKIES_NAMES"):
        return f"cookie:{key}"
    if collection in ("FILES", "FILES_NAMES"):
        return f"multipart-filename:{key}"
    if collection in ("REQUEST_URI", "REQUEST_URI_RAW", "REQUEST_FILENAME", "REQUEST_BASENAME"):
        return "path"
    if collection == "REQUEST_METHOD":
        return "method"
    if collection == "QUERY_STRING":
        return "query"
    if collection in ("REQUEST_BODY", "XML", "REQBODY_ERROR", "MULTIPART_STRICT_ERROR"):
        return "body"
    return variable


def _uri(sample: HttpSample) -> bytes:
    # A C string ends at NUL: encode it rather than let the rest of the URI vanish.
    uri = sample.path + ("?" + sample.query if sample.query else "")
    return _bytes(uri).replace(b"\x00", b"%00")


def _headers(sample: HttpSample) -> list[tuple[bytes, bytes]]:
    headers = [(_bytes(key), _bytes(value)) for key, value in sample.headers]
    framed = any(key.lower() in (b"content-length", b"transfer-encoding") for key, _ in headers)
    if sample.body and not framed:
        # A sample built by hand carries no framing; CRS would flag the missing header
        # (920180) although the body that reached us was framed on the wire.
        headers.append((b"Content-Length", str(len(sample.body)).encode()))
    return headers


def _bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _collect_log(handle: Any, message: Any) -> None:
    ffi = _FFI
    lines: list[str] = ffi.from_handle(handle)
    lines.append(ffi.string(ffi.cast("const char *", message)).decode("utf-8", "replace"))


def _release(lib: Any, modsec: Any, rules: Any, callback: Any) -> None:
    # `callback` is an argument only to outlive `modsec`, which calls it.
    lib.msc_rules_cleanup(rules)
    lib.msc_cleanup(modsec)


def _configuration(paranoia: int, threshold: int, rules_dir: Path) -> str:
    engine = _ENGINE_CONFIG.format(
        limit=INSPECTED_BODY_LIMIT,
        arguments=INSPECTED_ARGUMENTS_LIMIT,
        paranoia=paranoia,
        threshold=threshold,
    )
    includes = "".join(f'Include "{path}"\n' for path in sorted(rules_dir.glob("REQUEST-*.conf")))
    return engine + includes + _SCORE_CONFIG


_FFI = cffi.FFI()
_FFI.cdef(_CDEF)


@functools.cache
def _load() -> Any | str:
    """The libmodsecurity handle, or why it cannot be loaded.

    `free` resolves through the handle too: the library links libc, and the strings it
    hands over (intervention url and log, parser errors) are ours to free.
    """
    for name in (_LIBRARY, find_library("modsecurity")):
        if name is not None:
            try:
                return _FFI.dlopen(name)
            except OSError:
                continue
    return f"{_LIBRARY} not found: {_INSTALL_HINT}"
