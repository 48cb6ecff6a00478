
-- Extends a stored session's life, in one round trip; never creates a session.
--
-- KEYS[1]  the session's key
-- ARGV[1]  'set': replace the cookie with ARGV[3] and expire after ARGV[2] ms (0 or less: DEL);
--          'renew': expires = ARGV[2] (now, ms since the epoch) + the stored originalMaxAge,
--          and the TTL follows it; a cookie without originalMaxAge keeps its expiry, or, without
--          an expiry, lives ARGV[3] ms from now;
--          'load': as 'renew', answering what was stored before the renewal.
-- KEYS[2]  (with session end events) the session's shadow, rewritten with it (see `shadow.lua`)
-- ARGV[4]  how much longer than the session its shadow lives, in milliseconds (with KEYS[2])
--
-- Returns the stored cookie object (JSON) after the touch ('load': {stored JSON before the
-- renewal, its PTTL in milliseconds}); false when the session is not stored (or the touch ended
-- it); with events, {'ended', last record} when the touch ended it.

-- JavaScript's Date.prototype.toISOString of `ms` since the epoch.
local function iso(ms)
  local days = math.floor(ms / 86400000)
  local rem = ms - days * 86400000
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400
  if month <= 2 then year = year + 1 end
  local hour = math.floor(rem / 3600000)
  local minute = math.floor(rem / 60000) % 60
  local second = math.floor(rem / 1000) % 60
  local milli = rem % 1000
  local y
  if year >= 0 and year <= 9999 then
    y = string.format('%04d', year)
  elseif year < 0 then
    y = string.format('-%06d', -year)
  else
    y = string.format('+%06d', year)
  end
  return string.format('%s-%02d-%02dT%02d:%02d:%02d.%03dZ', y, month, day, hour, minute, second, milli)
end

if KEYS[2] then shadow_grace = ARGV[4] end
local stored = redis.call('GET', KEYS[1])
if not stored then return false end
local before = ARGV[1] == 'load' and { stored, redis.call('PTTL', KEYS[1]) }
local function answer(cookie)
  if before then return before end
  return cookie
end
local list = members(stored)
if not list then return corrupt() end
local at = find(list, 'cookie')

if ARGV[1] == 'set' then
  local ttl = tonumber(ARGV[2])
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
    return shadow_end(stored) or false
  end
  if at then list[at][2] = ARGV[3] else table.insert(list, 1, { '"cookie"', ARGV[3] }) end
  local record = join(list)
  redis.call('SET', KEYS[1], record, 'PX', ttl)
  shadow_set(record, ttl)
  return ARGV[3]
end

if not at then return corrupt() end
local cookie = members(list[at][2])
if not cookie then return corrupt() end
local max_age_at = find(cookie, 'originalMaxAge')
local max_age = max_age_at and tonumber(cookie[max_age_at][2])
if not max_age then
  local expires_at = find(cookie, 'expires')
  if not expires_at or cookie[expires_at][2] == 'null' then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    shadow_set(stored, ARGV[3])
  elseif KEYS[2] then
    local pttl = redis.call('PTTL', KEYS[1])
    if pttl > 0 then shadow_set(stored, pttl) end
  end
  return answer(list[at][2])
end

max_age = math.floor(max_age)
if max_age <= 0 then
  redis.call('DEL', KEYS[1])
  return shadow_end(stored) or false
end
-- Saturated as the Rust side saturates (`record.rs`): the expiry at 9999-12-31T23:59:59.999Z
-- (253402300799999 ms since the epoch), and the key lives until then at most.
local now = tonumber(ARGV[2])
local expires_ms = math.min(now + max_age, 253402300799999)
max_age = expires_ms - now
local expires = '"' .. iso(expires_ms) .. '"'
local expires_at = find(cookie, 'expires')
if expires_at then
  cookie[expires_at][2] = expires
else
  -- express's key order: originalMaxAge, partitioned, priority, expires, …
  local after = max_age_at
  for n, m in ipairs(cookie) do
    local name = key_name(m[1])
    if name == 'partitioned' or name == 'priority' then after = math.max(after, n) end
  end
  table.insert(cookie, after + 1, { '"expires"', expires })
end
list[at][2] = join(cookie)
local record = join(list)
redis.call('SET', KEYS[1], record, 'PX', max_age)
shadow_set(record, max_age)
return answer(list[at][2])
