"""Postman collections (v2.0 and v2.1) as `Observation`s.

A collection holds example requests in nested folders (`item`), with `{{name}}` variables
left for the Postman environment to fill in. Discovery wants the endpoint, not the values:
a whole path segment `:name` or `{{name}}` becomes the declared parameter `{name}`; a
`{{var}}` host resolves through the collection's `variable` list when it has a value there
and is otherwise kept as the variable's name; a `{{var}}` query value becomes "". The
request's auth (inherited from folders and the collection) is shown as the header it would
send, so auth schemes can be seen. Saved example responses become extra observations only
when asked for.

    stats = PostmanStats()
    for observation in read_postman(Path("api.postman_collection.json"), stats):
        ...
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

from wardgate.discovery.fields import as_list, as_object, as_text, cookie_pairs
from wardgate.discovery.observation import MAX_BODY, Observation

__all__ = ["PostmanStats", "read_postman"]

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_WHOLE_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|:([A-Za-z_][\w.-]*)")
_LANGUAGES = {
    "json": "application/json",
    "xml": "application/xml",
    "html": "text/html",
    "javascript": "application/javascript",
    "text": "text/plain",
}
_AUTH_SCHEMES = {
    "digest": "Digest",
    "oauth1": "OAuth",
    "hawk": "Hawk",
    "awsv4": "AWS4-HMAC-SHA256",
    "ntlm": "NTLM",
    "edgegrid": "EG1-HMAC-SHA256",
    "akamai": "EG1-HMAC-SHA256",
    "jwt": "Bearer",
    "asap": "Bearer",
}
_BOUNDARY = "wardgate-postman-boundary"

_Pairs = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class PostmanStats:
    """Counts filled in while `read_postman` runs: requests read, example responses read,
    and items skipped because they were neither a folder nor a usable request."""

    requests: int = 0
    examples: int = 0
    skipped: int = 0


def read_postman(
    source: bytes | str | Path, stats: PostmanStats | None = None, *, examples: bool = False
) -> Iterator[Observation]:
    """Yield one `Observation` per request of a collection, depth first in file order.

    `source` is the file (`Path`) or its content (`bytes`, or `str` holding the JSON text,
    not a file name); a `{"collection": {...}}` wrapper (the Postman API's export) is
    accepted. With `examples`, each saved example response follows its request as one more
    observation, with its status and body. Raises `ValueError` when the document is not a
    collection.
    """
    stats = stats if stats is not None else PostmanStats()
    collection = _collection(source)
    variables = {
        as_text(as_object(item).get("key")): as_text(as_object(item).get("value"))
        for item in as_list(collection.get("variable"))
        if as_text(as_object(item).get("value"))
    }
    stack: list[tuple[object, object]] = [
        (item, collection.get("auth")) for item in reversed(as_list(collection.get("item")))
    ]
    while stack:
        item, inherited = stack.pop()
        fields = as_object(item)
        auth = _own_auth(fields.get("auth"), inherited)
        if isinstance(fields.get("item"), list):
            stack.extend((child, auth) for child in reversed(as_list(fields.get("item"))))
            continue
        request = _request(fields.get("request"), auth, variables)
        if request is None:
            stats.skipped += 1
            continue
        stats.requests += 1
        yield request
        if not examples:
            continue
        own_auth = _own_auth(as_object(fields.get("request")).get("auth"), auth)
        for example in map(as_object, as_list(fields.get("response"))):
            original = _request(example.get("originalRequest"), own_auth, variables) or request
            stats.examples += 1
            yield _with_response(original, example)


def _collection(source: bytes | str | Path) -> dict[str, object]:
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        source = source.decode("utf-8-sig", errors="replace")
    try:
        document = json.loads(source.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not a Postman collection: not JSON ({error})") from None
    document = as_object(document)
    if "item" not in document and isinstance(document.get("collection"), dict):
        document = as_object(document["collection"])
    if not isinstance(document.get("item"), list):
        raise ValueError("not a Postman collection: no 'item' list")
    return document


def _request(value: object, auth: object, variables: dict[str, str]) -> Observation | None:
    request = {"url": value} if isinstance(value, str) else as_object(value)
    method = as_text(request.get("method")).strip().upper() or "GET"
    target = _url(request.get("url"), variables)
    if target is None or not method.isalpha():
        return None
    scheme, host, path, query = target
    headers = _headers(request.get("header"), variables)
    request_type, body = _body(as_object(request.get("body")), variables)
    auth_headers, auth_query = _auth(as_object(_own_auth(request.get("auth"), auth)))
    names = {name for name, _ in headers}
    headers += tuple(pair for pair in auth_headers if pair[0] not in names)
    values = dict(headers)
    if request_type and "content-type" not in values:
        headers += (("content-type", request_type),)
    return Observation(
        method=method,
        path=path,
        scheme=scheme,
        host=host,
        query=query + auth_query,
        headers=headers,
        cookies=cookie_pairs(values.get("cookie", "")),
        request_type=(values.get("content-type") or request_type) if body else "",
        request_body=body[:MAX_BODY],
    )


def _url(value: object, variables: dict[str, str]) -> tuple[str, str, str, _Pairs] | None:
    """Scheme, host, templated path and query of a string or structured Postman URL."""
    url = _parsed_url(value) if isinstance(value, str) else as_object(value)
    if "host" not in url and "path" not in url:
        if not isinstance(url.get("raw"), str):
            return None
        url = _parsed_url(as_text(url["raw"]))
        if not url:
            return None
    host = url.get("host")
    host_text = ".".join(map(as_text, host)) if isinstance(host, list) else as_text(host)
    port = as_text(url.get("port"))
    scheme, host_text, prefix = _resolved_host(host_text, variables)
    scheme = as_text(url.get("protocol")).lower().removesuffix(":") or scheme
    if port:
        host_text = f"{host_text}:{port}"
    raw_path = url.get("path")
    segments = (
        [
            as_text(as_object(part).get("value")) if isinstance(part, dict) else as_text(part)
            for part in raw_path
        ]
        if isinstance(raw_path, list)
        else as_text(raw_path).split("/")
    )
    path = "/".join([*prefix, *(_segment(part, variables) for part in segments)])
    query = tuple(
        (unquote(as_text(item.get("key"))), _query_value(as_text(item.get("value")), variables))
        for item in map(as_object, as_list(url.get("query")))
        if as_text(item.get("key")) and not item.get("disabled")
    )
    return scheme, host_text, path if path.startswith("/") else "/" + path, query


def _parsed_url(raw: str) -> dict[str, object]:
    """The structured form of a raw URL as Postman splits it: the text before the first
    `/` is the host even without a scheme (`{{url}}/users`)."""
    raw = raw.strip().partition("#")[0]
    if not raw:
        return {}
    rest, _, query = raw.partition("?")
    protocol, separator, after = rest.partition("://")
    if not separator:
        protocol, after = "", rest
    host, slash, path = after.partition("/")
    pairs = (part.partition("=") for part in query.split("&") if part)
    return {
        "protocol": protocol,
        "host": host,
        "path": path if slash else "",
        "query": [{"key": key, "value": value} for key, _, value in pairs],
    }


def _resolved_host(host: str, variables: dict[str, str]) -> tuple[str, str, list[str]]:
    """Scheme, host and path prefix for a host that may be (or hold) a variable."""
    resolved = _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), host)
    scheme = "https"
    if "://" in resolved:
        try:
            parts = urlsplit(resolved)
        except ValueError:
            parts = urlsplit("")
        scheme, resolved = parts.scheme.lower() or scheme, parts.netloc + parts.path
    resolved, _, prefix = resolved.partition("/")
    # Literal host text is case-insensitive; an unresolved variable keeps its name as written.
    pieces = _VARIABLE.split(resolved)
    host = "".join(piece if index % 2 else piece.lower() for index, piece in enumerate(pieces))
    segments = [_segment(part, variables) for part in prefix.rstrip("/").split("/") if prefix]
    return scheme, host, ["", *segments] if segments else []


def _segment(part: str, variables: dict[str, str]) -> str:
    whole = _WHOLE_VARIABLE.fullmatch(part)
    if whole is not None:
        return "{" + (whole[1] or whole[2]) + "}"
    text = _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), part)
    return unquote(text, errors="replace").replace("/", "%2F")


def _query_value(value: str, variables: dict[str, str]) -> str:
    return unquote(_VARIABLE.sub(lambda m: variables.get(m[1], ""), value), errors="replace")


def _headers(value: object, variables: dict[str, str]) -> _Pairs:
    if isinstance(value, str):
        lines = (line.partition(":") for line in value.splitlines())
        value = [{"key": key, "value": rest.strip()} for key, _, rest in lines]
    headers = []
    for item in map(as_object, as_list(value)):
        name = as_text(item.get("key")).strip().lower()
        if name and not item.get("disabled"):
            text = _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), as_text(item.get("value")))
            headers.append((name, text))
    return tuple(headers)


def _body(body: dict[str, object], variables: dict[str, str]) -> tuple[str, bytes]:
    mode = as_text(body.get("mode"))
    if body.get("disabled") or not mode:
        return "", b""
    if mode == "raw":
        text = _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), as_text(body.get("raw")))
        if not text:
            return "", b""
        language = as_text(
            as_object(as_object(as_object(body.get("options")).get("raw"))).get("language")
        )
        return _LANGUAGES.get(language.lower(), "") or _sniffed(text), _encoded(text)
    if mode == "urlencoded":
        pairs = _form(body.get("urlencoded"))
        return "application/x-www-form-urlencoded", urlencode(pairs).encode()
    if mode == "formdata":
        return f"multipart/form-data; boundary={_BOUNDARY}", _multipart(body.get("formdata"))
    if mode == "graphql":
        graphql = as_object(body.get("graphql"))
        try:
            variables_value = json.loads(as_text(graphql.get("variables")) or "{}")
        except (ValueError, RecursionError):
            variables_value = {}
        document = {"query": as_text(graphql.get("query")), "variables": variables_value}
        return "application/json", _encoded(json.dumps(document))
    if mode == "file":
        return "application/octet-stream", b""
    return "", b""


def _sniffed(text: str) -> str:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return "text/plain"
    return "application/json"


def _form(value: object) -> list[tuple[str, str]]:
    return [
        (as_text(item.get("key")), as_text(item.get("value")))
        for item in map(as_object, as_list(value))
        if as_text(item.get("key")) and not item.get("disabled")
    ]


def _multipart(value: object) -> bytes:
    parts = []
    for item in map(as_object, as_list(value)):
        name = as_text(item.get("key"))
        if not name or item.get("disabled"):
            continue
        disposition = f'form-data; name="{name}"'
        if item.get("type") == "file":
            source = item.get("src")
            filename = as_text(source[0] if isinstance(source, list) and source else source)
            disposition += f'; filename="{filename.rpartition("/")[2]}"'
            content = ""
        else:
            content = as_text(item.get("value"))
        parts.append(f"--{_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n{content}\r\n")
    return _encoded("".join(parts) + f"--{_BOUNDARY}--\r\n") if parts else b""


def _auth(auth: dict[str, object]) -> tuple[_Pairs, _Pairs]:
    """The header (or query parameter) the request's auth would add, values as written."""
    kind = as_text(auth.get("type")).lower()
    settings = _settings(auth.get(kind))
    if kind in ("bearer", "oauth2"):
        token = settings.get("token") or settings.get("accessToken") or "{{token}}"
        return (("authorization", f"Bearer {token}"),), ()
    if kind == "basic":
        credentials = f"{settings.get('username', '')}:{settings.get('password', '')}"
        return (("authorization", "Basic " + base64.b64encode(_encoded(credentials)).decode()),), ()
    if kind == "apikey":
        pair = ((settings.get("key") or "x-api-key").lower(), settings.get("value", ""))
        if settings.get("in") == "query":
            return (), ((settings.get("key") or "api_key", pair[1]),)
        return (pair,), ()
    if kind in _AUTH_SCHEMES:
        return (("authorization", _AUTH_SCHEMES[kind]),), ()
    return (), ()


def _own_auth(own: object, inherited: object) -> object:
    """An item's auth, or its parent's when the item has none or says `inherit`."""
    if not own or as_text(as_object(own).get("type")).lower() == "inherit":
        return inherited
    return own


def _settings(value: object) -> dict[str, str]:
    """Auth attributes as a dict, from v2.1's `[{key, value}]` or v2.0's plain object."""
    if isinstance(value, dict):
        return {str(key): as_text(item) for key, item in value.items()}
    return {
        as_text(item.get("key")): as_text(item.get("value"))
        for item in map(as_object, as_list(value))
    }


def _with_response(request: Observation, example: dict[str, object]) -> Observation:
    headers = dict(_headers(example.get("header"), {}))
    code = example.get("code")
    language = as_text(example.get("_postman_previewlanguage")).lower()
    return replace(
        request,
        status=code if isinstance(code, int) and 0 <= code <= 999 else 0,
        response_type=headers.get("content-type", "") or _LANGUAGES.get(language, ""),
        response_body=_encoded(as_text(example.get("body")))[:MAX_BODY],
    )


def _encoded(text: str) -> bytes:
    return text[:MAX_BODY].encode("utf-8", errors="surrogatepass")
