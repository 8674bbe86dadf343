"""Path templating: value shapes, statistics, declared parameters, names and bounds."""

from __future__ import annotations

import random
import string

import pytest

from wardgate.discovery.templating import NOISE, PathTemplater, segment_kind

UUID = "3f2b8c1e-9a4d-4e6f-8b2a-1c5d7e9f0a3b"


def _learned(*paths: str, **limits: int) -> PathTemplater:
    templater = PathTemplater(**limits)
    for path in paths:
        templater.learn(path)
    return templater


@pytest.mark.parametrize(
    ("segment", "kind"),
    [
        ("42", "int"),  # numeric id
        ("0", "int"),  # a single digit is still a number
        (UUID, "uuid"),  # canonical UUID
        (UUID.upper(), "uuid"),  # upper-case UUID
        ("507f1f77bcf86cd799439011", "hex"),  # Mongo ObjectId
        ("17c2f8a9b3d4e5f6", "hex"),  # Gmail message id
        ("deadbeef", None),  # hex letters only: could be a word
        ("2024-01-05", "date"),  # ISO date
        ("2024-01", "date"),  # year and month
        ("2024-01-05T10:00:00Z", "date"),  # ISO timestamp
        ("alice@example.com", "email"),  # e-mail
        ("c2VjcmV0IHN0dWZmIGhlcmU=", "token"),  # padded base64
        ("6wY3v2XkQpRkG8o4sP5eTJ", "token"),  # base64url, mixed case and digits
        ("a1b2c3d4z9", "token"),  # letters and digits alternating
        ("ORD-12345", "token"),  # prefix and a long number
        ("aBcDeFgHiJkLmNoPqRsT", "token"),  # random case, no digits
        ("hello world", "text"),  # whitespace never appears in a static path
        ("caf\u00e9", "text"),  # non-ASCII
        ("login", None),  # word
        ("calendarList", None),  # camelCase word
        ("login-with-token", None),  # kebab words
        ("oauth2_authorization_code", None),  # snake words with a digit
        ("sha256", None),  # short word with digits
        ("name1", None),  # short word with one digit: left to statistics
        ("v1", None),  # version
        ("v2.7", None),  # dotted version
        ("v1beta1", None),  # pre-release version
        ("jwks.json", None),  # file name
        ("_debug", None),  # underscore word
        ("", None),  # nothing
    ],
)
def test_segment_kind(segment: str, kind: str | None) -> None:
    assert segment_kind(segment) == kind


@pytest.mark.parametrize(
    ("path", "template"),
    [
        # a value shape is a parameter on first sight
        ("/users/42", "/users/{userId}"),
        (
            f"/identity/api/v2/vehicle/{UUID}/location",
            "/identity/api/v2/vehicle/{vehicleId}/location",
        ),
        ("/posts/507f1f77bcf86cd799439011", "/posts/{postId}"),
        ("/reports/2024-01-05", "/reports/{reportId}"),
        ("/accounts/alice@example.com/keys", "/accounts/{accountId}/keys"),
        ("/community/posts/6wY3v2XkQpRkG8o4sP5eTJ", "/community/posts/{postId}"),
        # percent-encoded segments are judged decoded
        ("/books/The%20Hobbit", "/books/{bookId}"),
        ("/accounts/alice%40example.com", "/accounts/{accountId}"),
        # an action or known extension stays after the parameter
        ("/v1/files/a1b2c3d4e5:download", "/v1/files/{fileId}:download"),
        ("/v1/files/99.json", "/v1/files/{fileId}.json"),
        # words, versions and file names stay
        ("/.well-known/jwks.json", "/.well-known/jwks.json"),
        (
            "/identity/api/auth/v4.0/user/login-with-token",
            "/identity/api/auth/v4.0/user/login-with-token",
        ),
        ("/users/v1/login", "/users/v1/login"),
        # names: plural to singular, words joined, version skipped, after a parameter `id`
        ("/categories/7", "/categories/{categoryId}"),
        ("/addresses/7", "/addresses/{addressId}"),
        ("/service_requests/7", "/service_requests/{serviceRequestId}"),
        ("/users/v1/17", "/users/v1/{userId}"),
        ("/v1/17", "/v1/{id}"),
        ("/17", "/{id}"),
        ("/users/17/18", "/users/{userId}/{id}"),
        ("/a/17/18/19", "/a/{aId}/{id}/{id2}"),
        # slashes: root, trailing, doubled, query string
        ("/", "/"),
        ("", "/"),
        ("/users/42/", "/users/{userId}"),
        ("//users//42", "/users/{userId}"),
        ("/users/42?expand=1#top", "/users/{userId}"),
    ],
)
def test_one_path(path: str, template: str) -> None:
    templater = PathTemplater()
    assert templater.template(path) == template  # by shape alone, before learning
    assert templater.learn(path) == template
    assert templater.templates() == [template]


