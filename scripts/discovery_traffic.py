"""Synthetic API traffic (HAR 1.2) and its ground truth, from a real OpenAPI spec.

For API discovery: the discoverer sees the concrete requests of the HAR and must learn the
path templates the spec declares. Ground truth is every `(METHOD, servers[0] path prefix +
path key)` under `paths` (Swagger 2: `basePath` + path key), with the declared query,
header and cookie parameters of each operation.

Traffic is sparse like real traffic: each operation gets a few samples (1 to 12, mostly 2 to
4, now and then a hot one with more), path parameters get values of their declared schema
(enum, format, pattern, example) or, for free strings, of a class guessed from the name and
the resource it follows (ids as integers, UUIDs, hex, base64url; emails, usernames, slugs,
dates, Google-style ids, plain words such as `primary` or `me`). A share of noise requests
(scanner probes, gibberish, typo'd paths: all 404) is mixed in and counted in the truth
only. Everything follows from the seed: same spec and seed, same bytes.

    python scripts/discovery_traffic.py SPEC --out traffic.har --truth truth.json [--seed N]

Written and frozen independently of the templater (see docs on the discovery evaluation).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import yaml

SEED = 20261126
NOISE = 0.05
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DEPTH = 4
PARAM = re.compile(r"\{([^{}]+)\}")
Json = Any

# Sample counts per operation: most get 2 to 4, a long tail up to 12; hot ones get more.
COUNT_WEIGHTS = (8, 22, 24, 18, 9, 6, 4, 3, 2, 2, 1, 1)
HOT_SHARE = 0.08
OPTIONAL_SHARE = 0.3  # of optional query, header and cookie parameters sent
ERROR_SHARE = 0.08  # of responses with a declared error status
# OpenAPI ignores header parameters of these names (they come from elsewhere in the spec).
IGNORED_HEADERS = ("accept", "content-type", "authorization")

FIRST = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yuki", "zoe",
)  # fmt: skip
LAST = (
    "smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "anderson", "thomas",
    "moore", "martin", "lee", "walker", "hall", "young", "king", "wright", "scott", "green",
    "baker",
)  # fmt: skip
WORDS = (
    "red", "blue", "green", "river", "stone", "cloud", "forest", "summer", "winter", "north",
    "south", "alpha", "beta", "delta", "orange", "silver", "garden", "harbor", "meadow", "signal",
    "rocket", "pixel", "market", "ledger",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.io")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "axios/1.7.7",
    "PostmanRuntime/7.42.0",
)
SCANNER_AGENTS = ("curl/8.5.0", "Go-http-client/1.1", "zgrab/0.x", "Nuclei - Open-source project")
PROBES = (
    "/.env", "/wp-login.php", "/.git/config", "/xmlrpc.php", "/phpmyadmin/index.php",
    "/actuator/env", "/server-status", "/.aws/credentials", "/admin/config.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci", "/.DS_Store",
    "/wp-content/plugins/revslider/readme.txt", "/config.json", "/backup.zip",
    "/owa/auth/logon.aspx", "/api/.env", "/swagger-ui.html", "/.well-known/security.txt.bak",
    "/boaform/admin/formLogin",
)  # fmt: skip
BASE32HEX = string.digits + "abcdefghijklmnopqrstuv"
NOT_FOUND = '{"error":"Not Found"}'


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(rng: random.Random, n: int) -> str:
    return _chars(rng, string.ascii_letters + string.digits + "-_", n)


def _email(rng: random.Random) -> str:
    number = rng.choice(["", str(rng.randint(1, 99))])
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{number}@{rng.choice(DOMAINS)}"


def _integer(rng: random.Random) -> str:
    digits = rng.choices(range(1, 11), weights=(4, 6, 8, 8, 6, 5, 4, 3, 2, 2))[0]
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def _datetime(rng: random.Random) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(700 * 86400))


# Value classes: a path or query parameter draws all its values from one class.
CLASSES: dict[str, Callable[[random.Random], str]] = {
    "int": _integer,
    "small": lambda r: str(r.randint(1, 60)),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "hex16": lambda r: f"{r.getrandbits(64):016x}",
    "objectid": lambda r: f"{r.getrandbits(96):024x}",
    "md5": lambda r: f"{r.getrandbits(128):032x}",
    "sha1": lambda r: f"{r.getrandbits(160):040x}",
    "sha256": lambda r: f"{r.getrandbits(256):064x}",
    "b64": lambda r: base64.b64encode(r.randbytes(r.choice((12, 18, 24)))).decode(),
    "opaque": lambda r: _b64url(r, r.randint(16, 26)),  # Google-style opaque ids and tokens
    "shortuuid": lambda r: _chars(r, string.ascii_letters + string.digits, 22),
    "slug": lambda r: (
        "-".join(r.sample(WORDS, r.randint(2, 3))) + f"-{r.randint(2, 99)}" * r.randrange(2)
    ),
    "username": lambda r: r.choice([f"{r.choice(FIRST)}.{r.choice(LAST)}",
                                    f"{r.choice(FIRST)}_{r.randint(1, 999)}",
                                    f"{r.choice(FIRST)[0]}{r.choice(LAST)}",
                                    f"{r.choice(FIRST)}{r.choice(LAST).title()}"]),
    "person": lambda r: f"{r.choice(FIRST).title()} {r.choice(LAST).title()}",
    "email": _email,
    "word": lambda r: r.choice(WORDS),
    "title": lambda r: r.choice(WORDS) + r.choice(WORDS).title() + str(r.randint(1, 999)),
    "date": lambda r: _datetime(r).date().isoformat(),
    "datetime": lambda r: _datetime(r).isoformat().replace("+00:00", "Z"),
    "google_event": lambda r: _chars(r, BASE32HEX, r.choice((26, 32)))
                              + r.choice(["", "", f"_{_datetime(r):%Y%m%dT%H%M%SZ}"]),
    "calendar": lambda r: r.choice(["primary", _email(r), _chars(r, string.ascii_lowercase, 26)
                                    + "@group.calendar.google.com"]),
    "acl_rule": lambda r: r.choice(["default", f"user:{_email(r)}", f"group:{_email(r)}",
                                    f"domain:{r.choice(DOMAINS)}"]),
    "gmail_user": lambda r: r.choice(["me", "me", _email(r)]),
    "gmail_label": lambda r: r.choice(["INBOX", "SENT", "STARRED", f"Label_{r.randint(1, 9999)}"]),
    "gmail_draft": lambda r: f"r{r.choice(['-', ''])}{r.randint(10**17, 10**19)}",
    "ein": lambda r: f"{r.randint(10, 99)}-{r.randint(0, 9999999):07d}",
    "fields": lambda r: ",".join(r.sample(["id", "name", "items(id,summary)", "etag", "kind"], 2)),
    "search": lambda r: r.choice([f"from:{_email(r)}", "is:unread", "has:attachment",
                                  f"{r.choice(WORDS)} {r.choice(WORDS)}"]),
}  # fmt: skip
SPECIAL_VALUES = (
    "gmail_user",
    "calendar",
    "acl_rule",
    "gmail_label",
)  # may repeat: "me", "primary"
FREE_ID_CLASSES = ("int", "uuid", "objectid", "opaque", "hex16", "shortuuid")
# Classes for free strings: (pattern over the description, class), then (pattern over
# "name resource", where resource is the literal segment before a path parameter, class).
DESCRIPTION_HINTS = (
    (r"\b(guid|uuid)\b", "uuid"),
    (r"user's email address\. the special value `me`", "gmail_user"),
)
NAME_HINTS = (
    (r"uuid|guid", "uuid"), (r"^ein\b", "ein"), (r"^calendarid", "calendar"),
    (r"^ruleid", "acl_rule"), (r"^eventid", "google_event"), (r"^id labels", "gmail_label"),
    (r"^id drafts", "gmail_draft"), (r"^(id|messageid) (messages|threads)", "hex16"),
    (r"sha256|sha-256", "sha256"), (r"sha1|sha-1", "sha1"), (r"md5|hash|checksum|digest", "md5"),
    (r"e-?mail", "email"), (r"user_?name|login|nick", "username"), (r"slug", "slug"),
    (r"^(first|last|full)?_?name\b", "person"), (r"title", "title"), (r"^version", "small"),
    (r"date", "date"), (r"time|created|updated", "datetime"),
    (r"token|cursor|key|secret", "opaque"),
    (r"^(limit|offset|page|size|count|max|per_?page|top|skip)", "small"),
    (r"^fields\b", "fields"), (r"^(q|query|search)\b", "search"), (r"(^|_)code\b", "int"),
    (r"(^|_)(id|no|num)\b|(?-i:[a-z](Id|ID|No|Num)\b)", "id"),
)  # fmt: skip


def mimic(rng: random.Random, example: str) -> str:
    """A value shaped like `example`: same character classes at the same places."""
    out = []
    for c in example:
        if c.isdigit():
            out.append(rng.choice(string.digits))
        elif c.islower():
            out.append(rng.choice(string.ascii_lowercase))
        elif c.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(c)
    return "".join(out)


def from_pattern(rng: random.Random, pattern: str) -> str | None:
    """A string matching a simple regex (classes, escapes, quantifiers); None if unsure."""
    classes = {
        r"\d": string.digits,
        r"\w": string.ascii_letters + string.digits + "_",
        ".": "abcxyz",
    }
    out: list[str] = []
    alphabet = ""
    try:
        for tok in re.findall(r"\\.|\[[^\]]+\]|\{\d+(?:,\d*)?\}|[^^$]", pattern):
            if tok[0] == "{" or tok in ("*", "+", "?"):
                lo, hi = {"*": (0, 3), "+": (1, 4), "?": (0, 1)}.get(tok, (0, 0))
                if tok[0] == "{":
                    lo_s, comma, hi_s = tok[1:-1].partition(",")
                    lo = int(lo_s)
                    hi = int(hi_s) if hi_s else lo + 3 * bool(comma)
                out.pop()
                out.extend(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))
                continue
            alphabet = classes.get(tok, tok[-1])
            if tok[0] == "[":
                ranges = re.findall(r"(\\?.)(?:-(\\?.))?", tok[1:-1])
                alphabet = "".join(
                    "".join(chr(c) for c in range(ord(a[-1]), ord((b or a)[-1]) + 1))
                    for a, b in ranges
                )
            out.append(rng.choice(alphabet))
        value = "".join(out)
        return value if re.fullmatch(pattern.strip("^$"), value) else None
    except (IndexError, ValueError, re.error):
        return None


class Generator:
    """Draws every value from one `random.Random`, so the output follows from the seed."""

    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.spec, self.rng = spec, rng
        self.classes: dict[str, str] = {}
        self.used: dict[str, set[str]] = {}

    def resolve(self, node: Any, seen: int = 0) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node, seen = target, seen + 1
        return node if isinstance(node, dict) else {}

    # -- scalars ------------------------------------------------------------------------
    def value_class(self, key: str, hint: str, desc: str = "", example: Any = None) -> str:
        """The class of a parameter's values, chosen once: heuristics, else the example's shape."""
        if key not in self.classes:
            found = next((c for p, c in DESCRIPTION_HINTS if re.search(p, desc, re.I)), None)
            found = found or next((c for p, c in NAME_HINTS if re.search(p, hint, re.I)), "word")
            if (
                found in ("id", "word")
                and isinstance(example, str)
                and example.split() == [example]
            ):
                found = "example"
            self.classes[key] = self.rng.choice(FREE_ID_CLASSES) if found == "id" else found
        return self.classes[key]

    def string(self, schema: dict[str, Any], key: str, hint: str, desc: str) -> str:
        rng, fmt = self.rng, str(schema.get("format", ""))
        if fmt in ("uuid", "email", "date", "slug"):
            return CLASSES[fmt](rng)
        if fmt == "date-time":
            return CLASSES["datetime"](rng)
        if fmt in ("int32", "int64", "uint32", "uint64"):
            return CLASSES["int"](rng)
        if fmt == "binary":
            return _chars(rng, string.printable[:94], rng.randint(16, 64))
        if fmt == "byte":
            return CLASSES["b64"](rng)
        if fmt in ("uri", "url"):
            return f"https://{rng.choice(DOMAINS)}/{CLASSES['slug'](rng)}"
        if fmt == "password":
            return _b64url(rng, 12)
        if "pattern" in schema and (v := from_pattern(rng, str(schema["pattern"]))) is not None:
            return v
        example = schema.get("example", schema.get("default"))
        cls = self.value_class(key, hint, desc, example)
        if cls == "example":
            return str(example) if rng.random() < 0.15 else mimic(rng, str(example))
        value = CLASSES[cls](rng)
        lo, hi = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10**6))
        return (value + _b64url(rng, max(0, lo - len(value))))[:hi]

    def integer(self, schema: dict[str, Any], small: bool) -> int:
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is None and hi is None:
            return self.rng.randint(1, 100) if small else int(_integer(self.rng))
        lo = int(lo or 0)
        return self.rng.randint(
            lo, int(hi) if hi is not None else lo + 10 ** self.rng.randint(1, 6)
        )

    def scalar(self, schema: dict[str, Any], key: str, hint: str, desc: str = "") -> Json:
        schema = self.resolve(schema)
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        kind = self.type_of(schema)
        if kind == "integer":
            return self.integer(schema, self.value_class(key, hint) == "small")
        if kind == "number":
            return round(self.rng.uniform(0, 10 ** self.rng.randint(1, 5)), 2)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return self.string(schema, key, hint, desc)

    @staticmethod
    def type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind:
            return str(kind)
        return "object" if "properties" in schema else "array" if "items" in schema else "string"

    def param(self, param: dict[str, Any], resource: str, distinct: bool) -> str:
        """A value for a path, query, header or cookie parameter, as it goes on the wire."""
        schema = param.get("schema") or param  # Swagger 2 keeps type/format on the parameter
        if self.type_of(self.resolve(schema)) == "array":
            schema = self.resolve(schema).get("items", {})
        name = str(param.get("name", ""))
        key = f"{param.get('in')}:{name}:{resource}"
        used = self.used.setdefault(key, set())
        for _ in range(8):
            value = self.scalar(
                schema, key, f"{name} {resource}", str(param.get("description", ""))
            )
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            if not distinct or text not in used or self.classes.get(key) in SPECIAL_VALUES:
                break
        used.add(text)
        return text

    # -- JSON bodies --------------------------------------------------------------------
    def body(self, schema: Any, name: str = "", depth: int = 0, skip: str = "readOnly") -> Json:
        schema = self.resolve(schema)
        rng = self.rng
        if "example" in schema and rng.random() < 0.3:
            return copy.deepcopy(schema["example"])
        if schema.get("allOf"):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
                merged.update({k: v for k, v in part.items() if k not in merged})
            return self.body(merged, name, depth + 1, skip)
        if schema.get("oneOf") or schema.get("anyOf"):
            return self.body(
                rng.choice(schema.get("oneOf") or schema["anyOf"]), name, depth + 1, skip
            )
        kind = self.type_of(schema)
        if kind == "object":
            if depth >= MAX_DEPTH:
                return {}
            out: dict[str, Json] = {}
            required = set(schema.get("required", []))
            for prop, sub in schema.get("properties", {}).items():
                if self.resolve(sub).get(skip) or (
                    prop not in required and rng.random() > 0.7 - 0.1 * depth
                ):
                    continue
                out[prop] = self.body(sub, prop, depth + 1, skip)
            extra = schema.get("additionalProperties")
            if not out and extra:
                for _ in range(rng.randint(1, 2)):
                    out[CLASSES["word"](rng)] = self.body(
                        extra if isinstance(extra, dict) else {}, "", depth + 1, skip
                    )
            return out
        if kind == "array":
            if depth >= MAX_DEPTH:
                return []
            low = int(schema.get("minItems", 0))
            n = min(max(low, rng.randint(0 if depth else 1, 3)), int(schema.get("maxItems", 3)))
            return [self.body(schema.get("items", {}), name, depth + 1, skip) for _ in range(n)]
        return self.scalar(schema, f"body:{name}", name)


def operations(
    spec: dict[str, Any], gen: Generator
) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(METHOD, path key, operation, merged parameters) in spec order."""
    out = []
    for path, item in spec.get("paths", {}).items():
        item = gen.resolve(item)
        for method in METHODS:
            if isinstance(op := item.get(method), dict):
                params: dict[tuple[str, str], dict[str, Any]] = {}
                for p in [*item.get("parameters", []), *op.get("parameters", [])]:
                    p = gen.resolve(p)
                    params[(str(p.get("in")), str(p.get("name")))] = p
                for name in PARAM.findall(path):  # used in the path but not declared
                    params.setdefault(
                        ("path", name), {"name": name, "in": "path", "type": "string"}
                    )
                out.append((method.upper(), path, op, list(params.values())))
    return out


