"""Endpoint templates learned from concrete request paths: `/users/42` -> `/users/{userId}`.

One `PathTemplater` per (scheme, host); the caller keeps them in a dict. It learns path by
path (`learn`, cheap enough to run per request) and answers `template`, `templates` and
`params`. Templates use OpenAPI path syntax, so they compare with a spec's path keys.

    templater = PathTemplater()
    templater.learn("/users/v1/alice")       # "/users/v1/alice": one sample proves nothing
    for name in ("bob", "carol"):
        templater.learn(f"/users/v1/{name}")
    templater.template("/users/v1/dave")     # "/users/v1/{userId}"
    templater.template("/orders/17/items")   # "/orders/{orderId}/items", even unseen

How a segment becomes a parameter:

- *Shape* (`segment_kind`): integers, UUIDs, hex of 8+ with a digit, dates, e-mails,
  base64-like or long mixed tokens and free text are values on first sight. `{id}:action`
  and `{id}.json` keep the action or extension (known extensions only).
- *Declared*: a whole segment `{name}` (also `{{name}}` and `:name`, as Postman writes
  them) is a parameter with that name; a concrete path that fully fits under it maps to it.
- *Statistics*: word-like siblings at one trie position that share the same continuation
  (same end flag and child keys) become one parameter once there are 3 of them under a
  collection-like parent (`users`, `books/v1`, `vehicle`) or 5 elsewhere. Kebab/snake words
  count only toward the 5. Dictionary words of APIs (`login`, `me`, `settings`), versions,
  camelCase words and segments starting with a symbol (`_debug`) never count, so
  `/users/me` and `/users/v1/login` stay beside `/users/{userId}` and `/users/v1/{userId}`.
  Once a position holds such an open parameter, every later word-like sibling joins it.

Names come from the declared name, else from the literal segment before (skipping a
version): `users` -> `userId`, `service_requests` -> `serviceRequestId`; else `id`; a
repeated name gets a number (`{id}`, `{id2}`). Trailing and doubled slashes are dropped;
`%xx` escapes are decoded before a segment's shape is judged.

Bounds: a node with `max_children` literal children collapses every non-dictionary one into
a parameter (and sends later ones there); at most `max_templates` templates and paths of
at most `max_depth` segments are learned. A path beyond those bounds is counted in `noise`
and `learn` returns `NOISE`, so an inventory keyed by what `learn` returns stays bounded.
Every node lies on a path to a template, so nodes <= max_templates * max_depth.

The result depends only on the set of paths in most cases; where merge thresholds are
crossed in different orders it may differ, but the same sequence always gives the same
templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Final
from urllib.parse import unquote

__all__ = ["NOISE", "PathTemplater", "segment_kind"]

NOISE: Final = "{noise}"
"""What `learn` returns for a path it did not learn because a bound was reached."""

_FEW = 3  # word siblings with one continuation under a collection make a parameter
_MANY = 4  # ... anywhere else
_MAX_ALIASES = 16  # words one parameter is known to take (`me`, `primary`)
_MAX_SUFFIXES = 8  # distinct `:action` / `.ext` forms of a parameter at one position
_SEARCH_STEPS = 512  # backtracking budget of one lookup


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_DATE = re.compile(
    r"\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?"
)
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~+=]+")
_PCHAR = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]*")
_DIGIT_RUN = re.compile(r"\d{4,}")
_VERSION = re.compile(r"(?:v\d+(?:[._]\d+)*(?:alpha|beta|rc|preview)?\d*|\d+(?:\.\d+)+)", re.I)
_DECLARED = re.compile(r"(?:\{\{?([A-Za-z_][\w.\-]*)\}\}?|:([A-Za-z_]\w*))([:.][\w\-]+)?")
_ACTION = re.compile(r"[A-Za-z][\w\-]{0,31}")
_CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z]*)+")
# A name qualified by its kind: `user:ann@example.org`, `domain:example.com`, `group:g-42`.
_QUALIFIED = re.compile(r"[a-z][a-z_-]{1,15}:(?=[^:/]*[.@0-9])[^:/\s]{2,}")
_PARAM = re.compile(r"\{([^{}]+)\}")
_EXTENSIONS: Final = _words(
    "json xml yaml yml csv tsv txt pdf html htm md png jpg jpeg gif svg webp ico bmp tif tiff "
    "zip gz tgz tar mp3 mp4 wav webm mov avi ics vcf js css bin"
)
# Words that name endpoints, not values: they stay literal beside a parameter.
_VOCABULARY: Final = _words(
    """
    me self mine my current all any none recent latest new popular trending featured default
    public private internal shared search find query filter filters lookup list count stats
    statistics summary overview report reports info details status health healthz ping ready
    live version versions metrics metadata meta schema schemas spec openapi swagger docs help
    about config configuration settings preferences options profile account accounts login
    logout signin signout signup register registration auth authorize authorization oauth
    oauth2 token tokens refresh revoke callback verify verification validate confirm activate
    deactivate enable disable reset forgot forget password change update upload uploads
    download downloads export import batch bulk sync send receive reply forward watch stop
    start restart cancel close open approve reject submit publish archive restore delete
    remove trash untrash move copy clone share subscribe unsubscribe follow unfollow like join
    leave invite accept decline assign lock unlock pin star mute block unblock modify create
    edit read write run execute test preview render convert
    api apis admin identity community workshop shop store cart checkout users user orders
    order payments payment billing invoices invoice subscriptions plans products product items
    item catalog categories category tags tag labels label comments comment posts post
    messages message threads thread drafts draft history attachments files file images image
    photos pictures videos media avatar thumbnail assets static dashboard home index
    notifications alerts webhooks hooks channels groups group teams team members roles
    permissions policies keys secrets credentials sessions session devices vehicles locations
    location contacts calendars calendar events event projects tasks jobs logs audit
    """
)
# Plural-looking words that name one thing rather than a collection of ids.
_NOT_COLLECTIONS: Final = _words(
    "settings details options preferences stats statistics metrics status news analytics "
    "access address business process series"
)
_COLLECTIONS: Final = _words(
    "user account vehicle product order item post book file customer project group team event "
    "calendar message thread label draft video image comment document folder invoice payment "
    "ticket task member repo org organization device job record entry article page channel "
    "room profile"
)


def segment_kind(segment: str) -> str | None:
    """The value shape of one decoded path segment, or None when it reads like a word.

    Returns "int", "uuid", "hex", "date", "email", "token" (base64-like, long mixed
    letters and digits, or letters with a run of 4+ digits) or "text" (whitespace or
    characters a URL path does not carry bare). Versions (`v1`, `2.0`), words, slugs and
    file names (`jwks.json`) give None. Pure and cheap; safe to call per request.
    """
    return _kind(segment)


@lru_cache(maxsize=8192)
def _kind(s: str) -> str | None:
    if not s:
        return None
    if s.isdigit() and s.isascii():
        return "int"
    if _VERSION.fullmatch(s):
        return None
    if _UUID.fullmatch(s):
        return "uuid"
    if _HEX.fullmatch(s) and any(c.isdigit() for c in s):
        return "hex"
    if _DATE.fullmatch(s):
        return "date"
    if _EMAIL.fullmatch(s):
        return "email"
    if _QUALIFIED.fullmatch(s):
        return "token"
    if not s.isascii() or not _PCHAR.fullmatch(s):
        return "text"
    return "token" if _is_token(s) else None


def _is_token(s: str) -> bool:
    n = len(s)
    if n < 8 or not _TOKEN_CHARS.fullmatch(s):
        return False
    digits = sum(c.isdigit() for c in s)
    letters = sum(c.isalpha() for c in s)
    if s.endswith("=") and n >= 12:
        return True
    if letters == 0:
        return digits >= 6
    if digits == 0:
        flips = sum(
            a.islower() != b.islower() for a, b in pairwise(s) if a.isalpha() and b.isalpha()
        )
        return n >= 16 and flips * 4 >= n
    if _DIGIT_RUN.search(s):
        return True
    flips = sum(a.isdigit() != b.isdigit() for a, b in pairwise(s) if a.isalnum() and b.isalnum())
    if flips >= 3:
        return True
    mixed_case = s.lower() != s and s.upper() != s
    return (n >= 16 and mixed_case) or (n >= 20 and digits * 100 >= n * 15)


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one segment is learned: a parameter (`kind` set) or a literal word."""

    kind: str | None  # value shape, "declared", or None for a word
    suffix: str = ""  # ":action" or ".ext" kept after the parameter
    name: str | None = None  # declared name
    wordiness: int = 0  # words only: 0 plain, 1 kebab/snake/dotted, 2 never a value


