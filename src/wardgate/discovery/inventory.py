"""The inventory: every endpoint learned from traffic, with what it takes and returns.

`Inventory.add` reads one `Observation`: the host's templater turns its path into a
template, and the endpoint `(host, method, template)` folds in the call's parameters
(typed by sketches), bodies (merged JSON schemas per content type and status), auth
schemes, sensitive fields, AI kind, models and consumers, status counts and first/last
seen. Templates sharpen as traffic arrives (a third username turns `/users/alice` into
`/users/{userId}`), so `compact` re-templates every endpoint and merges those that now
coincide; exports compact first.

Bounded everywhere: a templater caps templates per host (paths past it fall into one
noise bucket per host), sketches cap their nodes, and the sets of models, consumers and
sensitive fields are capped. States (`to_state`/`from_state`) are JSON, so stores can
persist and merge them across processes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.detect.sensitive import find_sensitive
from wardgate.discovery.classify import classify
from wardgate.discovery.observation import Observation
from wardgate.discovery.schema import SchemaSketch
from wardgate.discovery.templating import NOISE, PathTemplater

__all__ = [
    "NOISE_TEMPLATE",
    "Endpoint",
    "Inventory",
    "auth_schemes",
    "load_store",
    "merge_states",
]

NOISE_TEMPLATE = NOISE
STATE_VERSION = 1
# Few enough to keep a state small, enough to show who uses an endpoint.
_MAX_NAMES = 64
_MAX_SENSITIVE_FIELDS = 128
_MAX_PARAMS = 64
_MAX_STRINGS_SCANNED = 256
_SAME_METHODS = 3
_PARAM_NAME = re.compile(r"\{[^}]*\}")
# Headers every client sends; the rest (x-request-id, x-api-version...) are parameters.
_COMMON_HEADERS = frozenset(
    {
        "accept", "accept-encoding", "accept-language", "authorization", "cache-control",
        "connection", "content-length", "content-type", "cookie", "host", "origin", "pragma",
        "referer", "user-agent", "te", "upgrade-insecure-requests", "dnt", "priority",
        "if-none-match", "if-modified-since", "x-forwarded-for", "x-forwarded-proto",
        "x-forwarded-host", "x-real-ip", "forwarded", "via", "sec-ch-ua", "sec-ch-ua-mobile",
        "sec-ch-ua-platform", "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site",
        "sec-fetch-user", "traceparent", "tracestate", "x-request-id", "expect",
    }
)  # fmt: skip
_API_KEY_HEADERS = ("x-api-key", "api-key", "apikey", "x-auth-token", "x-goog-api-key")
_API_KEY_QUERY = frozenset({"api_key", "apikey", "key", "access_token", "token"})
_SESSION_COOKIES = ("session", "sessionid", "sid", "jsessionid", "phpsessid", "connect.sid")


@dataclass(slots=True)
class Endpoint:
    """What was learned about one `(host, method, template)`."""

    host: str
    method: str
    template: str
    scheme: str = "https"
    count: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    request_types: Counter[str] = field(default_factory=Counter)
    response_types: Counter[str] = field(default_factory=Counter)
    auth: Counter[str] = field(default_factory=Counter)
    path_params: dict[int, SchemaSketch] = field(default_factory=dict)
    query: dict[str, SchemaSketch] = field(default_factory=dict)
    headers: dict[str, SchemaSketch] = field(default_factory=dict)
    cookies: dict[str, SchemaSketch] = field(default_factory=dict)
    request_body: dict[str, SchemaSketch] = field(default_factory=dict)  # by content type
    responses: dict[str, SchemaSketch] = field(default_factory=dict)  # "200 application/json"
    sensitive: dict[str, list[str]] = field(default_factory=dict)  # "request $.email" -> types
    ai_kinds: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    consumers: Counter[str] = field(default_factory=Counter)
    first_seen: float = 0.0
    last_seen: float = 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400)

    @property
    def ai_kind(self) -> str | None:
        return min(self.ai_kinds, key=lambda k: (-self.ai_kinds[k], k)) if self.ai_kinds else None

    @property
    def is_probe(self) -> bool:
        """Only ever answered 404: a path that was tried, not an endpoint that exists."""
        return bool(self.statuses) and set(self.statuses) <= {404}

    def add(self, obs: Observation, template: str) -> None:
        self.count += 1
        self.scheme = obs.scheme or self.scheme
        if obs.status:
            self.statuses[obs.status] += 1
        if obs.time:
            self.first_seen = min(self.first_seen or obs.time, obs.time)
            self.last_seen = max(self.last_seen, obs.time)
        for index, (segment, part) in enumerate(
            zip(_segments(obs.path), _segments(template), strict=False)
        ):
            if part.startswith("{") and not segment.startswith("{"):
                _sketch(self.path_params, index).add_text(segment)
        _add_params(self.query, obs.query)
        _add_params(
            self.headers, ((k, v) for k, v in obs.headers if k.lower() not in _COMMON_HEADERS)
        )
        _add_params(self.cookies, obs.cookies)
        for scheme in auth_schemes(obs):
            self.auth[scheme] += 1
        request_json = self._body(obs.request_type, obs.request_body, self.request_body, "")
        response_json = None
        if obs.status or obs.response_body:
            key = f"{obs.status or 'default'} "
            response_json = self._body(obs.response_type, obs.response_body, self.responses, key)
        self._label_sensitive("request", request_json)
        self._label_sensitive("response", response_json)
        kind = classify(obs.method, template, request_json, response_json, dict(obs.headers))
        if kind is not None:
            self.ai_kinds[kind.kind.value] += 1
            if kind.model:
                _count(self.models, kind.model)
        elif obs.model:
            _count(self.models, obs.model)
        if obs.consumer:
            _count(self.consumers, obs.consumer)

    def _body(
        self, content_type: str, body: bytes, into: dict[str, SchemaSketch], prefix: str
    ) -> Any:
        media = content_type.split(";", 1)[0].strip().lower()
        if media:
            counter = self.request_types if not prefix else self.response_types
            _count(counter, media)
        if not body or not ("json" in media or (not media and body[:1] in (b"{", b"["))):
            if media and prefix:
                into.setdefault(prefix + media, SchemaSketch())
            return None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if len(into) < _MAX_PARAMS or prefix + (media or "application/json") in into:
            _sketch(into, prefix + (media or "application/json")).add(parsed)
        return parsed

    def _label_sensitive(self, side: str, document: Any) -> None:
        if document is None or len(self.sensitive) >= _MAX_SENSITIVE_FIELDS:
            return
        for path, text in _strings(document):
            for match in find_sensitive(text):
                if match.score < 0.5:
                    continue
                types = self.sensitive.setdefault(f"{side} {path}", [])
                if match.type not in types and len(types) < 8:
                    types.append(match.type)
                    types.sort()

    def merge(self, other: Endpoint) -> None:
        self.count += other.count
        self.statuses.update(other.statuses)
        for mine, theirs in (
            (self.request_types, other.request_types),
            (self.response_types, other.response_types),
            (self.auth, other.auth),
            (self.ai_kinds, other.ai_kinds),
            (self.models, other.models),
            (self.consumers, other.consumers),
        ):
            for name, n in theirs.items():
                _count(mine, name, n)
        for mine_map, theirs_map in (
            (self.query, other.query),
            (self.headers, other.headers),
            (self.cookies, other.cookies),
            (self.request_body, other.request_body),
            (self.responses, other.responses),
        ):
            for name, sketch in theirs_map.items():
                if name in mine_map or len(mine_map) < _MAX_PARAMS:
                    _sketch(mine_map, name).merge(sketch)
        for index, sketch in other.path_params.items():
            _sketch(self.path_params, index).merge(sketch)
        for where, types in other.sensitive.items():
            if where in self.sensitive or len(self.sensitive) < _MAX_SENSITIVE_FIELDS:
                self.sensitive[where] = sorted(set(self.sensitive.get(where, [])) | set(types))
        if other.first_seen:
            self.first_seen = min(self.first_seen or other.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)

    def to_state(self) -> dict[str, Any]:
        def sketches(named: dict[Any, SchemaSketch]) -> dict[str, Any]:
            return {str(k): v.to_state() for k, v in sorted(named.items(), key=lambda i: str(i[0]))}

        return {
            "v": STATE_VERSION,
            "scheme": self.scheme,
            "count": self.count,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "request_types": dict(sorted(self.request_types.items())),
            "response_types": dict(sorted(self.response_types.items())),
            "auth": dict(sorted(self.auth.items())),
            "path_params": sketches(self.path_params),
            "query": sketches(self.query),
            "headers": sketches(self.headers),
            "cookies": sketches(self.cookies),
            "request_body": sketches(self.request_body),
            "responses": sketches(self.responses),
            "sensitive": dict(sorted(self.sensitive.items())),
            "ai_kinds": dict(sorted(self.ai_kinds.items())),
            "models": dict(sorted(self.models.items())),
            "consumers": dict(sorted(self.consumers.items())),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_state(cls, host: str, method: str, template: str, state: dict[str, Any]) -> Endpoint:
        def sketches(raw: Any) -> dict[str, SchemaSketch]:
            items = raw.items() if isinstance(raw, dict) else ()
            return {str(k): SchemaSketch.from_state(v) for k, v in items}

        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unknown inventory state version {state.get('v')!r}")
        return cls(
            host=host,
            method=method,
            template=template,
            scheme=str(state.get("scheme", "https")),
            count=int(state.get("count", 0)),
            statuses=Counter({int(k): int(v) for k, v in state.get("statuses", {}).items()}),
            request_types=Counter(state.get("request_types", {})),
            response_types=Counter(state.get("response_types", {})),
            auth=Counter(state.get("auth", {})),
            path_params={int(k): v for k, v in sketches(state.get("path_params")).items()},
            query=sketches(state.get("query")),
            headers=sketches(state.get("headers")),
            cookies=sketches(state.get("cookies")),
            request_body=sketches(state.get("request_body")),
            responses=sketches(state.get("responses")),
            sensitive={str(k): list(v) for k, v in state.get("sensitive", {}).items()},
            ai_kinds=Counter(state.get("ai_kinds", {})),
            models=Counter(state.get("models", {})),
            consumers=Counter(state.get("consumers", {})),
            first_seen=float(state.get("first_seen", 0.0)),
            last_seen=float(state.get("last_seen", 0.0)),
        )


class Inventory:
    """Endpoints by `(host, method, template)`, learned one observation at a time."""

    def __init__(self, *, max_templates_per_host: int = 5000) -> None:
        self._max_templates = max_templates_per_host
        self._templaters: dict[str, PathTemplater] = {}
        self._endpoints: dict[tuple[str, str, str], Endpoint] = {}
        self.observations = 0

    def __len__(self) -> int:
        return len(self._endpoints)

    def templater(self, host: str) -> PathTemplater:
        templater = self._templaters.get(host)
        if templater is None:
            templater = self._templaters[host] = PathTemplater(max_templates=self._max_templates)
        return templater

    def learn_paths(self, observations: Iterable[Observation]) -> None:
        """Teach the templaters every path first (offline inputs), so the first
        observations are filed under templates as sharp as the last ones."""
        for obs in observations:
            if obs.status != 404:
                self.templater(obs.host).learn(obs.path)

    def add(self, obs: Observation) -> None:
        self.observations += 1
        templater = self.templater(obs.host)
        # A path answered 404 was tried, not found: it must not teach the templater (a
        # scanner's typos of `colors` would otherwise make `/{x}` of its siblings).
        template = templater.template(obs.path) if obs.status == 404 else templater.learn(obs.path)
        method = obs.method.upper() if template != NOISE else "*"
        key = (obs.host, method, template)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = Endpoint(obs.host, method, template)
        if template == NOISE:
            endpoint.count += 1  # the noise bucket only counts
            return
        endpoint.add(obs, template)

    def compact(self) -> None:
        """Re-template every endpoint with what the templaters know now; merge those that
        have come to share a template."""
        self._find_value_words()
        merged: dict[tuple[str, str, str], Endpoint] = {}
        for (host, method, template), endpoint in sorted(self._endpoints.items()):
            current = template if template == NOISE else self.templater(host).template(template)
            key = (host, method, current)
            if key in merged:
                merged[key].merge(endpoint)
            else:
                endpoint.template = current
                merged[key] = endpoint
        self._endpoints = merged

    def _find_value_words(self) -> None:
        """A literal that takes the same methods (three or more) as its parameter sibling is
        one of its values (`/acl/default` beside `/acl/{ruleId}`); a `/users/me` answering
        only GET stays the resource of its own it usually is."""
        methods: dict[tuple[str, str], set[str]] = {}
        for (host, method, template), endpoint in self._endpoints.items():
            if template != NOISE and not endpoint.is_probe:
                methods.setdefault((host, template), set()).add(method)
        shapes: dict[tuple[str, str], set[str]] = {}
        for (host, template), seen in methods.items():
            if len(seen) >= _SAME_METHODS:
                for index, segment in _literals(template):
                    shapes.setdefault((host, _blank_at(template, index)), set()).add(segment)
        for (host, template), seen in methods.items():
            if len(seen) < _SAME_METHODS:
                continue
            for index, segment in enumerate(template.split("/")):
                if not segment.startswith("{"):
                    continue
                for word in shapes.get((host, _blank_at(template, index)), ()):
                    sibling = "/".join(
                        word if i == index else s for i, s in enumerate(template.split("/"))
                    )
                    if methods.get((host, sibling)) == seen:
                        self.templater(host).alias(word)

    def endpoints(self, *, probes: bool = False, noise: bool = False) -> list[Endpoint]:
        """Every endpoint, sorted; without the noise buckets and 404-only probes unless
        asked for."""
        self.compact()
        return [
            e
            for key, e in sorted(self._endpoints.items())
            if (noise or e.template != NOISE) and (probes or not e.is_probe)
        ]

    def merge_endpoint(self, endpoint: Endpoint) -> None:
        key = (endpoint.host, endpoint.method, endpoint.template)
        if endpoint.template != NOISE:
            self.templater(endpoint.host).learn(endpoint.template)
        known = self._endpoints.get(key)
        if known is None:
            self._endpoints[key] = endpoint
        else:
            known.merge(endpoint)

    def drain(self) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
        """The endpoints learned since the last drain, as states; they are forgotten (the
        templaters are kept: what a path looks like is still known)."""
        drained = list(self.states())
        self._endpoints = {}
        return drained

    def states(self) -> Iterator[tuple[tuple[str, str, str], dict[str, Any]]]:
        self.compact()
        for key, endpoint in sorted(self._endpoints.items()):
            yield key, endpoint.to_state()


def load_store(store_url: str) -> Inventory:
    """The inventory a store holds (every host), as one `Inventory`."""
    from wardgate.discovery.store import open_store

    store = open_store(store_url)
    try:
        records = store.load()
    finally:
        store.close()
    learned = Inventory()
    for key in sorted(records):
        state = records[key]
        learned.merge_endpoint(Endpoint.from_state(key.host, key.method, key.template, state))
    return learned


def merge_states(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Two states of one endpoint as one (what a store does on upsert)."""
    endpoint = Endpoint.from_state("", "", "", mine)
    endpoint.merge(Endpoint.from_state("", "", "", theirs))
    return endpoint.to_state()


