"""The fan-out's parts that need no server: frames, and a slow viewer's bounded buffer."""

from __future__ import annotations

import json

from service.live import VIEWER_BUFFER, Frame, Viewer, encode_frame


def test_a_frame_carries_each_delta_with_its_sequence_number() -> None:
    entries = [
        (b"7-0", {b"d": b'{"type":"routed","event":{"id":1}}'}),
        (b"8-0", {b"d": b'{"type":"signed"}'}),
    ]
    frame = encode_frame(entries)
    body = json.loads(frame.text)
    assert (frame.first, frame.last) == (7, 8)
    assert body["seq"] == 8 and body["type"] == "deltas"
    assert [(d["seq"], d["type"]) for d in body["deltas"]] == [(7, "routed"), (8, "signed")]
    assert body["deltas"][0]["event"] == {"id": 1}


def test_a_viewer_that_falls_behind_is_dropped_and_resynchronised() -> None:
    viewer = Viewer()
    for n in range(VIEWER_BUFFER):
        viewer.offer(Frame(n, n, "{}"))
    assert len(viewer.frames) == VIEWER_BUFFER and not viewer.resync
    viewer.offer(Frame(VIEWER_BUFFER, VIEWER_BUFFER, "{}"))
    assert viewer.resync and not viewer.frames  # buffer dropped: a snapshot comes next
    viewer.offer(Frame(VIEWER_BUFFER + 1, VIEWER_BUFFER + 1, "{}"))
    assert not viewer.frames  # nothing queues until the resync is sent
