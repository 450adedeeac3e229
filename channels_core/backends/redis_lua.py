"""The Lua scripts of the Redis backend: each multi-step operation is one atomic round trip.

Storage layout, under the backend's key prefix ``P``:

* ``Pq:<queue>``: a list of ``<deadline ms>|<channel>|<json>`` entries, oldest first.
  A normal channel is its own queue; response channels share their inbox's.
* ``Pn:<queue>``: a hash counting the waiting messages of each channel in the
  queue, for per-channel capacity. It is reset whenever the queue drains.
* ``Pg:<group>``: a sorted set of member channels scored by their expiry (ms).
  With several shards, each shard keeps the members whose queue it holds, so
  ``Group.send`` is one script per shard.

Deadlines use the Redis server's clock (``TIME``), so clients need not agree on
the time. Every key gets a TTL of the expiry it serves, so nothing outlives it.
"""

from __future__ import annotations

__all__ = ["GROUP_ADD", "GROUP_CHANNELS", "GROUP_SEND", "RECEIVE", "SEND", "lua_pattern"]

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An entry is "<deadline>|<channel>|<payload>"; returns deadline, channel and
-- the position of the second bar (the payload follows it).
local function parse(entry)
  local first = string.find(entry, '|', 1, true)
  local second = string.find(entry, '|', first + 1, true)
  return tonumber(string.sub(entry, 1, first - 1)), string.sub(entry, first + 1, second - 1), second
end

local function forget(counts, channel)
  if redis.call('HINCRBY', counts, channel, -1) <= 0 then
    redis.call('HDEL', counts, channel)
  end
end

-- Drop expired entries from the head of a queue, so their storage is
-- reclaimed while producers keep sending and no consumer comes.
local function trim(queue, counts, now)
  while true do
    local head = redis.call('LINDEX', queue, 0)
    if not head then
      redis.call('DEL', counts)
      return
    end
    local deadline, channel = parse(head)
    if deadline > now then return end
    redis.call('LPOP', queue)
    forget(counts, channel)
  end
end

local function stamp(deadline, channel)
  return string.format('%.0f', deadline) .. '|' .. channel .. '|'
end
"""

#: KEYS: queue, counts. ARGV: channel, payload, capacity, expiry ms. Returns 1, or 0 when full.
SEND = (
    _COMMON
    + """
local now = now_ms()
trim(KEYS[1], KEYS[2], now)
if redis.call('HINCRBY', KEYS[2], ARGV[1], 1) > tonumber(ARGV[3]) then
  forget(KEYS[2], ARGV[1])
  return 0
end
redis.call('RPUSH', KEYS[1], stamp(now + tonumber(ARGV[4]), ARGV[1]) .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
)

#: KEYS: n queues then their n count hashes. ARGV: d, then d (counts key, channel)
#: pairs still to be forgotten (entries taken earlier by a blocking pop).
#: Returns {queue index, channel, payload} or nil.
RECEIVE = (
    _COMMON
    + """
local pending = tonumber(ARGV[1])
for i = 2, 2 * pending, 2 do
  forget(ARGV[i], ARGV[i + 1])
end
local n = #KEYS / 2
local now = now_ms()
for k = 1, n do
  while true do
    local entry = redis.call('LPOP', KEYS[k])
    if not entry then
      redis.call('DEL', KEYS[n + k])
      break
    end
    local deadline, channel, bar = parse(entry)
    forget(KEYS[n + k], channel)
    if deadline > now then
      return {k, channel, string.sub(entry, bar + 1)}
    end
  end
end
return false
"""
)

#: KEYS: group. ARGV: channel, group expiry ms.
GROUP_ADD = (
    _COMMON
    + """
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

#: KEYS: group. Returns the live members.
GROUP_CHANNELS = (
    _COMMON
    + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

#: KEYS: group. ARGV: key prefix, payload, expiry ms, default capacity, then
#: (Lua pattern, capacity) pairs in look-up order. Returns {delivered, skipped}.
#: Members that share an inbox get their copies in one RPUSH.
GROUP_SEND = (
    _COMMON
    + """
local prefix, payload, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])

local function capacity_of(channel)
  for i = 5, #ARGV, 2 do
    if string.find(channel, ARGV[i]) then return tonumber(ARGV[i + 1]) end
  end
  return tonumber(ARGV[4])
end

local function inbox_of(channel)
  if string.sub(channel, 1, 1) ~= '!' then return channel end
  local inbox = string.match(channel, '^(.+)%.[^.]*$')
  if inbox and inbox ~= '!' then return inbox end
  return channel
end

local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local deadline = now + expiry
local batches, queues = {}, {}
local delivered, skipped = 0, 0
for _, channel in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local queue = inbox_of(channel)
  local batch = batches[queue]
  if not batch then
    batch = {queue = prefix .. 'q:' .. queue, counts = prefix .. 'n:' .. queue}
    trim(batch.queue, batch.counts, now)
    batches[queue] = batch
    table.insert(queues, batch)
  end
  if redis.call('HINCRBY', batch.counts, channel, 1) > capacity_of(channel) then
    forget(batch.counts, channel)
    skipped = skipped + 1
  else
    table.insert(batch, stamp(deadline, channel) .. payload)
    delivered = delivered + 1
  end
end
for _, batch in ipairs(queues) do
  -- unpack() is limited by Lua's C stack, so push in slices.
  for first = 1, #batch, 1000 do
    redis.call('RPUSH', batch.queue, unpack(batch, first, math.min(first + 999, #batch)))
  end
  if #batch > 0 then
    redis.call('PEXPIRE', batch.queue, expiry)
    redis.call('PEXPIRE', batch.counts, expiry)
  end
end
return {delivered, skipped}
"""
)

_LUA_MAGIC = set("^$()%.[]*+-?")


def _set_end(glob: str, start: int) -> int:
    """Index of the ``]`` closing the set that opens at ``start``, by fnmatch's rules, or -1.

    As in fnmatch, a ``]`` right after ``[`` or ``[!`` is a member, not the end.
    """
    i = start + 1
    if i < len(glob) and glob[i] == "!":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1
    return glob.find("]", i)


def lua_pattern(glob: str) -> str:
    """Translate an :mod:`fnmatch` glob over channel names into an anchored Lua pattern."""
    out = ["^"]
    i = 0
    while i < len(glob):
        char = glob[i]
        closing = _set_end(glob, i) if char == "[" else -1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif closing != -1:
            body = glob[i + 1 : closing]
            negate = body.startswith("!")
            members = "".join("%" + c if c in "%^]" else c for c in body[negate:])
            out.append("[" + ("^" if negate else "") + members + "]")
            i = closing
        else:
            out.append("%" + char if char in _LUA_MAGIC else char)
        i += 1
    out.append("$")
    return "".join(out)