@lru_cache(maxsize=8192)
def _shape(segment: str) -> _Shape:
    s = unquote(segment) if "%" in segment else segment
    declared = _DECLARED.fullmatch(s)
    if declared:
        return _Shape("declared", declared.group(3) or "", declared.group(1) or declared.group(2))
    stem, dot, ext = s.rpartition(".")
    if dot and stem and ext.lower() in _EXTENSIONS and (kind := _kind(stem)):
        return _Shape(kind, dot + ext)
    if kind := _kind(s):
        return _Shape(kind)
    stem, colon, action = s.partition(":")
    if colon and stem and _ACTION.fullmatch(action) and (kind := _kind(stem)):
        return _Shape(kind, colon + action)
    return _Shape(None, wordiness=_wordiness(s))


def _wordiness(s: str) -> int:
    if s.lower() in _VOCABULARY or _VERSION.fullmatch(s) or not s[0].isalnum():
        return 2
    # camelCase is how APIs name actions (`quickAdd`) and how people name accounts
    # (`daveLopez`): never a value on sight, but numbers can make it one.
    return 1 if _CAMEL.fullmatch(s) or any(c in "-_.:" for c in s) else 0


def _collection(segment: str) -> bool:
    s = segment.lower()
    if s in _COLLECTIONS:
        return True
    word = s.replace("-", "").replace("_", "")
    return (
        len(s) >= 4
        and word.isalpha()
        and s.endswith("s")
        and not s.endswith(("ss", "us", "is"))
        and s not in _NOT_COLLECTIONS
    )