def test_static_siblings_stay_beside_parameters() -> None:
    templater = _learned(
        "/users/1", "/users/2", "/users/3", "/users/me", "/users/me/settings", "/users/all"
    )
    assert templater.templates() == [
        "/users/all",
        "/users/me",
        "/users/me/settings",
        "/users/{userId}",
    ]
    assert templater.template("/users/me") == "/users/me"
    assert templater.template("/users/77") == "/users/{userId}"
    assert templater.template("/users/bob") == "/users/bob"  # ints seen: a word is no id


VAMPI = [
    "/",
    "/createdb",
    "/me",
    "/users/v1",
    "/users/v1/_debug",
    "/users/v1/register",
    "/users/v1/login",
    "/users/v1/alice",
    "/users/v1/bob",
    "/users/v1/carol",
    "/users/v1/dave/email",
    "/users/v1/erin/email",
    "/users/v1/frank/password",
    "/books/v1",
    "/books/v1/dune",
    "/books/v1/emma",
    "/books/v1/ulysses",
]
VAMPI_TEMPLATES = [
    "/",
    "/books/v1",
    "/books/v1/{bookId}",
    "/createdb",
    "/me",
    "/users/v1",
    "/users/v1/_debug",
    "/users/v1/login",
    "/users/v1/register",
    "/users/v1/{userId}",
    "/users/v1/{userId}/email",
    "/users/v1/{userId}/password",
]


def test_statistical_words_become_a_parameter() -> None:
    templater = _learned(*VAMPI)
    assert templater.templates() == VAMPI_TEMPLATES
    assert templater.template("/users/v1/zoe") == "/users/v1/{userId}"
    assert templater.template("/users/v1/zoe/password") == "/users/v1/{userId}/password"
    assert templater.learn("/users/v1/zoe/email") == "/users/v1/{userId}/email"


@pytest.mark.parametrize(
    ("paths", "template"),
    [
        # two usernames are not evidence yet
        (["/users/v1/alice", "/users/v1/bob"], None),
        # three under a collection are
        (["/users/v1/alice", "/users/v1/bob", "/users/v1/carol"], "/users/v1/{userId}"),
        # three under a non-collection word are not
        (["/misc/alice", "/misc/bob", "/misc/carol"], None),
        # five anywhere, with the same continuation, are
        ([f"/misc/{w}/view" for w in ("ant", "bee", "cat", "dog", "eel")], "/misc/{miscId}/view"),
        # five with different continuations are not (sub-resources of one parent)
        (["/misc/ant/x", "/misc/bee/y", "/misc/cat/z", "/misc/dog/w", "/misc/eel/v"], None),
        # kebab slugs need five
        ([f"/shop/{w}" for w in ("red-shoe", "blue-hat", "old-coat")], None),
        (
            [f"/shop/{w}" for w in ("red-shoe", "blue-hat", "old-coat", "tan-cap", "new-boot")],
            "/shop/{shopId}",
        ),
        # dictionary words, camelCase and versions never count
        ([f"/users/{w}" for w in ("me", "search", "settings", "login", "profile")], None),
        ([f"/x/{w}" for w in ("calendarList", "freeBusy", "quickAdd", "batchGet", "sendAs")], None),
        ([f"/api/{w}/ping" for w in ("v1", "v2", "v3", "v4", "v5", "v6")], None),
    ],
)
def test_statistics(paths: list[str], template: str | None) -> None:
    templater = _learned(*paths)
    if template is None:
        assert templater.templates() == sorted(f"/{p.strip('/')}" for p in paths)
    else:
        assert templater.templates() == [template]


