r"""The Lua scripts of group history on Redis (``GROUP_HISTORY``; see :mod:`channels_core.backends.history`).

Storage layout, under the backend's key prefix ``P`` (on Redis Cluster the
group's name is a hash tag, ``{<group>}``, so the three keys and the group's
index share the group's slot):

* ``Ph:<group>``: a hash, ``epoch`` and ``offset`` (the latest message's).
* ``Phl:<group>``: a list of the kept messages, oldest first, each
  ``<offset>|<json with its position>``; trimmed to the group's size.
* ``Phlock:<group>``: the group's history lock (several shards, or a
  cluster: :mod:`channels_core.backends.redis_history`), a random token
  with a TTL.

The hash and the list live ``GROUP_HISTORY_EXPIRY`` after the last send or
position. The epoch is made by the caller (``secrets`` in Python; Lua in
Redis has no good randomness) and used only when the hash is missing; a list
found without its hash belongs to a history that expired, and is dropped.

On one Redis, a send (``HISTORY_SEND``) and an add with since
(``HISTORY_ADD_SINCE``) are each one script: the group send and the member
add are the plain scripts' own Lua functions, called from them. On several
shards or a cluster, ``HISTORY_BEGIN_SEND`` and ``HISTORY_BEGIN_ADD`` take the
lock in the group's home and do the history's part, ``MEMBER_ADD_REPLAY``
adds the member in its queue's home with its replay, and
``HISTORY_RELEASE`` gives the lock back.
"""

from __future__ import annotations

from .redis_lua import _COMMON, _MEMBERS, _MEMBERSHIP, _TO_GROUP, _TO_MEMBERS

__all__ = [
    "HISTORY_ADD_SINCE",
    "HISTORY_BEGIN_ADD",
    "HISTORY_BEGIN_SEND",
    "HISTORY_POSITION",
    "HISTORY_RELEASE",
    "HISTORY_SEND",
    "MEMBER_ADD_REPLAY",
    "POSITION_LUA",
]

#: ``with_position(payload, group, epoch, offset)`` in Lua: the bytes of
#: :func:`channels_core.messages.with_position`, whose JSON string escapes
#: (``json`` with ``ensure_ascii=False``) ``json_string`` mirrors: ``"``,
#: ``\`` and the control characters, the common ones by their short escapes.
POSITION_LUA = r"""
local short_escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                       ['\r'] = '\\r', ['\t'] = '\\t'}

local function json_string(text)
  local escaped = string.gsub(text, '[%z\1-\31"\\]', function(char)
    return short_escapes[char] or string.format('\\u%04x', string.byte(char))
  end)
  return '"' .. escaped .. '"'
end

-- The encoded message with "position" first, as messages.with_position writes it.
-- Offsets are exact below 2^53 (Lua numbers are doubles): 285 years of a million sends a second.
local function with_position(payload, group, epoch, offset)
  local rest = string.sub(payload, 2)
  local separator = string.find(rest, '^%s*}') and '' or ','  -- an empty dict takes no comma
  return '{"position":{"group":' .. json_string(group) .. ',"epoch":' .. json_string(epoch)
    .. ',"offset":' .. string.format('%.0f', offset) .. '}' .. separator .. rest
end
"""

_HISTORY = """
-- The group's epoch; a new history (offset 0, the caller's epoch) if it has none. Kept `expiry` ms more.
local function history_epoch(hash_key, list_key, new_epoch, expiry)
  local epoch = redis.call('HGET', hash_key, 'epoch')
  if not epoch then
    epoch = new_epoch
    redis.call('HSET', hash_key, 'epoch', epoch, 'offset', 0)
    redis.call('DEL', list_key)  -- left by a history that expired first: not this one's
  end
  redis.call('PEXPIRE', hash_key, expiry)
  redis.call('PEXPIRE', list_key, expiry)
  return epoch
end

-- Number a message, keep it (and only the last `size`). Returns its epoch, offset and payload with position.
local function keep(hash_key, list_key, payload, group, new_epoch, size, expiry)
  local epoch = history_epoch(hash_key, list_key, new_epoch, expiry)
  local offset = redis.call('HINCRBY', hash_key, 'offset', 1)
  local positioned = with_position(payload, group, epoch, offset)
  redis.call('RPUSH', list_key, string.format('%.0f', offset) .. '|' .. positioned)
  redis.call('LTRIM', list_key, -size, -1)
  redis.call('PEXPIRE', list_key, expiry)
  return epoch, offset, positioned
end
"""

_REPLAY = """
-- The kept payloads after `since`, oldest first, or false if the history cannot cover it
-- (missing, another epoch, `since` older than the oldest kept minus one, or beyond the latest).
local function missed_since(hash_key, list_key, since_epoch, since, size)
  local history = redis.call('HMGET', hash_key, 'epoch', 'offset')
  if not history[1] or history[1] ~= since_epoch then return false end
  local offset = tonumber(history[2])
  local count = offset - since
  if count < 0 or count > size then return false end
  if count == 0 then return {} end
  local kept = redis.call('LRANGE', list_key, -count, -1)
  if #kept < count or tonumber(string.match(kept[1], '^(%d+)|')) ~= since + 1 then return false end
  local missed = {}
  for i, entry in ipairs(kept) do missed[i] = string.sub(entry, string.find(entry, '|', 1, true) + 1) end
  return missed
end

-- Put `payloads` on a member's queue, addressed to its channel alone, as sends to it would
-- store them. The queue's capacity is not checked: the replay is bounded by the history's size.
local function replay(queue_key, channel, payloads, expiry)
  local now = now_ms()
  local entry_stamp = stamp(now, expiry) .. channel .. '|'
  for _, payload in ipairs(payloads) do push(queue_key, entry_stamp .. payload, math.huge, expiry, now) end
  return #payloads
end
"""