def base_url(spec: dict[str, Any]) -> tuple[str, str, str]:
    """(scheme, host, path prefix) of servers[0], or of Swagger 2's schemes/host/basePath."""
    if "swagger" in spec:
        scheme = (spec.get("schemes") or ["https"])[0]
        return scheme, spec.get("host", "api.example.test"), spec.get("basePath", "").rstrip("/")
    server = (spec.get("servers") or [{"url": "/"}])[0]
    url = str(server.get("url", "/"))
    for var, decl in server.get("variables", {}).items():
        url = url.replace("{" + var + "}", str(decl.get("default", "")))
    parts = urlsplit(url)
    return parts.scheme or "https", parts.netloc or "api.example.test", parts.path.rstrip("/")


def resource_of(path: str, name: str) -> str:
    """The literal path segment before `{name}` (`/users/{id}` -> `users`), or ""."""
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if "{" + name + "}" in segment:
            return next((s for s in reversed(segments[:i]) if s and "{" not in s), "")
    return ""


def template_regex(templates: list[str]) -> re.Pattern[str]:
    alts = ["".join("[^/]+" if i % 2 else re.escape(s) for i, s in enumerate(PARAM.split(t)))
            for t in templates]  # fmt: skip
    return re.compile("^(?:" + "|".join(alts or ["(?!)"]) + ")$")


