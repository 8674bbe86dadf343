"""Schema inference: types, required keys, formats, enums, merging, bounds, state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wardgate.discovery.schema import (
    Field,
    SchemaSketch,
    SketchLimits,
    infer_scalar,
    string_format,
)


def _sketch(*values: Any, limits: SketchLimits | None = None) -> SchemaSketch:
    sketch = SchemaSketch(limits)
    for value in values:
        sketch.add(value)
    return sketch


def _schema(*values: Any) -> dict[str, Any]:
    return _sketch(*values).to_json_schema()


def test_empty_sketch_is_anything() -> None:
    assert SchemaSketch().to_json_schema() == {}
    assert SchemaSketch().fields() == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2], "integer"),  # integers stay integers
        ([1, 2.5], "number"),  # an integer sample folds into number
        ([1.0], "number"),  # 1.0 in JSON is a number
        ([True, False], "boolean"),  # bool is not integer
        (["a", None], ["string", "null"]),  # null listed among the types
        ([None], "null"),
        ([{"a": 1}, [1], "x", 2, None], ["object", "array", "string", "integer", "null"]),
    ],
)
def test_types(values: list[Any], expected: Any) -> None:
    assert _schema(*values)["type"] == expected


def test_required_is_keys_present_in_every_object() -> None:
    schema = _schema({"id": 1, "name": "a"}, {"id": 2}, {"id": 3, "name": None})
    assert schema["required"] == ["id"]
    assert list(schema["properties"]) == ["id", "name"]
    assert schema["properties"]["name"]["type"] == ["string", "null"]


def test_required_ignores_non_object_samples() -> None:
    schema = _schema({"id": 1}, None, {"id": 2})
    assert schema["type"] == ["object", "null"]
    assert schema["required"] == ["id"]


def test_no_required_when_no_key_always_present() -> None:
    assert "required" not in _schema({"a": 1}, {"b": 2})


def test_arrays_merge_items_and_track_max_items() -> None:
    schema = _schema({"items": [{"id": 1}, {"id": 2, "x": "y"}]}, {"items": []})
    items = schema["properties"]["items"]
    assert items["type"] == "array"
    assert items["x-max-items-seen"] == 2
    assert items["items"]["required"] == ["id"]


def test_empty_array_has_no_items() -> None:
    assert _schema([]) == {"type": "array", "x-max-items-seen": 0}


def test_string_max_length() -> None:
    assert _schema("ab", "abcd")["x-max-length-seen"] == 4


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("2024-05-01T10:20:30Z", "date-time"),
        ("2024-05-01T10:20:30.123+02:00", "date-time"),
        ("2024-13-01T10:20:30Z", None),  # month 13
        ("2024-05-01 10:20:30Z", None),  # RFC 3339 in JSON Schema wants the T
        ("2024-05-01", "date"),
        ("2024-02-30", None),  # no such day
        ("123e4567-e89b-12d3-a456-426614174000", "uuid"),
        ("user.name+tag@example.co.uk", "email"),
        ("not@an", None),
        ("https://example.com/a?b=c", "uri"),
        ("s3://bucket/key", "uri"),
        ("example.com/path", None),
        ("192.168.0.1", "ipv4"),
        ("300.1.1.1", None),
        ("2001:db8::1", "ipv6"),
        ("fe80::1", "ipv6"),
        ("12:30", None),  # a time, not an address
        ("hello", None),
        ("", None),
        ("a@b.c" + "d" * 5000, None),  # too long to be checked
    ],
)
def test_string_format(text: str, fmt: str | None) -> None:
    assert string_format(text) == fmt


def test_format_only_when_every_sample_matches() -> None:
    assert _schema("a@example.com", "b@example.org")["format"] == "email"
    assert "format" not in _schema("a@example.com", "nobody")
    assert "format" not in _schema("a@example.com", "2024-01-01")
    assert _schema("a@example.com", None)["format"] == "email"


def test_enum_when_stable() -> None:
    schema = _schema(*(["asc", "desc"] * 3))
    assert schema["enum"] == ["asc", "desc"]


def test_enum_lists_null_when_nullable() -> None:
    schema = _schema(*(["on", "off"] * 3), None)
    assert schema["enum"] == ["off", "on", None]


@pytest.mark.parametrize(
    "values",
    [
        ["a", "a", "b", "b"],  # too few samples
        ["a", "a", "b", "b", "c"],  # "c" seen once
        [str(i) for i in range(9)] * 3,  # too many distinct values
        ["x" * 65] * 6,  # too long to be an enum value
        [f"{i}@example.com" for i in range(3)] * 3,  # formatted strings are not enums
        ["a", "b", "a", "b", "a", 1],  # an enum of strings would reject the integer
    ],
)
def test_no_enum(values: list[Any]) -> None:
    assert "enum" not in _schema(*values)


def test_enum_tracking_stops_past_the_cap() -> None:
    # Once past the cap, values that repeat later do not bring the enum back.
    sketch = _sketch(*[str(i) for i in range(20)])
    sketch.add("a")
    for _ in range(10):
        sketch.add("a")
    assert "enum" not in sketch.to_json_schema()


def test_enum_limits_are_tunable() -> None:
    limits = SketchLimits(enum_min_samples=2, enum_min_count=1)
    assert _sketch("a", "b", limits=limits).to_json_schema()["enum"] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", {"type": "integer"}),
        ("-7", {"type": "integer"}),
        ("007", {"type": "string"}),  # leading zeros: an identifier
        ("3.14", {"type": "number"}),
        ("1e5", {"type": "number"}),
        ("nan", {"type": "string"}),
        ("true", {"type": "boolean"}),
        ("False", {"type": "boolean"}),
        ("123e4567-e89b-12d3-a456-426614174000", {"type": "string", "format": "uuid"}),
        ("2024-05-01", {"type": "string", "format": "date"}),
        ("2024-05-01T00:00:00Z", {"type": "string", "format": "date-time"}),
        ("a@example.com", {"type": "string", "format": "email"}),
        ("hello", {"type": "string"}),
        ("", {"type": "string"}),
        ("9" * 5000, {"type": "string"}),  # past int()'s digit limit: still no error
    ],
)
def test_infer_scalar(text: str, expected: dict[str, Any]) -> None:
    assert infer_scalar(text) == expected


def test_add_text_types_parameters() -> None:
    sketch = SchemaSketch()
    for text in ("1", "2", "30"):
        sketch.add_text(text)
    assert sketch.to_json_schema() == {"type": "integer"}
    sketch.add_text("x")
    assert sketch.to_json_schema()["type"] == ["string", "integer"]


def test_add_text_enum() -> None:
    sketch = SchemaSketch()
    for text in ["price", "name"] * 3:
        sketch.add_text(text)
    assert sketch.to_json_schema()["enum"] == ["name", "price"]


def test_rejects_non_json_values() -> None:
    with pytest.raises(TypeError, match="not a JSON value: set"):
        SchemaSketch().add({1, 2})
    with pytest.raises(TypeError, match="not a JSON object key: int"):
        SchemaSketch().add({1: 2})


def test_fields() -> None:
    sketch = _sketch(
        {
            "user": {"email": "a@example.com", "age": 3},
            "items": [{"id": 1}],
            "odd key": None,
            "n": 1,
        },
        {"n": 1.5},
    )
    assert sketch.fields() == [
        Field("$", "object"),
        Field("$.user", "object"),
        Field("$.user.email", "string"),
        Field("$.user.age", "integer"),
        Field("$.items", "array"),
        Field("$.items[*]", "object"),
        Field("$.items[*].id", "integer"),
        Field("$['odd key']", "null"),
        Field("$.n", "number"),
    ]


def test_fields_of_a_root_array() -> None:
    assert [f.path for f in _sketch([{"id": 1}]).fields()] == ["$", "$[*]", "$[*].id"]


SAMPLES_A = [
    {"id": 1, "status": "open", "tags": ["a"], "owner": {"email": "a@example.com"}},
    {"id": 2, "status": "closed", "tags": [], "owner": None},
    {"id": 3, "status": "open", "note": "x"},
]
SAMPLES_B = [
    {"id": 4.5, "status": "closed", "tags": ["b", "c"], "owner": {"email": "b@example.com"}},
    {"id": 5, "status": "open", "note": None},
    "not an object",
]


def test_merge_equals_one_sketch_over_both() -> None:
    left, right = _sketch(*SAMPLES_A), _sketch(*SAMPLES_B)
    left.merge(right)
    whole = _sketch(*SAMPLES_A, *SAMPLES_B)
    assert left.to_json_schema() == whole.to_json_schema()
    assert left.fields() == whole.fields()
    assert left.count == whole.count == 6
    assert left.to_json_schema()["properties"]["status"]["enum"] == ["closed", "open"]


def test_merge_required_becomes_optional() -> None:
    left, right = _sketch({"a": 1, "b": 2}), _sketch({"a": 3})
    left.merge(right)
    assert left.to_json_schema()["required"] == ["a"]


def test_merge_leaves_other_unchanged_and_merging_self_doubles() -> None:
    left, right = _sketch({"a": "x"}), _sketch({"b": 1})
    before = right.to_state()
    left.merge(right)
    assert right.to_state() == before
    left.merge(left)
    assert left.count == 4


def test_merge_format_conflict_and_enum_overflow() -> None:
    left = _sketch(*["a@example.com"] * 3)
    left.merge(_sketch("2024-01-01"))
    assert "format" not in left.to_json_schema()
    left = _sketch(*["a", "b"] * 3)
    left.merge(_sketch(*[str(i) for i in range(10)]))
    assert "enum" not in left.to_json_schema()


def test_state_round_trip_through_json() -> None:
    sketch = _sketch(*SAMPLES_A, *SAMPLES_B, *(["x", "y"] * 4))
    state = json.loads(json.dumps(sketch.to_state()))
    again = SchemaSketch.from_state(state)
    assert again.to_json_schema() == sketch.to_json_schema()
    assert again.fields() == sketch.fields()
    assert again.to_state() == sketch.to_state()


def test_state_is_compact() -> None:
    assert SchemaSketch().to_state() == {"v": 1, "root": {"n": 0, "t": {}}}
    assert _sketch(1).to_state() == {"v": 1, "root": {"n": 1, "t": {"integer": 1}}}


def test_state_merges_across_processes() -> None:
    left = SchemaSketch.from_state(_sketch(*SAMPLES_A).to_state())
    left.merge(SchemaSketch.from_state(_sketch(*SAMPLES_B).to_state()))
    assert left.to_json_schema() == _schema(*SAMPLES_A, *SAMPLES_B)


@pytest.mark.parametrize(
    "state",
    [
        None,  # not a state
        {"v": 2, "root": {}},  # unknown version
        {"v": 1, "root": []},  # node not an object
        {"v": 1, "root": {"n": "1"}},  # count not an integer
        {"v": 1, "root": {"n": 1, "t": {"float": 1}}},  # unknown type
        {"v": 1, "root": {"n": 1, "p": {"a": {}}}},  # property not [count, node]
        {"v": 1, "root": {"n": 1, "e": {"a": True}}},  # enum count not an integer
        {"v": 1, "root": {"n": 1, "f": 3}},  # format not a string
    ],
)
def test_from_state_rejects_corrupt_state(state: Any) -> None:
    with pytest.raises(ValueError, match="schema sketch state"):
        SchemaSketch.from_state(state)


def test_from_state_applies_current_limits() -> None:
    state = _sketch({f"k{i}": i for i in range(50)}).to_state()
    sketch = SchemaSketch.from_state(state, SketchLimits(max_properties=10))
    schema = sketch.to_json_schema()
    assert len(schema["properties"]) == 10
    assert schema["additionalProperties"] == {"type": "integer"}


# Adversarial inputs: everything stays bounded and nothing recurses past max_depth.


def test_many_keys_are_capped_into_additional_properties() -> None:
    sketch = _sketch({f"k{i}": {"v": i} for i in range(100_000)})
    schema = sketch.to_json_schema()
    assert len(schema["properties"]) == 200
    assert schema["additionalProperties"]["properties"] == {"v": {"type": "integer"}}
    assert "k0" in schema["required"]
    assert sketch.node_count < 500
    assert len(json.dumps(sketch.to_state())) < 50_000


def test_long_keys_go_to_additional_properties() -> None:
    schema = _schema({"k" * 1000: 1, "ok": 2})
    assert list(schema["properties"]) == ["ok"]
    assert schema["additionalProperties"] == {"type": "integer"}


def test_deep_nesting_is_cut_at_max_depth() -> None:
    value: Any = []
    for _ in range(10_000):
        value = [value]
    sketch = _sketch(value, value)
    assert sketch.node_count == 17
    state = json.dumps(sketch.to_state())
    assert SchemaSketch.from_state(json.loads(state)).to_json_schema() == (sketch.to_json_schema())
    assert len(sketch.fields()) == 17


def test_deep_objects_are_cut_at_max_depth() -> None:
    value: Any = {}
    for _ in range(10_000):
        value = {"a": value}
    limits = SketchLimits(max_depth=4)
    assert [f.path for f in _sketch(value, limits=limits).fields()][-1] == "$.a.a.a.a"


def test_node_budget_bounds_wide_and_deep_input() -> None:
    limits = SketchLimits(max_nodes=100)
    value = {f"k{i}": {f"j{j}": [j] for j in range(50)} for i in range(50)}
    sketch = _sketch(value, limits=limits)
    assert sketch.node_count == 100
    schema = sketch.to_json_schema()
    assert schema["type"] == "object"
    # Merging and reloading respect the budget too.
    sketch.merge(_sketch({f"z{i}": i for i in range(500)}))
    assert sketch.node_count == 100
    assert SchemaSketch.from_state(sketch.to_state(), limits).node_count <= 100


def test_hostile_state_deeper_than_limits_is_cut() -> None:
    node: dict[str, Any] = {"n": 1, "t": {"array": 1}}
    for _ in range(5_000):
        node = {"n": 1, "t": {"array": 1}, "a": node}
    sketch = SchemaSketch.from_state({"v": 1, "root": node})
    assert sketch.node_count == 17


def test_long_arrays_are_sampled() -> None:
    sketch = _sketch(list(range(100_000)), limits=SketchLimits(max_array_sample=10))
    schema = sketch.to_json_schema()
    assert schema["x-max-items-seen"] == 100_000
    assert schema["items"] == {"type": "integer"}
