"""Comparison that survives what varies by design: chunking, order, counts, generated text.

Pure: recorded and replayed documents in, differences out (replayer/compare/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from retape.replayer.compare.body import compare_contents, read_content
from retape.replayer.compare.diff_json import Difference, diff_json
from retape.replayer.compare.ignore import IgnoreRules, learn, rule_for, unlearnable
from retape.replayer.compare.keys import MessageRules
from retape.replayer.compare.messages import compare_messages

from retape.cassette.model import Message
from retape.common.errors import RetapeError

NONE = IgnoreRules()


def texts(found: list[Difference]) -> list[str]:
    return [d.text for d in found]


def server(value: dict[str, Any]) -> Message:
    return Message("server", 0.0, "json", value)


def client(value: dict[str, Any]) -> Message:
    return Message("client", 0.0, "json", value)


def deltas(*words: str, kind: str = "response.text.delta") -> list[Message]:
    return [server({"type": kind, "event_id": f"e{i}", "delta": w}) for i, w in enumerate(words)]


def sse(*pieces: str, finish: str = "stop", usage: bool = True) -> bytes:
    def chunk(delta: dict[str, str], reason: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return "data: " + json.dumps({"id": "c1", "choices": [choice], **extra}) + "\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": p}) for p in pieces]
    events.append(chunk({}, finish, **({"usage": {"total_tokens": 5}} if usage else {})))
    return ("".join(events) + "data: [DONE]\n\n").encode()


def compare_sse(left: bytes, right: bytes, rules: IgnoreRules = NONE) -> list[Difference]:
    return compare_contents(read_content("sse", left), read_content("sse", right), rules=rules)


# --- streamed deltas are assembled --------------------------------------------------------------


def test_sse_chunks_compared_by_the_assembled_text_not_their_count() -> None:
    assert compare_sse(sse("You", " said", " hi"), sse("You said", " hi")) == []
    changed = compare_sse(sse("You", " said", " hi"), sse("You", " typed", " hi"))
    assert texts(changed) == [
        "event 1 (message x5, assembled) $.choices[0].delta.content: "
        '"You said hi" -> "You typed hi"'
    ]


def test_sse_assembly_keeps_the_last_finish_reason_and_usage() -> None:
    assert texts(compare_sse(sse("a", finish="stop"), sse("a", finish="length"))) == [
        'event 1 (message x3, assembled) $.choices[0].finish_reason: "stop" -> "length"'
    ]
    lost = compare_sse(sse("a"), sse("a", usage=False))
    assert [d.path for d in lost] == ["$.usage"]


def test_realtime_deltas_of_a_turn_are_joined() -> None:
    recorded = [server({"type": "response.created"}), *deltas("You", " said", " it")]
    recorded.append(server({"type": "response.done"}))
    same = [server({"type": "response.created"}), *deltas("You said it")]
    same.append(server({"type": "response.done"}))
    rules = IgnoreRules.parse(["$.event_id"])
    assert compare_messages(recorded, same, rules=rules) == []
    other = [server({"type": "response.created"}), *deltas("You", " typed", " it")]
    other.append(server({"type": "response.done"}))
    assert texts(compare_messages(recorded, other, rules=rules)) == [
        'message 2 (response.text.delta x3, assembled) $.delta: "You said it" -> "You typed it"'
    ]


def test_long_assembled_texts_are_shown_where_they_differ() -> None:
    head = "word " * 100
    found = diff_json({"t": head + "cat"}, {"t": head + "dog"}, assembled=True)
    text = found[0].text
    assert "cat" in text and "dog" in text and text.count("…") >= 2


def test_assembly_can_be_turned_off_per_cassette() -> None:
    recorded, replayed = deltas("a", "b"), deltas("ab")
    off = MessageRules.from_table({"assemble": False}, where="t")
    rules = IgnoreRules.parse(["$.event_id"])
    assert compare_messages(recorded, replayed, rules=rules) == []
    assert compare_messages(recorded, replayed, rules=rules, messages=off) != []


# --- shape mode ---------------------------------------------------------------------------------

COMPLETION = {
    "choices": [{"message": {"content": "Hello there"}, "finish_reason": "stop"}],
    "usage": {"total_tokens": 7},
}


def test_shape_mode_lets_values_vary_but_not_keys_or_types() -> None:
    shaped = IgnoreRules.shape(["$"])
    generated = {
        "choices": [{"message": {"content": "Hi!"}, "finish_reason": "length"}],
        "usage": {"total_tokens": 3},
    }
    assert diff_json(COMPLETION, generated, shaped=shaped.shaped) == []
    renamed = {"choices": [{"message": {"content": "Hi"}, "stop_reason": "stop"}]}
    found = texts(diff_json(COMPLETION, renamed, shaped=shaped.shaped))
    assert found == [
        '$.choices[0].finish_reason: "stop" -> (absent)',
        '$.choices[0].stop_reason: (absent) -> "stop"',
        '$.usage: {"total_tokens": 7} -> (absent)',
    ]
    retyped = {**COMPLETION, "usage": {"total_tokens": "7"}}
    assert texts(diff_json(COMPLETION, retyped, shaped=shaped.shaped)) == [
        "$.usage.total_tokens: number -> string"
    ]


def test_shape_rules_can_name_just_the_generated_part() -> None:
    rules = IgnoreRules.shape(["$.choices[*].message.content"])
    other = json.loads(json.dumps(COMPLETION))
    other["choices"][0]["message"]["content"] = "Something else"
    assert diff_json(COMPLETION, other, shaped=rules.shaped) == []
    other["choices"][0]["finish_reason"] = "length"
    assert [d.path for d in diff_json(COMPLETION, other, shaped=rules.shaped)] == [
        "$.choices[0].finish_reason"
    ]


# --- Jupyter: nested keys, correlation, free counts, order --------------------------------------


def jupyter(kind: str, parent: str, **content: Any) -> Message:
    header = {"msg_type": kind, "msg_id": f"{kind}-{parent}-fresh"}
    return server({"header": header, "parent_header": {"msg_id": parent}, "content": content})


def execute(msg_id: str) -> Message:
    return client({"header": {"msg_type": "execute_request", "msg_id": msg_id}})


KERNEL = MessageRules.from_table(
    {
        "message_key": "header.msg_type",
        "correlate": ["parent_header.msg_id"],
        "free_count": ["status"],
        "unordered": True,
    },
    where="test",
)
FRESH = IgnoreRules.parse(["$.header.msg_id"])
RECORDED = [
    execute("a"),
    jupyter("status", "a", execution_state="busy"),
    jupyter("execute_input", "a", code="1+1"),
    jupyter("execute_result", "a", data={"text/plain": "2"}),
    jupyter("status", "a", execution_state="idle"),
    jupyter("execute_reply", "a", status="ok"),
]


def test_kernel_replies_compare_green_in_another_order_and_status_count() -> None:
    replayed = [
        jupyter("status", "a", execution_state="busy"),
        jupyter("execute_input", "a", code="1+1"),
        jupyter("execute_reply", "a", status="ok"),  # before its result this time
        jupyter("execute_result", "a", data={"text/plain": "2"}),
        jupyter("status", "a", execution_state="idle"),
        jupyter("status", "a", execution_state="idle"),  # one status more
    ]
    assert compare_messages(RECORDED, replayed, rules=FRESH, messages=KERNEL) == []


def test_a_broken_execute_reply_fails_and_a_missing_status_is_named() -> None:
    replayed = [
        jupyter("execute_input", "a", code="1+1"),
        jupyter("execute_result", "a", data={"text/plain": "2"}),
        jupyter("execute_reply", "a", status="error", ename="NameError"),
    ]
    found = texts(compare_messages(RECORDED, replayed, rules=FRESH, messages=KERNEL))
    assert "messages by header.msg_type status: status x2 -> (absent)" in found
    assert 'message 5 (execute_reply) $.content.status: "ok" -> "error"' in found
    assert 'message 5 (execute_reply) $.content.ename: (absent) -> "NameError"' in found


def test_replies_are_paired_by_the_request_they_answer() -> None:
    recorded = [
        execute("a"),
        execute("b"),
        jupyter("execute_reply", "a", status="ok"),
        jupyter("execute_reply", "b", status="ok"),
    ]
    swapped = [
        jupyter("execute_reply", "b", status="ok"),
        jupyter("execute_reply", "a", status="ok"),
    ]
    assert compare_messages(recorded, swapped, rules=FRESH, messages=KERNEL) == []
    ordered = MessageRules.from_table({"unordered": False}, where="t", base=KERNEL)
    assert compare_messages(recorded, swapped, rules=FRESH, messages=ordered) != []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"message_key": ""}, "message_key: expected a non-empty string"),
        ({"message_key": "a..b"}, "not a dotted key path"),
        ({"free_count": "status"}, "free_count: expected a list of strings"),
        ({"unordered": "yes"}, "unordered: expected true or false"),
        ({"terminal": ["x[y]"]}, "expected KEY or KEY"),
    ],
)
def test_bad_message_rules_are_one_line_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(RetapeError, match=message):
        MessageRules.from_table(table, where="x.noise.toml")


# --- learning stays narrow ----------------------------------------------------------------------


def test_a_whole_text_body_is_never_learned_as_dollar() -> None:
    found = compare_contents(
        read_content("text", b"<html>at 12:00</html>"),
        read_content("text", b"<html>at 12:01</html>"),
        rules=NONE,
    )
    assert learn(found) == [] and unlearnable(found) == found
    assert rule_for(Difference("body", "", "$.a", 1, 2, ("a",))) == "$.a"
    assert (
        compare_contents(
            read_content("text", b"<html>a</html>"),
            read_content("text", b"<html>b</html>"),
            rules=IgnoreRules.parse(["$"]),  # a person may still ask for it
        )
        == []
    )