class Traffic:
    """Builds HAR entries for one spec."""

    def __init__(self, spec: dict[str, Any], seed: int) -> None:
        self.spec, self.rng = spec, random.Random(seed)
        self.gen = Generator(spec, self.rng)
        self.scheme, self.host, self.prefix = base_url(spec)
        self.schemes = (
            spec.get("components", {}).get("securitySchemes")
            or spec.get("securityDefinitions")
            or {}
        )
        rng = self.rng
        self.clients = [
            (rng.choice(AGENTS), _email(rng), _b64url(rng, 32)) for _ in range(rng.randint(3, 6))
        ]

    def credential(self, scheme: dict[str, Any], client: tuple[str, str, str]) -> str:
        kind, rng = scheme.get("type"), random.Random(client[1])
        if (kind == "http" and scheme.get("scheme", "").lower() == "basic") or kind == "basic":
            return "Basic " + base64.b64encode(f"{client[1]}:{_b64url(rng, 10)}".encode()).decode()
        if kind == "apiKey":
            return client[2]
        if kind in ("oauth2", "openIdConnect") and "google" in self.host:
            return "Bearer ya29." + _b64url(rng, 120)
        head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        body = json.dumps({"sub": client[1], "iat": 1767225600 + rng.randrange(10**7)})
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"Bearer {head}.{payload}.{_b64url(rng, 43)}"

    def request(
        self, method: str, path: str, op: dict[str, Any], params: list[dict[str, Any]]
    ) -> dict[str, Any]:
        rng, gen = self.rng, self.gen
        client = rng.choice(self.clients)
        headers = [("Host", self.host), ("User-Agent", client[0]), ("Accept", "application/json")]
        query: list[tuple[str, str]] = []
        cookies: list[tuple[str, str]] = []
        concrete = path
        for p in params:
            where, name = p.get("in"), str(p.get("name"))
            if where == "path":
                value = gen.param(p, resource_of(path, name), distinct=True).replace("/", "_")
                concrete = concrete.replace("{" + name + "}", quote(value, safe="@:+,;=!$'()*~-._"))
            elif where in ("query", "header", "cookie"):
                ignored = where == "header" and name.lower() in IGNORED_HEADERS
                if not ignored and (p.get("required") or rng.random() < OPTIONAL_SHARE):
                    pair = (name, gen.param(p, "", distinct=False))
                    {"query": query, "header": headers, "cookie": cookies}[where].append(pair)
        security = op.get("security", self.spec.get("security", []))
        if security:
            for scheme_name in sorted(rng.choice(security)):
                scheme = self.schemes.get(scheme_name, {})
                apikey = scheme.get("type") == "apiKey"
                where = scheme.get("in", "header") if apikey else "header"
                name = scheme.get("name", "X-API-Key") if apikey else "Authorization"
                target = {"query": query, "header": headers, "cookie": cookies}[where]
                if all(k.lower() != name.lower() for k, _ in target):  # one Authorization
                    target.append((name, self.credential(scheme, client)))
        if cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
        url = f"{self.scheme}://{self.host}{self.prefix}{concrete}"
        if query:
            url += "?" + urlencode(query, quote_via=quote)
        req = {"method": method, "url": url, "headers": headers, "queryString": query}
        req["cookies"] = cookies
        if (body := self.request_body(op, params)) is not None:
            headers.append(("Content-Type", body[0]))
            req["postData"] = {"mimeType": body[0], "text": body[1]}
        return req

    def request_body(
        self, op: dict[str, Any], params: list[dict[str, Any]]
    ) -> tuple[str, str] | None:
        gen, rng = self.gen, self.rng
        content = gen.resolve(op.get("requestBody")).get("content", {})
        swagger = next((p for p in params if p.get("in") == "body"), None)
        form = [p for p in params if p.get("in") == "formData"]
        if swagger is not None:
            content = {"application/json": swagger}
        elif form:
            fields = {
                "type": "object",
                "properties": {p["name"]: p for p in form},
                "required": [p["name"] for p in form if p.get("required")],
            }
            content = {"application/x-www-form-urlencoded": {"schema": fields}}
        if not content:
            return None
        mime = next((m for m in content if "json" in m), next(iter(content)))
        value = gen.body(content[mime].get("schema", {}), skip="readOnly")
        if "json" in mime:
            return mime, json.dumps(value, separators=(",", ":"))
        flat = value.items() if isinstance(value, dict) else []
        if mime == "multipart/form-data":
            boundary = "----WebKitFormBoundary" + _chars(rng, string.ascii_letters, 16)
            parts = [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                for k, v in flat
            ]
            return f"{mime}; boundary={boundary}", "".join(parts) + f"--{boundary}--\r\n"
        if mime == "application/x-www-form-urlencoded":
            return mime, urlencode(
                [(k, json.dumps(v) if isinstance(v, dict | list) else v) for k, v in flat]
            )
        return mime, json.dumps(value) if not isinstance(value, str) else value

    def response(self, op: dict[str, Any]) -> tuple[int, str, str]:
        rng, gen = self.rng, self.gen
        declared = [str(c) for c in op.get("responses", {})]
        ok = [c for c in declared if c.isdigit() and c.startswith("2")]
        errors = [c for c in declared if c.isdigit() and c[0] in "45"]
        code = (
            rng.choice(errors)
            if errors and rng.random() < ERROR_SHARE
            else rng.choice(ok or ["200"])
        )
        responses = op.get("responses", {})
        resp = gen.resolve(responses.get(code, responses.get(int(code), responses.get("default"))))
        schema = resp.get("schema")  # Swagger 2
        content = resp.get("content", {})
        mime = next((m for m in content if "json" in m), None)
        if mime:
            schema = content[mime].get("schema")
        if code == "204" or schema is None:
            return int(code), "", ""
        value = gen.body(schema, skip="writeOnly")
        return int(code), "application/json", json.dumps(value, separators=(",", ":"))

    def noise(self, concrete_paths: list[str], matcher: re.Pattern[str]) -> dict[str, Any]:
        rng = self.rng
        for _ in range(50):
            kind = rng.random()
            if kind < 0.45:
                path = rng.choice(PROBES)
                path = rng.choice([path, self.prefix + path]) if self.prefix else path
            elif kind < 0.7 or not concrete_paths:
                segs = [
                    _chars(rng, string.ascii_lowercase + string.digits, rng.randint(3, 10))
                    for _ in range(rng.randint(1, 3))
                ]
                path = (
                    self.prefix + "/" + "/".join(segs) + rng.choice(["", "", ".php", ".asp", "/"])
                )
            else:  # a typo in one literal segment of a real path
                segs = rng.choice(concrete_paths).split("/")
                i = rng.choice([i for i, s in enumerate(segs) if s] or [0])
                s, j = segs[i] or "x", rng.randrange(max(1, len(segs[i])))
                segs[i] = rng.choice(
                    [
                        s[:j] + s[j + 1 :],
                        s[:j] + s[j] * 2 + s[j + 1 :],
                        s[:j] + rng.choice("aeiou") + s[j + 1 :],
                    ]
                )
                path = "/".join(segs)
            if not matcher.match(path) and path:
                break
        agent = rng.choice(SCANNER_AGENTS + AGENTS)
        method = rng.choice(["GET"] * 8 + ["POST", "HEAD"])
        url = f"{self.scheme}://{self.host}{quote(path, safe='/@:+,;=-._~')}"
        headers = [("Host", self.host), ("User-Agent", agent), ("Accept", "*/*")]
        req = {"method": method, "url": url, "headers": headers, "queryString": [], "cookies": []}
        return {"request": req, "status": 404, "mime": "application/json", "text": NOT_FOUND}


