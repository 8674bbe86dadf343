"""Measure API discovery on real OpenAPI specs: generated traffic in, endpoint templates out.

For each spec in `shared/data/api_discovery` the frozen generator
(`scripts/discovery_traffic.py`, fixed seed, written before the templater was tuned) makes
sparse, realistic traffic with 5 % noise as a HAR file; `wardgate discover`'s learning
(`learn_files`) reads it and the learned `(method, template)` pairs are compared with the
spec's. Templates are compared with parameter names blanked (`/users/{id}` and
`/users/{userId}` are one endpoint); a learned endpoint that is noise or a wrong template
counts against precision.

- endpoint precision, recall, F1: over `(METHOD, template)` pairs;
- method recall: of the spec's operations whose path was learned, the share whose method
  was learned on it;
- parameter recall: of the query, header and cookie parameters the traffic actually sent
  to an endpoint that was learned, the share the learned endpoint lists.

    python scripts/eval_discovery.py                 # writes docs/discovery.md
    python scripts/eval_discovery.py --out /tmp/d.md --seed 7
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "src"))

import discovery_traffic  # noqa: E402
import report_sections  # noqa: E402

from wardgate.discovery.commands import learn_files  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "api_discovery"
SPECS = [
    "crapi/crapi-openapi-spec.json",
    "vampi/openapi3.yml",
    "wso2_api_specs/candid_charityCheckPdf_1.0.openapi.yaml",
    "wso2_api_specs/candid_essentials_1.0.openapi.yaml",
    "wso2_api_specs/docusign_click_v1.openapi.yaml",
    "wso2_api_specs/google_calendar_v3.openapi.yaml",
    "wso2_api_specs/google_gmail_v1.openapi.yaml",
]
TARGET_F1 = 0.97
BEGIN, END = report_sections.markers("discovery")
_PARAM = re.compile(r"\{[^}]*\}")


def blank(template: str) -> str:
    """A template with its parameter names removed, trailing slash dropped."""
    path = _PARAM.sub("{}", template)
    return path.rstrip("/") or "/"


def evaluate(spec_path: Path, seed: int, noise: float) -> dict[str, Any]:
    spec = discovery_traffic.load_spec(spec_path)
    har, truth = discovery_traffic.generate(spec, seed, noise)
    with tempfile.TemporaryDirectory() as tmp:
        har_file = Path(tmp) / "traffic.har"
        har_file.write_text(json.dumps(har), encoding="utf-8")
        started = time.perf_counter()
        inventory = learn_files(hars=(har_file,))
        seconds = time.perf_counter() - started
    endpoints = inventory.endpoints()
    learned = {(e.method, blank(e.template)) for e in endpoints}
    expected = {(method, blank(path)) for method, path in truth["endpoints"]}
    hits = learned & expected
    precision = len(hits) / len(learned) if learned else 0.0
    recall = len(hits) / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    learned_paths = {path for _, path in learned}
    with_path = [pair for pair in expected if pair[1] in learned_paths]
    method_recall = (
        sum(pair in learned for pair in with_path) / len(with_path) if with_path else 0.0
    )
    sent, found = _parameters(har, truth, endpoints)
    return {
        "spec": spec_path.name,
        "operations": len(expected),
        "requests": len(har["log"]["entries"]),
        "noise": truth["noise_requests"],
        "learned": len(learned),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "method_recall": method_recall,
        "parameters_sent": sent,
        "parameters_found": found,
        "parameter_recall": found / sent if sent else 1.0,
        "missed": sorted(f"{m} {p}" for m, p in expected - learned),
        "extra": sorted(f"{m} {p}" for m, p in learned - expected),
        "seconds": seconds,
    }


def _parameters(
    har: dict[str, Any], truth: dict[str, Any], endpoints: list[Any]
) -> tuple[int, int]:
    """(parameters sent to learned endpoints, of those the ones the inventory lists)."""
    patterns = sorted(
        ((method, path) for method, path in truth["endpoints"]),
        key=lambda pair: (pair[1].count("{"), -len(pair[1])),  # literal templates first
    )
    compiled = [
        (
            method,
            path,
            re.compile(
                "^"
                + _PARAM.sub("[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
                + "/?$"
            ),
        )
        for method, path in patterns
    ]
    by_key = {(e.method, blank(e.template)): e for e in endpoints}
    sent: set[tuple[str, str, str]] = set()
    for entry in har["log"]["entries"]:
        request = entry["request"]
        url_path = re.sub(r"^[a-z]+://[^/]+", "", request["url"]).split("?", 1)[0]
        from urllib.parse import unquote

        url_path = "/".join(unquote(s) for s in url_path.split("/"))
        for method, path, pattern in compiled:
            if method == request["method"] and pattern.match(url_path):
                key = (method, blank(path))
                for q in request.get("queryString", []):
                    sent.add((*key, "query:" + q["name"]))
                declared = set(truth["parameters"].get(f"{method} {path}", []))
                for h in request.get("headers", []):
                    name = "header:" + h["name"]
                    if name.lower() in {d.lower() for d in declared}:
                        sent.add((*key, name.lower()))
                break
    sent_learned = {s for s in sent if (s[0], s[1]) in by_key}
    found = 0
    for method, path, name in sent_learned:
        endpoint = by_key[(method, path)]
        where, _, key = name.partition(":")
        names = endpoint.query if where == "query" else endpoint.headers
        found += key in names or key.lower() in {n.lower() for n in names}
    return len(sent_learned), found


def render(results: Sequence[dict[str, Any]], seed: int, noise: float) -> str:
    lines = [
        "## Endpoint discovery from traffic",
        "",
        "Generated with `python scripts/eval_discovery.py` (`make eval`). Traffic: "
        f"`scripts/discovery_traffic.py`, seed {seed}, {noise:.0%} noise requests; the "
        "generator was written and frozen before the templater was tuned. Templates are "
        "compared with parameter names blanked. Target: endpoint F1 ≥ 0.97 on every spec.",
        "",
        "| spec | operations | requests (noise) | learned | precision | recall | F1 | "
        "method recall | parameter recall | time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mark = "" if r["f1"] >= TARGET_F1 else " ✗"
        lines.append(
            f"| {r['spec']} | {r['operations']} | {r['requests']} ({r['noise']}) | "
            f"{r['learned']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['f1']:.3f}{mark} | {r['method_recall']:.3f} | "
            f"{r['parameter_recall']:.3f} ({r['parameters_found']}/{r['parameters_sent']}) | "
            f"{r['seconds'] * 1000:.0f} ms |"
        )
    lines += ["", "Misses and extras (method, blanked template):", ""]
    for r in results:
        if r["missed"] or r["extra"]:
            lines.append(f"- **{r['spec']}**")
            lines += [f"  - missed `{m}`" for m in r["missed"]]
            lines += [f"  - extra `{e}`" for e in r["extra"]]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    report_sections.write_section(path, "discovery", section, "# Discovery quality")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=discovery_traffic.SEED)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "discovery.md")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--specs", nargs="*", default=SPECS)
    args = parser.parse_args(argv)
    results = [evaluate(DATA / name, args.seed, args.noise) for name in args.specs]
    for r in results:
        print(
            f"{r['spec']:45} P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f} "
            f"methods {r['method_recall']:.3f} params {r['parameter_recall']:.3f}"
        )
    write_section(args.out, render(results, args.seed, args.noise))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