@pytest.mark.parametrize(
    "declared",
    [
        "/users/v1/{username}",  # OpenAPI
        "/users/v1/{{username}}",  # Postman variable
        "/users/v1/:username",  # Postman path variable
    ],
)
def test_declared_parameter_takes_fitting_paths(declared: str) -> None:
    templater = _learned(declared, "/users/v1/login")
    assert templater.learn("/users/v1/name1") == "/users/v1/{username}"
    assert templater.learn("/users/v1/login") == "/users/v1/login"
    assert templater.learn("/users/v1/42") == "/users/v1/{username}"
    assert templater.templates() == ["/users/v1/login", "/users/v1/{username}"]
    assert templater.params(templater.templates()[1]) == ["username"]


def test_declared_parameter_only_takes_what_fits() -> None:
    templater = _learned("/vehicle/{vehicleId}/location")
    assert templater.learn("/vehicle/vehicles") == "/vehicle/vehicles"
    assert templater.learn("/vehicle/abc/location") == "/vehicle/{vehicleId}/location"
    assert templater.learn(f"/vehicle/{UUID}/location") == "/vehicle/{vehicleId}/location"
    assert templater.templates() == ["/vehicle/vehicles", "/vehicle/{vehicleId}/location"]


def test_declared_parameter_absorbs_earlier_concrete_paths() -> None:
    templater = _learned("/users/v1/name1", "/users/v1/name1/email", "/users/v1/{username}")
    # name1 has an /email the parameter lacks: not yet a value of it
    assert templater.templates() == [
        "/users/v1/name1",
        "/users/v1/name1/email",
        "/users/v1/{username}",
    ]
    templater.learn("/users/v1/{username}/email")
    assert templater.templates() == ["/users/v1/{username}", "/users/v1/{username}/email"]


def test_declared_names_nest_and_stay_unique() -> None:
    templater = _learned(
        "/users/{userId}/messages/{id}",
        "/calendars/{calendarId}/events/{eventId}/instances",
        "/v1/files/{id}:download",
        "/a/{id}/b/{id}",
    )
    assert templater.template("/users/alice/messages/17c2f8a9b3d4e5f6") == (
        "/users/{userId}/messages/{id}"
    )
    assert templater.template("/calendars/a@b.com/events/x1y2z3w4v5/instances") == (
        "/calendars/{calendarId}/events/{eventId}/instances"
    )
    assert templater.template("/v1/files/17:download") == "/v1/files/{id}:download"
    assert templater.template("/a/1/b/2") == "/a/{id}/b/{id2}"
    assert templater.params("/calendars/{calendarId}/events/{eventId}/instances") == [
        "calendarId",
        "eventId",
    ]


def test_gmail_style_user_me() -> None:
    templater = _learned(
        "/gmail/v1/users/me/messages/17c2f8a9b3d4e5f6",
        "/gmail/v1/users/me/messages/18aa0b1c2d3e4f50",
        "/gmail/v1/users/me/messages/send",
        "/gmail/v1/users/me/labels/Label_12345",
        "/gmail/v1/users/me/profile",
        "/gmail/v1/users/me/stop",
        "/gmail/v1/users/me/watch",
    )
    assert templater.templates() == [
        "/gmail/v1/users/me/labels/{labelId}",
        "/gmail/v1/users/me/messages/send",
        "/gmail/v1/users/me/messages/{messageId}",
        "/gmail/v1/users/me/profile",
        "/gmail/v1/users/me/stop",
        "/gmail/v1/users/me/watch",
    ]


def test_template_learns_nothing() -> None:
    templater = PathTemplater()
    assert templater.template("/orders/17/items") == "/orders/{orderId}/items"
    assert templater.templates() == []
    assert len(templater) == 0


