"""The discovery traffic generator: deterministic, covers the ground truth, noise stays out."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "api_discovery"

sys.path.insert(0, str(SCRIPTS))
import discovery_traffic  # noqa: E402

SPECS = ["vampi/openapi3.yml", "crapi/crapi-openapi-spec.json"]


def load(name: str) -> dict[str, Any]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"no data at {path}")
    return discovery_traffic.load_spec(path)


def template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^{}]+\}", template)
    return re.compile("[^/]+".join(re.escape(p) for p in parts) + r"\Z")


@pytest.mark.parametrize("name", SPECS)
def test_same_seed_same_bytes(name: str) -> None:
    spec = load(name)
    first = discovery_traffic.generate(spec, seed=7, noise=0.05)
    again = discovery_traffic.generate(spec, seed=7, noise=0.05)
    assert json.dumps(first, sort_keys=False) == json.dumps(again, sort_keys=False)
    other = discovery_traffic.generate(spec, seed=8, noise=0.05)
    assert json.dumps(other[0]) != json.dumps(first[0])


@pytest.mark.parametrize("name", SPECS)
def test_traffic_covers_truth_and_noise_stays_out(name: str) -> None:
    spec = load(name)
    har, truth = discovery_traffic.generate(spec, seed=discovery_traffic.SEED, noise=0.1)
    entries = har["log"]["entries"]
    assert har["log"]["version"] == "1.2"
    assert len(truth["endpoints"]) == sum(
        1 for item in spec["paths"].values() for m in item if m in discovery_traffic.METHODS
    )
    patterns = [(m, t, template_pattern(t)) for m, t in truth["endpoints"]]
    seen: dict[tuple[str, str], int] = {}
    noise = 0
    for entry in entries:
        method = entry["request"]["method"]
        path = unquote(urlsplit(entry["request"]["url"]).path)
        assert "{" not in path and "}" not in path and "//" not in path
        matches = [(m, t) for m, t, p in patterns if p.match(path)]
        if not matches:  # noise: a path no template covers, answered 404
            noise += 1
            assert entry["response"]["status"] == 404
            continue
        # The most literal template is the one that generated it (`/posts/recent` before
        # `/posts/{postId}`).
        exact = [(m, t) for m, t in matches if m == method]
        assert exact, (method, path)
        best = min(exact, key=lambda mt: (mt[1].count("{"), -len(mt[1])))
        seen[best] = seen.get(best, 0) + 1
    assert noise == truth["noise_requests"] > 0
    for method, template in truth["endpoints"]:
        assert seen.get((method, template), 0) >= 1, (method, template)
    assert all(
        v.startswith(("query:", "header:", "cookie:"))
        for vs in truth["parameters"].values()
        for v in vs
    )


def test_parameter_values_vary() -> None:
    har, _ = discovery_traffic.generate(load("crapi/crapi-openapi-spec.json"), 3, 0.0)
    pattern = template_pattern("/workshop/api/shop/orders/{order_id}")
    paths = [urlsplit(e["request"]["url"]).path for e in har["log"]["entries"]]
    values = [p.rsplit("/", 1)[1] for p in paths if pattern.match(p)]
    values = [v for v in values if v not in ("all", "return_order")]  # literal siblings
    assert len(values) >= 2 and all(v.isdigit() for v in values)
    assert len(set(values)) > len(values) // 2


def test_cli_writes_har_and_truth(tmp_path: Path) -> None:
    load("vampi/openapi3.yml")
    har, truth = tmp_path / "t.har", tmp_path / "truth.json"
    discovery_traffic.main(
        [str(DATA / "vampi/openapi3.yml"), "--out", str(har), "--truth", str(truth)]
    )
    written = json.loads(truth.read_text())
    assert written["spec"] == "openapi3.yml"
    assert ["GET", "/users/v1/{username}"] in written["endpoints"]
    assert json.loads(har.read_text())["log"]["entries"]
