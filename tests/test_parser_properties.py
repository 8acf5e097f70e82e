"""Property-based tests of the client frame parser: whatever arrives, a frame or a typed error."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import protocol

LIMIT = 4096

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(protocol.CLIENT_FRAME_TYPES)) | st.text(max_size=20)},
    optional={
        "content": json_values,
        "role": st.sampled_from(["user", "assistant", "system", "tool", "robot"]) | json_values,
        "call_id": json_values,
        "decision": st.sampled_from(["approve", "edit", "reject", "maybe"]) | json_values,
        "modified_arguments": json_values,
        "agent_type": json_values,
        "result": json_values,
        "data": json_values,
        "interrupt": json_values,
    },
)


def parse(raw: str | bytes) -> protocol.ClientFrame | protocol.FrameRejected:
    try:
        return protocol.parse_client_frame(raw, LIMIT)
    except protocol.FrameRejected as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=6000))
def test_any_bytes_give_a_frame_or_a_typed_error(raw: bytes) -> None:
    outcome = parse(raw)
    if isinstance(outcome, protocol.FrameRejected):
        assert isinstance(outcome.code, protocol.ErrorCode) and outcome.message
    else:
        assert outcome.type in protocol.CLIENT_FRAME_TYPES


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_gives_a_frame_or_a_typed_error(value: object) -> None:
    outcome = parse(orjson.dumps(value))
    if isinstance(outcome, protocol.FrameRejected):
        assert outcome.code in (
            protocol.ErrorCode.INVALID_FRAME,
            protocol.ErrorCode.UNKNOWN_FRAME_TYPE,
            protocol.ErrorCode.FRAME_TOO_LARGE,
        )


@settings(max_examples=500, deadline=None)
@given(frame_like)
def test_frame_shaped_input_validates_exactly_like_the_models(data: dict[str, object]) -> None:
    raw = orjson.dumps(data)
    outcome = parse(raw)
    if len(raw) > LIMIT:
        assert isinstance(outcome, protocol.FrameRejected)
        assert outcome.code is protocol.ErrorCode.FRAME_TOO_LARGE
    elif data["type"] not in protocol.CLIENT_FRAME_TYPES:
        assert isinstance(outcome, protocol.FrameRejected)
        assert outcome.code is protocol.ErrorCode.UNKNOWN_FRAME_TYPE
    elif isinstance(outcome, protocol.FrameRejected):
        assert outcome.code is protocol.ErrorCode.INVALID_FRAME
        assert outcome.message.startswith("invalid frame: ")
    else:
        # What was accepted survives a round trip through the schema's own serialisation.
        again = protocol.parse_client_frame(outcome.model_dump_json(), LIMIT * 4)
        assert again == outcome


def test_numbers_beyond_a_double_are_refused_and_big_integers_ignored_where_unused() -> None:
    infinite = parse('{"type": "ping", "data": 1e999}')
    assert isinstance(infinite, protocol.FrameRejected)
    assert infinite.code is protocol.ErrorCode.INVALID_JSON
    assert parse('{"type": "ping", "n": 123456789012345678901234}') == protocol.Ping()