def test_learn_returns_the_current_template() -> None:
    templater = PathTemplater()
    assert templater.learn("/users/v1/alice") == "/users/v1/alice"
    assert templater.learn("/users/v1/bob") == "/users/v1/bob"
    assert templater.learn("/users/v1/carol") == "/users/v1/{userId}"
    assert templater.template("/users/v1/alice") == "/users/v1/{userId}"


CORPUS = [
    *VAMPI,
    "/api/orders/1",
    "/api/orders/2",
    f"/api/orders/{UUID}/items/5",
    "/api/orders/all",
    "/api/orders/recent",
    "/calendar/v3/users/me/calendarList",
    "/calendar/v3/calendars/primary/events",
    "/calendar/v3/calendars/a@b.com/events/x1y2z3w4v5/instances",
    "/calendar/v3/calendars/c@d.com/events/q9r8s7t6u5/instances",
    *[f"/shop/p/{w}" for w in ("red-shoe", "blue-hat", "old-coat", "tan-cap", "new-boot")],
    "/users/v1/{username}/password",
]


def test_deterministic_in_any_order() -> None:
    expected = _learned(*CORPUS).templates()
    for seed in range(25):
        paths = CORPUS[:]
        random.Random(seed).shuffle(paths)
        assert _learned(*paths).templates() == expected, seed


def test_same_sequence_same_answers() -> None:
    first, second = PathTemplater(), PathTemplater()
    assert [first.learn(p) for p in CORPUS] == [second.learn(p) for p in CORPUS]


def _random_paths(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"

    def segment() -> str:
        word = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 10)))
        return rnd.choice([word, "_" + word.lower(), word.lower() + "Xy", str(rnd.randint(0, 9))])

    return ["/" + "/".join(segment() for _ in range(rnd.randint(1, 6))) for _ in range(count)]


def test_flood_of_random_paths_stays_bounded() -> None:
    templater = PathTemplater(max_templates=2000, max_children=50, max_depth=8)
    for path in _random_paths(100_000, seed=7):
        assert templater.learn(path)
    assert len(templater) <= 2000
    assert len(templater.templates()) == len(templater)
    assert templater.node_count() <= 2000 * 8 + 1


def test_flood_does_not_merge_the_real_endpoints_away() -> None:
    templater = _learned("/users/v1/login", "/users/v1/register", "/health")
    for path in _random_paths(20_000, seed=3):
        templater.learn("/users/v1" + path)
    assert templater.template("/users/v1/login") == "/users/v1/login"
    assert templater.template("/health") == "/health"
    assert templater.template("/users/v1/zzqx") == "/users/v1/{userId}"


def test_template_cap_sends_new_paths_to_noise() -> None:
    templater = PathTemplater(max_templates=3)
    assert [templater.learn(p) for p in ("/a", "/b", "/c")] == ["/a", "/b", "/c"]
    assert templater.learn("/d") == NOISE
    assert templater.learn("/a") == "/a"  # known paths still map
    assert templater.learn("/e/17") == NOISE
    assert templater.noise == 2
    assert templater.templates() == ["/a", "/b", "/c"]
    assert templater.template("/d") == "/d"  # template stays best effort


def test_depth_cap_sends_deep_paths_to_noise() -> None:
    templater = PathTemplater(max_depth=3)
    assert templater.learn("/a/b/c") == "/a/b/c"
    assert templater.learn("/a/b/c/d") == NOISE
    assert templater.noise == 1


def test_child_cap_collapses_literals_but_keeps_dictionary_words() -> None:
    templater = _learned("/x/login", *[f"/x/_w{i}" for i in range(12)], max_children=10)
    assert templater.templates() == ["/x/login", "/x/{xId}"]
    assert templater.learn("/x/_another") == "/x/{xId}"
    assert templater.learn("/x/search") == "/x/search"


@pytest.mark.parametrize(
    "limits",
    [{"max_templates": 0}, {"max_children": 0}, {"max_depth": 0}],
)
def test_limits_must_be_positive(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        PathTemplater(**limits)