#: KEYS: history, kept messages. ARGV: new epoch, history expiry ms. Returns {epoch, offset}.
HISTORY_POSITION = (
    _COMMON
    + POSITION_LUA
    + _HISTORY
    + """
local epoch = history_epoch(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]))
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'offset'))}
"""
)

# One Redis: each operation one script.

#: KEYS: group, history, kept messages. ARGV: payload, group name, new epoch, size, history
#: expiry ms, then the group's settings as for ``GROUP_SEND``. Returns {delivered, skipped,
#: epoch, offset}: numbered, kept and delivered in one step.
HISTORY_SEND = (
    _COMMON
    + _MEMBERS
    + _TO_MEMBERS
    + _TO_GROUP
    + POSITION_LUA
    + _HISTORY
    + """
local epoch, offset, positioned = keep(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]))
local delivered, skipped = send_to_group(KEYS[1], 6, positioned)
return {delivered, skipped, epoch, offset}
"""
)

#: KEYS: group, members, joined members, history, kept messages, the member's queue. ARGV:
#: channel, queue, group expiry ms, since's epoch, since's offset, size, the queue's expiry ms.
#: Returns {recovered (1 or 0), replayed}: the member added as by ``GROUP_ADD``, and its replay.
HISTORY_ADD_SINCE = (
    _COMMON
    + _MEMBERSHIP
    + _REPLAY
    + """
local expiry = tonumber(ARGV[3])
index_queue(KEYS[1], ARGV[2], add_member(KEYS[2], KEYS[3], ARGV[1], expiry), expiry)
local missed = missed_since(KEYS[4], KEYS[5], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
if not missed then return {0, 0} end
return {1, replay(KEYS[6], ARGV[1], missed, tonumber(ARGV[7]))}
"""
)

# Several shards, or a cluster: the group's lock, then the history, then the members.

_LOCK = """
-- Take the group's lock for `token`, unless someone holds it: then nothing is done.
local function locked(lock_key, token, lock_ms)
  return redis.call('SET', lock_key, token, 'NX', 'PX', lock_ms) ~= false
end
"""

#: KEYS: history, kept messages, lock, and on a cluster the group's index. ARGV: token, lock
#: ms, payload, group name, new epoch, size, history expiry ms. Returns nothing if the lock
#: is held (nothing was done), else {epoch, offset, the queues of the group's index}.
HISTORY_BEGIN_SEND = (
    _COMMON
    + _MEMBERS
    + POSITION_LUA
    + _HISTORY
    + _LOCK
    + """
if not locked(KEYS[3], ARGV[1], ARGV[2]) then return false end
local epoch, offset = keep(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
return {epoch, offset, KEYS[4] and group_queues(KEYS[4], now_ms()) or {}}
"""
)

#: KEYS: history, kept messages, lock. ARGV: token, lock ms, since's epoch, since's offset,
#: size. Returns nothing if the lock is held (nothing was done), else {1, the payloads after
#: since...} when the history covers since, {0} when it does not.
HISTORY_BEGIN_ADD = (
    _COMMON
    + _REPLAY
    + _LOCK
    + """
if not locked(KEYS[3], ARGV[1], ARGV[2]) then return false end
local missed = missed_since(KEYS[1], KEYS[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
if not missed then return {0} end
table.insert(missed, 1, 1)
return missed
"""
)

#: KEYS: members, joined members, the member's queue, and with several shards the group's
#: index on that shard. ARGV: channel, queue, group expiry ms, the queue's expiry ms, the
#: payloads to replay. Returns the member's deadline (ms), for a cluster's index.
MEMBER_ADD_REPLAY = (
    _COMMON
    + _MEMBERSHIP
    + _REPLAY
    + """
local expiry = tonumber(ARGV[3])
local deadline = add_member(KEYS[1], KEYS[2], ARGV[1], expiry)
if KEYS[4] then index_queue(KEYS[4], ARGV[2], deadline, expiry) end
local payloads = {}  -- not unpack(): it fails past a few thousand values
for i = 5, #ARGV do payloads[i - 4] = ARGV[i] end
replay(KEYS[3], ARGV[1], payloads, tonumber(ARGV[4]))
return deadline
"""
)

#: KEYS: lock, and on a cluster the group's index. ARGV: token, and with the index the
#: queue of a member just added, its deadline and the group expiry ms (the member's index
#: entry, written before the lock is given back so that the next send finds it).
#: Returns 1, or 0 if the lock had expired and was no longer the token's.
HISTORY_RELEASE = (
    _COMMON
    + _MEMBERSHIP
    + """
if KEYS[2] then index_queue(KEYS[2], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
)
