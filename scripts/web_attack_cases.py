"""Turn the web-attack data sets in `shared/data/web_attacks` into labelled HTTP requests.

`load_cases(data_dir)` returns one `Case` per request, in a fixed order (sources in the order
below, files sorted, lines and payloads in file order). Nothing here is random: GoTestWAF's
random parameter names and multipart boundaries are replaced by short hashes of the case.

- `payloadsallthethings/<family>/*.txt` (train): each non-empty line is an attack (fragments
  included; only three prose lines such as `# from wapiti` are skipped), sent as
  `GET /?q=<value>` (placement `query`) and as `POST /` with `{"q": value}` (placement
  `json`); XXE lines instead as a `POST /` `application/xml` body (placement `xml`).
- `httpparams/payload_train.csv` (train): `GET /?q=<value>` (placement `query`). The values
  are decoded already (spaces, no `%` escapes in benign rows, `%` only as a literal in
  sqlmap's `LIKE` payloads), so each is percent-encoded whole; a literal `+` goes as `%2B`.
- `seclists/ssrf/*.txt` (eval): `GET /?url=<value>` (placement `query`).
- `gotestwaf/**/*.yml` (eval): every payload x encoder x placeholder of each YAML document,
  as GoTestWAF builds it (`ENCODERS`, `PLACEHOLDERS`; placement = the placeholder's name);
  `false-pos/texts.yml` is the benign side. Two deliberate differences: `JSONRequest` and
  `gRPC` bodies are valid JSON (GoTestWAF formats the payload in unescaped; gRPC itself needs
  HTTP/2 and protobuf), so an engine is judged on the value and not on a malformed body.

Every request carries `Host`, a browser `User-Agent` and `Accept`, and `Content-Type` and
`Content-Length` when it has a body, so that engines that flag missing headers judge the
payload and not the framing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

import yaml

from wardgate.detect.attacks.model import CATEGORIES, HttpSample

__all__ = [
    "API_CATEGORIES",
    "BENIGN",
    "ENCODERS",
    "KNOWN_CATEGORIES",
    "PLACEHOLDERS",
    "Case",
    "Slot",
    "load_cases",
]

Split = Literal["train", "eval"]
BENIGN = "benign"

# GoTestWAF's API test files whose payloads are not of an injection family keep their own name.
API_CATEGORIES = frozenset({"api-graphql", "api-grpc", "api-non-crud", "api-rest", "api-soap"})
KNOWN_CATEGORIES = frozenset(CATEGORIES) | {BENIGN} | API_CATEGORIES


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled request: `label` is 1 for an attack, 0 for a benign request.

    `payload_id` names the payload (`<source>:<line>`, `<source>#<index>`) and is shared by
    every placement and encoding of it; `payload` is the value before encoding; `encoder`
    is GoTestWAF's encoder name, empty for the other sources.
    """

    source: str
    split: Split
    category: str
    label: int
    placement: str
    sample: HttpSample
    payload_id: str
    payload: str
    encoder: str = ""