def _name_from(segment: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", segment) if p]
    if not parts or not parts[0][0].isalpha():
        return "id"
    name = parts[0][0].lower() + parts[0][1:] + "".join(p[0].upper() + p[1:] for p in parts[1:])
    if name.endswith("ies") and len(name) > 4:
        name = name[:-3] + "y"
    elif name.endswith(("sses", "xes", "ches", "shes")):
        name = name[:-2]
    elif name.endswith("s") and not name.endswith(("ss", "us", "is")):
        name = name[:-1]
    return name + "Id"


@dataclass(eq=False, slots=True)
class _Node:
    """A trie position. `params` maps a suffix ("" for a bare `{x}`) to the child."""

    end: bool = False
    literals: dict[str, _Node] = field(default_factory=dict)
    params: dict[str, _Node] = field(default_factory=dict)
    overflow: bool = False  # too many literals: every non-dictionary word is a value here
    name: str | None = None  # declared parameter name (nodes reached by a parameter)
    open: bool = False  # a parameter that takes word-like values (statistics, overflow)
    aliases: set[str] = field(default_factory=set)  # words found to be its values (`me`)


@dataclass(frozen=True, slots=True)
class _Step:
    """One matched segment: a literal (`literal` set) or a parameter with its suffix."""

    literal: str | None
    suffix: str = ""
    name: str | None = None


def _split(path: str) -> list[str]:
    path = path.partition("?")[0].partition("#")[0]
    return [s for s in path.split("/") if s]


def _render(steps: list[_Step]) -> str:
    parts: list[str] = []
    used: set[str] = set()
    for i, step in enumerate(steps):
        if step.literal is not None:
            parts.append(step.literal)
            continue
        name = step.name or _derived_name(steps, i)
        base, n = name, 2
        while name in used:
            name, n = f"{base}{n}", n + 1
        used.add(name)
        parts.append("{" + name + "}" + step.suffix)
    return "/" + "/".join(parts)


def _derived_name(steps: list[_Step], i: int) -> str:
    for j in (i - 1, i - 2):
        prev = steps[j].literal if j >= 0 else None
        if prev is None:
            return "id"
        if not _VERSION.fullmatch(prev):
            return _name_from(prev)
    return "id"


class PathTemplater:
    """Learns the endpoint templates of one host from the paths of its requests.

    Not thread-safe; one per (scheme, host), fed from one task. `learn` returns the
    template the path maps to now; it may change as later paths add evidence (a third
    username turns `/users/alice` into `/users/{userId}`), so keep samples and re-map them
    with `template` when an up-to-date grouping matters.
    """

    def __init__(
        self, *, max_templates: int = 5000, max_children: int = 200, max_depth: int = 32
    ) -> None:
        if min(max_templates, max_children, max_depth) < 1:
            raise ValueError("max_templates, max_children and max_depth must be >= 1")
        self.max_templates = max_templates
        self.max_children = max_children
        self.max_depth = max_depth
        self.noise = 0
        """Paths `learn` refused because a bound was reached."""
        self._root = _Node()
        self._ends = 0
        # Words found to be values of some parameter (`me`, `primary`): an API that uses
        # one as an id in one place uses it so everywhere.
        self._aliases: set[str] = set()

    def __len__(self) -> int:
        """The number of learned templates."""
        return self._ends

    def learn(self, path: str) -> str:
        """Learn one observed path (query string ignored); return its template, or NOISE."""
        segments = _split(path)
        steps = self._match(segments)
        declared = any(_shape(s).kind == "declared" for s in segments)
        if steps is not None and not declared:
            return _render(steps)
        if steps is None and (len(segments) > self.max_depth or self._ends >= self.max_templates):
            self.noise += 1
            return NOISE
        self._insert(segments)  # a declared path may name a parameter learned unnamed
        steps = self._match(segments)
        return self.template(path) if steps is None else _render(steps)

    def template(self, path: str) -> str:
        """The template of `path` given what was learned so far; learns nothing.

        A path no template covers is templated by shape alone past the deepest match:
        `/orders/17` gives `/orders/{orderId}` even on a fresh templater.
        """
        segments = _split(path)
        steps = self._match(segments)
        if steps is None:
            steps = self._closest(segments)
        return _render(steps)

    def templates(self) -> list[str]:
        """Every learned template, sorted."""
        found: list[str] = []
        stack: list[tuple[_Node, list[_Step]]] = [(self._root, [])]
        while stack:
            node, steps = stack.pop()
            if node.end:
                found.append(_render(steps))
            for key, child in node.literals.items():
                stack.append((child, [*steps, _Step(key)]))
            for suffix, child in node.params.items():
                stack.append((child, [*steps, _Step(None, suffix, child.name)]))
        return sorted(found)

    @staticmethod
    def params(template: str) -> list[str]:
        """The parameter names of a template, in path order."""
        return _PARAM.findall(template)

    def node_count(self) -> int:
        """Trie nodes held, for checking the memory bound."""
        count, stack = 0, [self._root]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.literals.values())
            stack.extend(node.params.values())
        return count

    # Lookup

    def _match(self, segments: list[str]) -> list[_Step] | None:
        steps: list[_Step] = []
        budget = [_SEARCH_STEPS]
        return steps if self._walk(self._root, segments, 0, steps, budget) else None

    def _walk(
        self, node: _Node, segments: list[str], i: int, steps: list[_Step], budget: list[int]
    ) -> bool:
        if i == len(segments):
            return node.end
        budget[0] -= 1
        if budget[0] < 0:
            return False
        segment = segments[i]
        literal = node.literals.get(segment)
        if literal is not None:
            steps.append(_Step(segment))
            if self._walk(literal, segments, i + 1, steps, budget):
                return True
            steps.pop()
        shape = _shape(segment)
        child = node.params.get(shape.suffix)
        if child is None or not _value_of(node, child, segment, shape, self._aliases):
            return False
        steps.append(_Step(None, shape.suffix, child.name or shape.name))
        if self._walk(child, segments, i + 1, steps, budget):
            return True
        steps.pop()
        return False

    def _closest(self, segments: list[str]) -> list[_Step]:
        steps: list[_Step] = []
        node: _Node | None = self._root
        for segment in segments:
            shape = _shape(segment)
            literal = None if node is None else node.literals.get(segment)
            param = None if node is None else node.params.get(shape.suffix)
            if literal is not None:
                steps.append(_Step(segment))
            elif (
                param is not None
                and node is not None
                and _value_of(node, param, segment, shape, self._aliases)
            ):
                steps.append(_Step(None, shape.suffix, param.name or shape.name))
            elif shape.kind is not None:
                steps.append(_Step(None, shape.suffix, shape.name))
            else:
                steps.append(_Step(segment))
            node = literal if literal is not None else param if steps[-1].literal is None else None
        return steps

    # Learning

    def _insert(self, segments: list[str]) -> None:
        node = self._root
        trail: list[tuple[_Node, str | None]] = [(node, None)]
        for segment in segments:
            child = node.literals.get(segment)
            if child is None:
                child = self._child(node, segment, _shape(segment))
            trail.append((child, segment if node.literals.get(segment) is child else None))
            node = child
        if not node.end:
            node.end = True
            self._ends += 1
        for i in range(len(trail) - 1, -1, -1):
            self._settle(trail[i][0], _after_collection(trail, i))

    def _child(self, node: _Node, segment: str, shape: _Shape) -> _Node:
        if shape.kind == "declared":
            child = self._param(node, shape.suffix)
            if child.name is None or (shape.name is not None and shape.name < child.name):
                child.name = shape.name
            return child
        if shape.kind is not None:
            suffix = shape.suffix if len(node.params) < _MAX_SUFFIXES else ""
            return self._param(node, suffix)
        bare = node.params.get("")
        if (
            bare is not None
            and _value_of(node, bare, segment, shape, self._aliases)
            and (node.overflow or bare.open or segment in bare.aliases or segment in self._aliases)
        ):
            return bare
        if len(node.literals) >= self.max_children:
            self._overflow(node)
            if segment.lower() not in _VOCABULARY:
                return node.params[""]
        child = node.literals[segment] = _Node()
        return child

    @staticmethod
    def _param(node: _Node, suffix: str) -> _Node:
        child = node.params.get(suffix)
        if child is None:
            child = node.params[suffix] = _Node()
        return child

    def alias(self, word: str) -> None:
        """Learn from outside evidence (an inventory seeing `/acl/default` take every method
        `/acl/{ruleId}` takes) that `word` is a parameter value, not a resource."""
        if word not in self._aliases and len(self._aliases) < _MAX_ALIASES:
            self._aliases.add(word)
            self._alias_everywhere(word)

    def _alias_everywhere(self, word: str) -> None:
        """Fold `word` into its sibling parameter wherever the trie has both (rare: at most
        `_MAX_ALIASES` walks in a templater's life)."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            bare = node.params.get("")
            if bare is not None and word in node.literals:
                self._merge(bare, node.literals.pop(word), False)
            stack.extend(node.literals.values())
            stack.extend(node.params.values())

    def _overflow(self, node: _Node) -> None:
        node.overflow = True
        bare = self._param(node, "")
        bare.open = True
        for key in [k for k in node.literals if k.lower() not in _VOCABULARY]:
            self._merge(bare, node.literals.pop(key), False)
        self._settle(bare, False)

    def _settle(self, node: _Node, after_collection: bool) -> None:
        """Restore the invariants of one node after its children changed."""
        if not node.literals:
            return
        if len(node.literals) > self.max_children:
            self._overflow(node)
            return
        bare = node.params.get("")
        if bare is not None and bare.name is not None and not bare.open:
            for key in list(node.literals):
                child = node.literals[key]
                if _shape(key).wordiness < 1 and _fits(child, bare):
                    self._merge(bare, node.literals.pop(key), False)
        if bare is not None:
            for key in list(node.literals):
                sibling = node.literals.get(key)
                if sibling is None:
                    continue  # folded by a walk below
                known = key in bare.aliases or key in self._aliases
                if known or _mirrors(sibling, bare):
                    if len(bare.aliases) < _MAX_ALIASES:
                        bare.aliases.add(key)
                    self._merge(bare, node.literals.pop(key), False)
                    if key not in self._aliases and len(self._aliases) < _MAX_ALIASES:
                        self._aliases.add(key)
                        self._alias_everywhere(key)
        if bare is None or not bare.open:
            groups: dict[object, list[int]] = {}
            for key, child in node.literals.items():
                wordiness = _shape(key).wordiness
                # camelCase joins a parameter the other values made, never makes one.
                if wordiness < 2 and not _CAMEL.fullmatch(key):
                    counts = groups.setdefault(_signature(child), [0, 0])
                    counts[wordiness] += 1
            if not any(
                (after_collection and plain >= _FEW) or plain + other >= _MANY
                for plain, other in groups.values()
            ):
                return
            bare = self._param(node, "")
            bare.open = True
        words = [k for k in node.literals if _shape(k).wordiness < 2]
        for key in words:
            self._merge(bare, node.literals.pop(key), False)
        if words:
            self._settle(bare, False)

    def _merge(self, into: _Node, other: _Node, after_collection: bool) -> None:
        """Fold the subtree `other` into `into`, keeping every template either held."""
        if other.end:
            if into.end:
                self._ends -= 1
            into.end = True
        into.overflow = into.overflow or other.overflow
        into.open = into.open or other.open
        into.aliases |= set(list(other.aliases)[: max(0, _MAX_ALIASES - len(into.aliases))])
        if other.name is not None and (into.name is None or other.name < into.name):
            into.name = other.name
        for key, child in other.literals.items():
            mine = into.literals.get(key)
            if mine is None:
                into.literals[key] = child
            else:
                self._merge(mine, child, _collection(key))
        for suffix, child in other.params.items():
            mine = into.params.get(suffix)
            if mine is None:
                into.params[suffix] = child
            else:
                self._merge(mine, child, False)
        self._settle(into, after_collection)


def _value_of(node: _Node, param: _Node, segment: str, shape: _Shape, aliases: set[str]) -> bool:
    """Whether `segment` may be a value of the parameter child `param` of `node`."""
    if shape.kind is not None or segment in param.aliases or segment in aliases:
        return True
    if node.overflow:
        return segment.lower() not in _VOCABULARY
    if param.open:
        return shape.wordiness < 2
    # A declared parameter (a Postman variable) takes plain values, not a sibling action
    # such as `return_order` next to `{order_id}`.
    return param.name is not None and shape.wordiness < 1


def _fits(node: _Node, into: _Node) -> bool:
    """Whether every template below `node` also exists below `into`."""
    if node.end and not into.end:
        return False
    for key, child in node.literals.items():
        mine = into.literals.get(key)
        if mine is None or not _fits(child, mine):
            return False
    for suffix, child in node.params.items():
        mine = into.params.get(suffix)
        if mine is None or not _fits(child, mine):
            return False
    return True


def _mirrors(literal: _Node, param: _Node) -> bool:
    """Whether a literal sibling of a parameter is one of its values (`me` in Gmail's
    `/users/me/labels` beside `/users/{userId}/labels`): below it are several resources,
    most of which the parameter has too. A bare `/users/me` next to `/users/{userId}`
    stays apart: it may be a resource of its own."""
    below = set(literal.literals) | {"{" + suffix for suffix in literal.params}
    if len(below) < 2:
        return False
    shared = below & (set(param.literals) | {"{" + suffix for suffix in param.params})
    return len(shared) >= 2 and len(shared) * 2 >= len(below)


def _signature(node: _Node) -> object:
    """What follows a node: equal for siblings that are values of one parameter."""
    if len(node.literals) > 16:
        return node
    return (node.end, frozenset(node.literals), frozenset(node.params))


def _after_collection(trail: list[tuple[_Node, str | None]], i: int) -> bool:
    """Whether trail[i] was reached by a collection-like literal (a version skipped)."""
    segment = trail[i][1]
    if segment is not None and _VERSION.fullmatch(segment) and i > 1:
        segment = trail[i - 1][1]
    return segment is not None and _collection(segment)
