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
class CardChange:
    """An event's card as fields to compare with the card last published, in Redis.

    `fields` holds (group, key, value) triples: group `"e"` for the event's own fields and
    `"<part id>"` for each part's, key a JSON string, value encoded JSON. Publishing sends
    only the fields whose value differs from the one stored (a null never stored is the same
    as a null), with the card's new version and the one it was compared with.
    """

    event_id: int
    fields: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class BoardMessage:
    """One delta: the boards it goes to and its JSON payload (without its sequence number).

    With a card, the payload is the delta's head (`{"type":…,"id":…,"at":…`, unclosed) and
    publishing completes it with what changed on the card (a compact delta).
    """

    streams: tuple[Board, ...]
    payload: str
    card: CardChange | None = None


# ---- Redis: publishing and reading back --------------------------------------------------

# A card last published is kept this long after its last change; a change after that is sent
# whole (`p` 0), which every client can apply.
CARD_TTL_S = 2 * 24 * 3600
CARD_CLOCK_KEY = f"{KEY_PREFIX}:card:clock"


def card_key(event_id: int) -> str:
    """Return the key of the hash holding an event's card as last published."""
    return f"{KEY_PREFIX}:card:{event_id}"


# KEYS: the card clock, then per message: (card hash, if a card), stream, counter, ...
# ARGV per message: kind ('p' plain, 'c' card), boards, (maxlen, ttl) per board, then
# 'p': payload; 'c': head, card ttl, fields, (group, key, value) per field.
_PUBLISH_SCRIPT = """
local function add(stream, counter, maxlen, ttl, payload)
  local n = redis.call('INCR', counter)
  local ok = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, n .. '-0', 'd', payload)
  if type(ok) == 'table' and ok.err then
    -- The stream is ahead of its counter (the counter was lost, or older entries used other
    -- ids): continue numbering after the stream's last entry.
    local info = redis.call('XINFO', 'STREAM', stream)
    for k = 1, #info, 2 do
      if info[k] == 'last-generated-id' then
        n = tonumber(string.match(info[k + 1], '^(%d+)')) + 1
      end
    end
    redis.call('SET', counter, n)
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, n .. '-0', 'd', payload)
  end
  if tonumber(ttl) > 0 then
    redis.call('EXPIRE', stream, ttl)
    redis.call('EXPIRE', counter, ttl)
  end
end

-- Compare a card's fields with those stored, store the new ones, return the compact delta.
local function card_delta(card, head, card_ttl, first, count)
  local names = {'_v'}
  for f = 0, count - 1 do
    names[f + 2] = ARGV[first + f * 3] .. '|' .. ARGV[first + f * 3 + 1]
  end
  local old = redis.call('HMGET', card, unpack(names))
  local previous = old[1] or '0'
  local groups, order, sets, drops = {}, {}, {}, {}
  for f = 0, count - 1 do
    local group, key, value = ARGV[first + f * 3], ARGV[first + f * 3 + 1], ARGV[first + f * 3 + 2]
    local before = old[f + 2]
    if before ~= value and not (before == false and value == 'null') then
      if not groups[group] then
        groups[group] = {}
        order[#order + 1] = group
      end
      local changed = groups[group]
      changed[#changed + 1] = key .. ':' .. value
      if value == 'null' then
        drops[#drops + 1] = names[f + 2]
      else
        sets[#sets + 1] = names[f + 2]
        sets[#sets + 1] = value
      end
    end
  end
  local version = redis.call('INCR', KEYS[1])
  sets[#sets + 1] = '_v'
  sets[#sets + 1] = version
  redis.call('HSET', card, unpack(sets))
  if #drops > 0 then
    redis.call('HDEL', card, unpack(drops))
  end
  redis.call('EXPIRE', card, card_ttl)
  local body = {}
  for _, group in ipairs(order) do
    body[#body + 1] = '"' .. group .. '":{' .. table.concat(groups[group], ',') .. '}'
  end
  return head .. ',"v":' .. version .. ',"p":' .. previous .. ',"set":{' ..
    table.concat(body, ',') .. '}}'
end

local k, j = 2, 1
while j <= #ARGV do
  local kind, boards = ARGV[j], tonumber(ARGV[j + 1])
  local first_key, first_arg = k, j + 2
  k = k + (kind == 'c' and 1 or 0) + boards * 2
  j = j + 2 + boards * 2
  local payload
  if kind == 'p' then
    payload = ARGV[j]
    j = j + 1
  else
    local count = tonumber(ARGV[j + 2])
    payload = card_delta(KEYS[first_key], ARGV[j], ARGV[j + 1], j + 3, count)
    first_key = first_key + 1
    j = j + 3 + count * 3
  end
  for b = 0, boards - 1 do
    add(KEYS[first_key + b * 2], KEYS[first_key + b * 2 + 1],
        ARGV[first_arg + b * 2], ARGV[first_arg + b * 2 + 1], payload)
  end
end
return 1
"""


def seq_key(stream: str) -> str:
    """Return the key of a stream's sequence counter."""
    return f"{stream}:seq"


def publish(connection: redis.Redis, messages: Sequence[BoardMessage]) -> int:
    """Append each message to each of its boards' streams in one round trip; return how many.

    A message with a card is made compact on the way, against the card as last published.
    """
    keys: list[str] = [CARD_CLOCK_KEY]
    args: list[str | int] = []
    appended = 0
    for message in messages:
        if not message.streams:
            continue
        args += ["c" if message.card else "p", len(message.streams)]
        if message.card is not None:
            keys.append(card_key(message.card.event_id))
        for board in message.streams:
            keys += [board.stream, seq_key(board.stream)]
            ttl = EVENT_STREAM_TTL_S if board.kind is BoardKind.EVENT else 0
            args += [board.maxlen, ttl]
        args.append(message.payload)
        if message.card is not None:
            args += [CARD_TTL_S, len(message.card.fields)]
            for triple in message.card.fields:
                args.extend(triple)
        appended += len(message.streams)
    if not appended:
        return 0
    connection.eval(_PUBLISH_SCRIPT, len(keys), *keys, *args)
    return appended


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
