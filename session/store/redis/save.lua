
-- Applies a change set to a stored session, atomically; never recreates a session.
--
-- KEYS[1]  the session's key
-- KEYS[2]  (with session end events) its shadow, rewritten with the session (see `shadow.lua`)
-- ARGV[1]  the new TTL in milliseconds; 0 or less ends the session (DEL)
-- ARGV[2]  the new cookie object (JSON)
-- ARGV[3]  how much longer than the session its shadow lives, in milliseconds ('' without KEYS[2])
-- ARGV[4]  the largest record to write, in bytes
-- ARGV[5…] triples: field name, field key as JSON, new raw JSON value ('' removes the field)
--
-- Returns 1 when written, 0 when the session is not stored, {'ended', last record} when the
-- write ended it (the caller reports it as expired when events are on; 1 without events),
-- {'too_large', size} when the merged record is over ARGV[4] bytes (nothing written).
if KEYS[2] then shadow_grace = ARGV[3] end
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local ttl = tonumber(ARGV[1])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return shadow_end(stored) or 1
end
local list = members(stored)
if not list then return corrupt() end

local changes = {}
for a = 5, #ARGV, 3 do changes[ARGV[a]] = a end
local out, done, cookie = {}, {}, false
for _, m in ipairs(list) do
  local name = key_name(m[1])
  if name == 'cookie' then
    if not cookie then
      out[#out + 1] = { m[1], ARGV[2] }
      cookie = true
    end
  else
    local a = changes[name]
    if not a then
      out[#out + 1] = m
    elseif not done[name] then
      done[name] = true
      if ARGV[a + 2] ~= '' then out[#out + 1] = { m[1], ARGV[a + 2] } end
    end
  end
end
if not cookie then table.insert(out, 1, { '"cookie"', ARGV[2] }) end
for a = 5, #ARGV, 3 do
  local name = ARGV[a]
  if not done[name] and name ~= 'cookie' and ARGV[a + 2] ~= '' then
    done[name] = true
    out[#out + 1] = { ARGV[a + 1], ARGV[a + 2] }
  end
end
local record = join(out)
if #record > tonumber(ARGV[4]) then return { 'too_large', #record } end
redis.call('SET', KEYS[1], record, 'PX', ttl)
shadow_set(record, ttl)
return 1