def auth_schemes(obs: Observation) -> list[str]:
    """The authentication schemes a call presented: `bearer`, `basic`, `apiKey:header:x-api-key`,
    `apiKey:query:api_key`, `cookie:session`; values are never kept."""
    found: list[str] = []
    for name, value in obs.headers:
        lower = name.lower()
        if lower == "authorization":
            scheme = value.split(" ", 1)[0].lower()
            found.append(scheme if scheme in ("bearer", "basic", "digest") else "authorization")
        elif lower in _API_KEY_HEADERS:
            found.append(f"apiKey:header:{lower}")
    found += [f"apiKey:query:{k}" for k, _ in obs.query if k.lower() in _API_KEY_QUERY]
    found += [f"cookie:{k}" for k, _ in obs.cookies if k.lower() in _SESSION_COOKIES]
    return sorted(set(found))


def _literals(template: str) -> Iterator[tuple[int, str]]:
    for index, segment in enumerate(template.split("/")):
        if segment and not segment.startswith("{"):
            yield index, segment


def _blank_at(template: str, index: int) -> str:
    parts = template.split("/")
    parts[index] = "{}"
    return "/".join(_PARAM_NAME.sub("{}", p) if i != index else p for i, p in enumerate(parts))


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _sketch(named: dict[Any, SchemaSketch], key: Any) -> SchemaSketch:
    sketch = named.get(key)
    if sketch is None:
        sketch = named[key] = SchemaSketch()
    return sketch


def _add_params(into: dict[str, SchemaSketch], pairs: Iterable[tuple[str, str]]) -> None:
    for name, value in pairs:
        if name in into or len(into) < _MAX_PARAMS:
            _sketch(into, name[:128]).add_text(value)


def _count(counter: Counter[str], name: str, n: int = 1) -> None:
    if name in counter or len(counter) < _MAX_NAMES:
        counter[name[:256]] += n


def _strings(document: Any) -> Iterator[tuple[str, str]]:
    """(JSONPath, value) of the first strings of a parsed document, arrays as `[*]`."""
    stack: list[tuple[Any, str]] = [(document, "$")]
    seen = 0
    while stack and seen < _MAX_STRINGS_SCANNED:
        node, path = stack.pop()
        if isinstance(node, str):
            seen += 1
            yield path, node[:4096]
        elif isinstance(node, dict):
            stack.extend((v, f"{path}.{k}") for k, v in list(node.items())[:200])
        elif isinstance(node, list):
            stack.extend((v, f"{path}[*]") for v in node[:50])
