-- Writes a session and its index entries in one atomic step (a single server: every key here is
-- on it). Used for every write of a store with indexes that creates a session with an indexed
-- value, or updates one (compare-and-set, the merge done by the caller).
--
-- KEYS[1]    the session's key
-- KEYS[2]    its shadow (written only with session end events, ARGV[5] not '')
-- KEYS[3…]   index keys (`<prefix>index:<field>:<value>`), one per ARGV triple from ARGV[9]
-- ARGV[1]    'create' (never overwrites) or 'cas' (only if the key still holds ARGV[2])
-- ARGV[2]    'create': the record; 'cas': the JSON the merge was based on
-- ARGV[3]    'cas': the merged record
-- ARGV[4]    the session's TTL in milliseconds (positive)
-- ARGV[5]    how much longer than the session its shadow lives, in milliseconds ('' without)
-- ARGV[6]    now, milliseconds since the epoch: the score of a session that gets a value
-- ARGV[7]    the session id (the member of its index keys)
-- ARGV[8]    the key prefix of sessions (a member's key is prefix .. id)
-- ARGV[9…]   triples, one per index key: 'add' (the session gets this value), 'rem' (it loses
--            it) or 'keep' (it keeps it, and keeps its score); the value's limit (0: none); 'end' (the oldest
--            sessions of the value end) or 'refuse' (the write is refused) over the limit
--
-- Returns {1, displaced id, its last record, …} when written; 0 when the id is taken ('create')
-- or the session is gone ('cas'); {2, stored JSON} when the key no longer holds the base (nothing
-- written); {3} when a limit refuses the write (nothing written).
local id, prefix = ARGV[7], ARGV[8]
local ttl = tonumber(ARGV[4])
if ARGV[1] == 'create' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
else
  local stored = redis.call('GET', KEYS[1])
  if not stored then return 0 end
  if stored ~= ARGV[2] then return { 2, stored } end
end

local function op(i)
  local a = 9 + (i - 3) * 3
  return ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
end

-- The sessions of index key `k` other than this one, oldest first; members whose session key is
-- gone are dropped on the way.
local function others(k)
  local list = {}
  for _, m in ipairs(redis.call('ZRANGE', k, 0, -1)) do
    if m ~= id then
      if redis.call('EXISTS', prefix .. m) == 1 then
        list[#list + 1] = m
      else
        redis.call('ZREM', k, m)
      end
    end
  end
  return list
end

-- Refusals first: nothing is displaced when any value refuses.
for i = 3, #KEYS do
  local what, max, over = op(i)
  if what == 'add' and max > 0 and over == 'refuse' and #others(KEYS[i]) >= max then
    return { 3 }
  end
end

local answer = { 1 }
for i = 3, #KEYS do
  local what, max, over = op(i)
  if what == 'add' and max > 0 and over == 'end' then
    local list = others(KEYS[i])
    for n = 1, #list + 1 - max do
      local m = list[n]
      local key = prefix .. m
      local last = redis.call('GET', key)
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[i], m)
      if ARGV[5] ~= '' then redis.call('DEL', '{' .. key .. '}:end') end
      if last then
        answer[#answer + 1] = m
        answer[#answer + 1] = last
      end
    end
  end
end

local record = ARGV[1] == 'create' and ARGV[2] or ARGV[3]
redis.call('SET', KEYS[1], record, 'PX', ttl)
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], record, 'PX', ttl + tonumber(ARGV[5]))
end

for i = 3, #KEYS do
  local what = op(i)
  if what == 'rem' then
    redis.call('ZREM', KEYS[i], id)
  else
    if what == 'add' then
      redis.call('ZADD', KEYS[i], ARGV[6], id)
    else
      -- A session that holds the value without being listed (a Node app set it) is listed now.
      redis.call('ZADD', KEYS[i], 'NX', ARGV[6], id)
    end
    -- The index key lives at least as long as its longest-lived session.
    local left = redis.call('PTTL', KEYS[i])
    if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return answer