def _pairs(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in items]


def har_entry(call: dict[str, Any], started: datetime, wait: int) -> dict[str, Any]:
    req, text, status, mime = call["request"], call["text"], call["status"], call["mime"]
    size = len(text.encode())
    request = {
        "method": req["method"],
        "url": req["url"],
        "httpVersion": "HTTP/1.1",
        "cookies": _pairs(req["cookies"]),
        "headers": _pairs(req["headers"]),
        "queryString": _pairs(req["queryString"]),
        "headersSize": -1,
        "bodySize": 0,
    }
    if "postData" in req:
        request["postData"] = req["postData"]
        request["bodySize"] = len(req["postData"]["text"].encode())
    headers = [("Content-Type", mime)] if mime else []
    response = {
        "status": status,
        "statusText": HTTPStatus(status).phrase,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs([*headers, ("Content-Length", str(size))]),
        "content": {"size": size, "mimeType": mime, "text": text},
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": size,
    }
    return {"startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "time": wait + 2, "request": request, "response": response, "cache": {},
            "timings": {"send": 1, "wait": wait, "receive": 1}}  # fmt: skip


def generate(
    spec: dict[str, Any], seed: int = SEED, noise: float = NOISE
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(HAR 1.2 document, ground truth) for `spec`; the same inputs give the same output."""
    traffic = Traffic(spec, seed)
    rng, prefix = traffic.rng, traffic.prefix
    ops = operations(spec, traffic.gen)
    endpoints = [[m, prefix + p] for m, p, _, _ in ops]
    parameters = {
        f"{m} {prefix}{p}": sorted(
            f"{q.get('in')}:{q.get('name')}"
            for q in params
            if q.get("in") in ("query", "header", "cookie")
        )
        for m, p, _, params in ops
    }
    calls: list[dict[str, Any]] = []
    for method, path, op, params in ops:
        count = rng.choices(range(1, 13), weights=COUNT_WEIGHTS)[0]
        if rng.random() < HOT_SHARE:
            count = rng.randint(13, 30)
        for _ in range(count):
            req = traffic.request(method, path, op, params)
            status, mime, text = traffic.response(op)
            calls.append({"request": req, "status": status, "mime": mime, "text": text})
    n_noise = round(len(calls) * noise / (1 - noise)) if 0 < noise < 1 else 0
    matcher = template_regex([t for _, t in endpoints])
    concrete = [unquote(urlsplit(c["request"]["url"]).path) for c in calls]
    calls += [traffic.noise(concrete, matcher) for _ in range(n_noise)]
    rng.shuffle(calls)
    clock = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(180 * 86400))
    entries = []
    for call in calls:
        clock += timedelta(milliseconds=int(rng.expovariate(1 / 1500)) + 1)
        entries.append(har_entry(call, clock, rng.randint(3, 400)))
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "wardgate discovery_traffic", "version": "1"},
            "entries": entries,
        }
    }
    title = str(spec.get("info", {}).get("title", ""))
    truth = {
        "spec": title,
        "endpoints": endpoints,
        "parameters": parameters,
        "noise_requests": n_noise,
    }
    return har, truth


def load_spec(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise SystemExit(f"{path}: not an OpenAPI document")
    return spec


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("spec", type=Path, help="OpenAPI 3 or Swagger 2 file (JSON or YAML)")
    ap.add_argument("--out", type=Path, required=True, help="HAR file to write")
    ap.add_argument("--truth", type=Path, required=True, help="ground-truth JSON to write")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--noise", type=float, default=NOISE, help="share of noise requests")
    args = ap.parse_args(argv)
    har, truth = generate(load_spec(args.spec), args.seed, args.noise)
    truth["spec"] = args.spec.name
    args.out.write_text(json.dumps(har, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    args.truth.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    n, noisy = len(har["log"]["entries"]), truth["noise_requests"]
    print(f"{args.spec.name}: {len(truth['endpoints'])} endpoints, {n} requests ({noisy} noise)")


if __name__ == "__main__":
    main()
