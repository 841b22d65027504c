"""Pull and push progress streams: bytes per layer, the digest, and errors hidden in a 200 answer (no engine)."""

from __future__ import annotations

import pytest

from porttest.engine.registry_stream import read_stream, split_digest_ref

DIGEST = "sha256:" + "ab" * 32


def test_pull_stream_counts_each_layer_once_at_its_total() -> None:
    stream = [
        {"status": "Pulling from shop/api", "id": "1"},
        {"status": "Downloading", "id": "l1", "progressDetail": {"current": 10, "total": 100}},
        {"status": "Downloading", "id": "l1", "progressDetail": {"current": 100, "total": 100}},
        {"status": "Downloading", "id": "l2", "progressDetail": {"current": 5, "total": 50}},
        {"status": "Extracting", "id": "l2", "progressDetail": {"current": 50, "total": 999}},
        {"status": "Digest: " + DIGEST},
        {"status": "Status: Downloaded newer image"},
    ]
    summary = read_stream(iter(stream), "Downloading")
    assert (summary.bytes, summary.digest, summary.error) == (150, None, None)


def test_push_stream_gives_the_digest_from_aux_and_pushed_bytes() -> None:
    stream = [
        {"status": "Pushing", "id": "l1", "progressDetail": {"current": 512, "total": 2048}},
        {"status": "Pushed", "id": "l1", "progressDetail": {}},
        {"status": f"1: digest: {DIGEST} size: 527"},
        {"aux": {"Tag": "1", "Digest": DIGEST, "Size": 527}, "progressDetail": {}},
    ]
    summary = read_stream(stream, "Pushing")
    assert (summary.bytes, summary.digest, summary.error) == (2048, DIGEST, None)


def test_digest_from_the_status_line_when_there_is_no_aux() -> None:
    assert read_stream([{"status": f"latest: digest: {DIGEST} size: 1"}], "Pushing").digest == DIGEST


@pytest.mark.parametrize("message", [
    {"error": "Get http://127.0.0.1:5/v2/: dial tcp: connection refused\n",
     "errorDetail": {"message": "ignored"}},
    {"errorDetail": {"message": "Get http://127.0.0.1:5/v2/: dial tcp: connection refused"}},
])
def test_the_first_error_in_the_stream_is_the_reason(message: dict[str, object]) -> None:
    later = {"error": "a later, less useful error"}
    summary = read_stream([{"status": "Trying to pull"}, message, later], "Downloading")
    assert summary.error == "Get http://127.0.0.1:5/v2/: dial tcp: connection refused"


def test_the_whole_stream_is_consumed_even_after_an_error() -> None:
    seen: list[int] = []

    def stream():  # type: ignore[no-untyped-def]
        for i in range(5):
            seen.append(i)
            yield {"error": "x"} if i == 1 else {"status": "..."}

    read_stream(stream(), "Downloading")
    assert seen == [0, 1, 2, 3, 4]


def test_split_digest_ref() -> None:
    assert split_digest_ref(f"127.0.0.1:5000/a/b@{DIGEST}") == ("127.0.0.1:5000/a/b", DIGEST)
    with pytest.raises(ValueError, match="not a digest reference"):
        split_digest_ref("a/b:1")