_BASE_HEADERS = (
    ("Host", "wardgate.test"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("Accept", "*/*"),
)


def _request(
    method: str,
    target: str,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> HttpSample:
    """A request with the base headers; `headers` replace base headers of the same name."""
    path, _, query = target.partition("?")
    own = {name.lower() for name, _ in headers}
    merged = [(k, v) for k, v in _BASE_HEADERS if k.lower() not in own]
    merged.extend(headers)
    if content_type is not None and "content-type" not in own:
        merged.append(("Content-Type", content_type))
    if body or method not in ("GET", "HEAD"):
        merged.append(("Content-Length", str(len(body))))
    return HttpSample(method=method, path=path, query=query, headers=tuple(merged), body=body)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# --- GoTestWAF encoders: applied to the payload before it is placed -----------------------


def _base64(payload: str) -> str:
    return base64.b64encode(_utf8(payload)).decode("ascii")


ENCODERS: dict[str, Callable[[str], str]] = {
    "Plain": lambda payload: payload,
    # Go's url.QueryEscape: unreserved characters kept, space as `+`, the rest as %XX.
    "URL": lambda payload: quote_plus(payload, safe=""),
    "Base64": _base64,
    "Base64Flat": lambda payload: _base64(payload).replace("=", ""),
    "JSUnicode": lambda payload: "".join(f"\\u{ord(char):04x}" for char in payload),
    "XMLEntity": lambda payload: "".join(f"&#x{ord(char):x};" for char in payload),
}


# --- GoTestWAF placeholders: where the encoded payload goes --------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """What a placeholder gets: the encoded payload, a fixed pseudo-random name, options."""

    payload: str
    name: str
    options: Mapping[str, Any]


def _url_path(slot: Slot) -> HttpSample:
    return _request("GET", "/" + slot.payload)


def _url_param(slot: Slot) -> HttpSample:
    return _request("GET", f"/?{slot.name}={slot.payload}")


def _header(slot: Slot) -> HttpSample:
    return _request("GET", "/", headers=((f"X-{slot.name}", slot.payload),))


def _user_agent(slot: Slot) -> HttpSample:
    return _request("GET", "/", headers=(("User-Agent", slot.payload),))


def _json_request(slot: Slot) -> HttpSample:
    # GoTestWAF formats `{"<name>": "<payload>"}` without escaping; we escape, so the body is
    # valid JSON and the engine judges the value, not a malformed body.
    body = json.dumps({slot.name: slot.payload}, ensure_ascii=False)
    return _request("POST", "/", body=_utf8(body), content_type="application/json")


def _json_body(slot: Slot) -> HttpSample:
    return _request("POST", "/", body=_utf8(slot.payload), content_type="application/json")


def _html_form(slot: Slot) -> HttpSample:
    body = _utf8(f"{slot.name}={slot.payload}")
    return _request("POST", "/", body=body, content_type="application/x-www-form-urlencoded")


def _multipart(slot: Slot) -> HttpSample:
    boundary = "wardgate" + slot.name * 2
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{slot.name}"\r\n\r\n'
        f"{slot.payload}\r\n"
        f"--{boundary}--\r\n"
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    return _request("POST", "/", body=_utf8(body), content_type=content_type)


def _xml_body(slot: Slot) -> HttpSample:
    return _request("POST", "/", body=_utf8(slot.payload), content_type="text/xml")


def _soap_body(slot: Slot) -> HttpSample:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><ns:Request xmlns:ns="urn:wardgate-test"><ns:{slot.name}>'
        f"{xml_escape(slot.payload)}</ns:{slot.name}></ns:Request></soap:Body></soap:Envelope>"
    )
    headers = (("SOAPAction", '"urn:wardgate-test#Request"'),)
    return _request(
        "POST", "/", body=_utf8(body), content_type="text/xml; charset=utf-8", headers=headers
    )


def _graphql(slot: Slot) -> HttpSample:
    # The payloads are whole GraphQL-over-HTTP documents (`{"query": ...}`): POST sends the
    # document, GET sends it (already URL-encoded by its encoder) as the `query` parameter.
    if str(slot.options.get("method", "GET")).upper() == "POST":
        body = _utf8(slot.payload)
        return _request("POST", "/graphql", body=body, content_type="application/json")
    return _request("GET", f"/graphql?query={slot.payload}")


def _grpc(slot: Slot) -> HttpSample:
    # gRPC needs HTTP/2 and protobuf; we send the message as gRPC-JSON transcoding would
    # (`{"value": payload}`), which keeps the payload a string value in a valid body.
    body = json.dumps({"value": slot.payload}, ensure_ascii=False)
    return _request("POST", "/grpc", body=_utf8(body), content_type="application/json")


def _raw_request(slot: Slot) -> HttpSample:
    def fill(template: object) -> str:
        return str(template).replace("{{payload}}", slot.payload)

    headers = tuple((str(k), fill(v)) for k, v in dict(slot.options.get("headers") or {}).items())
    method = str(slot.options.get("method", "GET"))
    body = _utf8(fill(slot.options.get("body", "")))
    return _request(method, fill(slot.options.get("path", "/")), body=body, headers=headers)


PLACEHOLDERS: dict[str, Callable[[Slot], HttpSample]] = {
    "URLPath": _url_path,
    "URLParam": _url_param,
    "Header": _header,
    "UserAgent": _user_agent,
    "JSONRequest": _json_request,
    "JSONBody": _json_body,
    "HTMLForm": _html_form,
    "HTMLMultipartForm": _multipart,
    "XMLBody": _xml_body,
    "SOAPBody": _soap_body,
    "GraphQL": _graphql,
    "gRPC": _grpc,
    "RawRequest": _raw_request,
}


# --- GoTestWAF categories -------------------------------------------------------------------

_GOTESTWAF_CATEGORY = {
    "sql-injection": "sqli",
    "nosql-injection": "nosqli",
    "ldap-injection": "ldapi",
    "mail-injection": "mail",
    "crlf": "crlf",
    "path-traversal": "traversal",
    "rce": "cmdi",
    "rce-urlparam": "cmdi",
    "rce-urlpath": "cmdi",
    "shell-injection": "cmdi",
    "ss-include": "ssi",
    "sst-injection": "ssti",
    "xml-injection": "xxe",
    "xss-scripting": "xss",
    "community-8kb-rce": "cmdi",
    "community-8kb-sqli": "sqli",
    "community-8kb-xss": "xss",
    "community-lfi": "traversal",
    "community-lfi-multipart": "traversal",
    "community-rce": "cmdi",
    "community-rce-rawrequests": "cmdi",
    "community-sqli": "sqli",
    "community-user-agent": "scanner",
    "community-xss": "xss",
    "community-xxe": "xxe",
    "graphql": "api-graphql",
    "graphql-post": "api-graphql",
    "grpc": "api-grpc",
    "non-crud": "api-non-crud",
    "rest": "api-rest",
    "soap": "api-soap",
    "texts": BENIGN,
}

# Payloads whose family is plainly not their file's: code in the RCE files, Log4Shell among
# the scanner user agents, a PyYAML gadget.
_PAYLOAD_FAMILY = (
    (re.compile(r"\$\{jndi:", re.IGNORECASE), "jndi"),
    (re.compile(r"!!python/object"), "deserialization"),
    (re.compile(r'Ev al \("Ex"&"e"&"cute'), "code"),
    (re.compile(r"\$\{@print\("), "code"),
)
# The API files mix SQL injection and XSS: those keep their family, anything else the API name.
_API_FAMILY = (
    (re.compile(r"union\s+select|\band\s+\d+=\d+", re.IGNORECASE), "sqli"),
    (re.compile(r"<script|\b(?:alert|confirm|prompt)\b", re.IGNORECASE), "xss"),
)


def _gotestwaf_category(stem: str, payload: str) -> str:
    category = _GOTESTWAF_CATEGORY[stem]
    if category == BENIGN:
        return category
    rules = _PAYLOAD_FAMILY + (_API_FAMILY if category in API_CATEGORIES else ())
    return next((family for pattern, family in rules if pattern.search(payload)), category)


# --- loaders --------------------------------------------------------------------------------

_PATT_CATEGORY = {
    "sqli": "sqli",
    "xss": "xss",
    "command_injection": "cmdi",
    "path_traversal": "traversal",
    "xxe": "xxe",
    "ssti": "ssti",
    "nosqli": "nosqli",
    "ldapi": "ldapi",
    "crlf": "crlf",
    "open_redirect": "open_redirect",
    "ssi": "ssi",
}
# Only prose such as "# from wapiti"; payloads like `#{3*3}` start with `#` too.
_COMMENT = re.compile(r"#\s+[A-Za-z][A-Za-z ,./'-]*")

_HTTPPARAMS_CATEGORY = {
    "sqli": "sqli",
    "xss": "xss",
    "path-traversal": "traversal",
    "cmdi": "cmdi",
}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip() and not _COMMENT.fullmatch(line):
            yield number, line


def _query(key: str, value: str) -> HttpSample:
    return _request("GET", f"/?{key}={quote(value, safe='')}")


def _json_field(key: str, value: str) -> HttpSample:
    body = _utf8(json.dumps({key: value}, ensure_ascii=False))
    return _request("POST", "/", body=body, content_type="application/json")


def _patt_cases(data_dir: Path) -> Iterator[Case]:
    for folder in sorted((data_dir / "payloadsallthethings").iterdir()):
        category = _PATT_CATEGORY[folder.name]
        for path in sorted(folder.glob("*.txt")):
            source = path.relative_to(data_dir).as_posix()
            for number, line in _lines(path):
                if category == "xxe":
                    xml = _request("POST", "/", body=_utf8(line), content_type="application/xml")
                    placed = [("xml", xml)]
                else:
                    placed = [("query", _query("q", line)), ("json", _json_field("q", line))]
                for placement, sample in placed:
                    yield Case(
                        source, "train", category, 1, placement, sample, f"{source}:{number}", line
                    )


def _httpparams_cases(data_dir: Path) -> Iterator[Case]:
    path = data_dir / "httpparams" / "payload_train.csv"
    source = path.relative_to(data_dir).as_posix()
    with path.open(encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            value = row["payload"]
            attack = row["label"] == "anom"
            category = _HTTPPARAMS_CATEGORY[row["attack_type"]] if attack else BENIGN
            yield Case(
                source,
                "train",
                category,
                int(attack),
                "query",
                _query("q", value),
                f"{source}:{row_number}",
                value,
            )


def _ssrf_cases(data_dir: Path) -> Iterator[Case]:
    for path in sorted((data_dir / "seclists" / "ssrf").glob("*.txt")):
        source = path.relative_to(data_dir).as_posix()
        for number, line in _lines(path):
            sample = _query("url", line)
            yield Case(source, "eval", "ssrf", 1, "query", sample, f"{source}:{number}", line)


def _placeholders(raw: list[Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """`[URLParam, {GraphQL: {method: POST}}]` -> `[(URLParam, {}), (GraphQL, {...})]`."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for entry in raw:
        if isinstance(entry, dict):
            found.extend((str(name), options or {}) for name, options in entry.items())
        else:
            found.append((str(entry), {}))
    return found


def _slot_name(payload_id: str, encoder: str, placeholder: str) -> str:
    """GoTestWAF's random hex name, made a pure function of the case."""
    return hashlib.sha256(f"{payload_id}|{encoder}|{placeholder}".encode()).hexdigest()[:10]


def _documents(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        # Go-YAML accepts `\'` inside double quotes; PyYAML does not (see the data README).
        documents = list(yaml.safe_load_all(text.replace("\\'", "'")))
    return [document for document in documents if document]


def _gotestwaf_file_cases(data_dir: Path, path: Path) -> Iterator[Case]:
    source = path.relative_to(data_dir).as_posix()
    index = 0
    for document in _documents(path):
        placeholders = _placeholders(document["placeholder"])
        for payload in map(str, document["payload"]):
            payload_id = f"{source}#{index}"
            index += 1
            category = _gotestwaf_category(path.stem, payload)
            label = int(category != BENIGN)
            for encoder in map(str, document["encoder"]):
                encoded = ENCODERS[encoder](payload)
                for placeholder, options in placeholders:
                    name = _slot_name(payload_id, encoder, placeholder)
                    sample = PLACEHOLDERS[placeholder](Slot(encoded, name, options))
                    yield Case(
                        source, "eval", category, label, placeholder, sample, payload_id,
                        payload, encoder,
                    )  # fmt: skip


def _gotestwaf_cases(data_dir: Path) -> Iterator[Case]:
    for path in sorted((data_dir / "gotestwaf").glob("*/*.yml")):
        yield from _gotestwaf_file_cases(data_dir, path)


def load_cases(data_dir: Path) -> list[Case]:
    """Every labelled request built from `data_dir` (`shared/data/web_attacks`), in order."""
    return [
        *_patt_cases(data_dir),
        *_httpparams_cases(data_dir),
        *_ssrf_cases(data_dir),
        *_gotestwaf_cases(data_dir),
    ]
