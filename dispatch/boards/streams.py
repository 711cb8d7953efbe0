"""Board streams in Redis: one per board (county, township, department) and per event.

Entry ids are `N-0` where N is the board's own counter (`<stream>:seq`), so clients see
plain increasing sequence numbers and can ask for what they missed since one. Streams
are capped; a client whose position fell off the cap gets a fresh snapshot instead.
The websocket edge reads the streams; nothing here knows about websockets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis

from dispatch.core.redis import KEY_PREFIX

log = logging.getLogger(__name__)

# Enough history for a board that was away for a while; older readers get a fresh snapshot.
BOARD_MAXLEN = 10_000
EVENT_MAXLEN = 500
# An event's own stream outlives any page left open on it; the event board then resyncs.
EVENT_STREAM_TTL_S = 7 * 24 * 3600
EPOCH_KEY = f"{KEY_PREFIX}:board:epoch"


class BoardKind(StrEnum):
    """The kinds of live board a client may join."""

    COUNTY = "county"
    TOWNSHIP = "township"
    DEPARTMENT = "department"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Board:
    """One board: its kind and, below the county, whose it is (a township code, an id)."""

    kind: BoardKind
    key: str = ""

    @property
    def stream(self) -> str:
        """Return the Redis stream key of the board."""
        if self.kind is BoardKind.COUNTY:
            return f"{KEY_PREFIX}:board:county"
        if self.kind is BoardKind.EVENT:
            return f"{KEY_PREFIX}:event:{self.key}"
        return f"{KEY_PREFIX}:board:{self.kind.value}:{self.key}"

    @property
    def maxlen(self) -> int:
        """Return how many entries the stream keeps."""
        return EVENT_MAXLEN if self.kind is BoardKind.EVENT else BOARD_MAXLEN


def county_stream() -> str:
    """Return the stream key of the county board."""
    return Board(BoardKind.COUNTY).stream


def township_stream(code: str) -> str:
    """Return the stream key of a township's board."""
    return Board(BoardKind.TOWNSHIP, code).stream


def department_stream(department_id: int) -> str:
    """Return the stream key of a department's inbox."""
    return Board(BoardKind.DEPARTMENT, str(department_id)).stream


def event_stream(event_id: int) -> str:
    """Return the stream key of one event's live timeline."""
    return Board(BoardKind.EVENT, str(event_id)).stream


@dataclass(frozen=True, slots=True)
class BoardMessage:
    """One delta: the boards it goes to and its JSON payload (without its sequence number)."""

    streams: tuple[Board, ...]
    payload: str


# ---- Redis: publishing and reading back --------------------------------------------------

# KEYS: stream, counter, stream, counter, ...; ARGV: payload, maxlen, ttl, payload, ...
_PUBLISH_SCRIPT = """
local seqs = {}
for i = 1, #KEYS, 2 do
  local j = (i - 1) / 2 * 3
  local n = redis.call('INCR', KEYS[i + 1])
  local ok = redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[j + 2], n .. '-0', 'd', ARGV[j + 1])
  if type(ok) == 'table' and ok.err then
    -- The stream is ahead of its counter (the counter was lost, or older entries used other
    -- ids): continue numbering after the stream's last entry.
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for k = 1, #info, 2 do
      if info[k] == 'last-generated-id' then
        n = tonumber(string.match(info[k + 1], '^(%d+)')) + 1
      end
    end
    redis.call('SET', KEYS[i + 1], n)
    redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[j + 2], n .. '-0', 'd', ARGV[j + 1])
  end
  local ttl = tonumber(ARGV[j + 3])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[i], ttl)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
  end
  seqs[#seqs + 1] = n
end
return seqs
"""


def seq_key(stream: str) -> str:
    """Return the key of a stream's sequence counter."""
    return f"{stream}:seq"


def publish(connection: redis.Redis, messages: Sequence[BoardMessage]) -> int:
    """Append each message to each of its boards' streams in one round trip; return how many."""
    keys: list[str] = []
    args: list[str | int] = []
    for message in messages:
        for board in message.streams:
            keys += [board.stream, seq_key(board.stream)]
            ttl = EVENT_STREAM_TTL_S if board.kind is BoardKind.EVENT else 0
            args += [message.payload, board.maxlen, ttl]
    if not keys:
        return 0
    connection.eval(_PUBLISH_SCRIPT, len(keys), *keys, *args)
    return len(keys) // 2


def publish_quietly(connection: redis.Redis, messages: Sequence[BoardMessage]) -> None:
    """Publish, logging instead of raising: a board can resync, a committed change must stand."""
    try:
        publish(connection, messages)
    except redis.RedisError as exc:
        log.warning("board update not published (%d messages): %s", len(messages), exc)


def with_seq(seq: int, payload: bytes | str) -> str:
    """Put the sequence number into a stored payload, as the first key of the JSON object."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    return f'{{"seq":{seq},{text[1:]}'


def entry_seq(entry_id: bytes | str) -> int:
    """Return the sequence number of a stream entry id (`N-0`)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])
