"""How often the builtin attack engine refuses ordinary prose sent as a parameter.

Benign text from three public sets in `../shared/data/prompt_injection/` (not used to write
signatures, and not the attack evaluation's data): CLINC150 assistant requests (first 6,000
training utterances), GSM8K word problems (2,000) and self-instruct seed instructions (175).
Each text goes once as a query parameter and once as a JSON field.

    .venv/bin/python scripts/attack_prose_check.py
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from urllib.parse import quote_plus

from wardgate.detect.attacks.builtin import BuiltinEngine
from wardgate.detect.attacks.model import HttpSample

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "prompt_injection"


def texts() -> list[str]:
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    found = [utterance for utterance, _ in clinc["train"][:6000]]
    with (DATA / "gsm8k" / "train_subsample_2000.jsonl").open() as lines:
        found += [json.loads(line)["question"] for line in lines]
    with (DATA / "self_instruct" / "seed_tasks.jsonl").open() as lines:
        found += [json.loads(line)["instruction"] for line in lines]
    return found


def main() -> int:
    if not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    engine = BuiltinEngine()
    host = (("Host", "api.example"),)
    json_type = (*host, ("Content-Type", "application/json"))
    refused: collections.Counter[str] = collections.Counter()
    total = blocked = 0
    examples: list[tuple[str, list[str]]] = []
    for text in texts():
        for sample in (
            HttpSample("GET", "/search", "q=" + quote_plus(text), host),
            HttpSample("POST", "/api", "", json_type, json.dumps({"note": text}).encode()),
        ):
            total += 1
            report = engine.inspect(sample)
            if report.refused:
                blocked += 1
                rules = sorted({f.rule for f in report.findings})
                refused.update(rules)
                if len(examples) < 10:
                    examples.append((text[:100], rules))
    print(f"{total} requests, {blocked} refused ({blocked / total:.4%})")
    print("rules:", refused.most_common(10))
    for text, rules in examples:
        print(f"  {text!r}: {rules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
