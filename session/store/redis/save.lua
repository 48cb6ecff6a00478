
-- Applies a change set to a stored session, atomically; never recreates a session.
--
-- KEYS[1]  the session's key
-- ARGV[1]  the new TTL in milliseconds; 0 or less ends the session (DEL)
-- ARGV[2]  the new cookie object (JSON)
-- ARGV[3…] triples: field name, field key as JSON, new raw JSON value ('' removes the field)
--
-- Returns 1 when written (or ended), 0 when the session is not stored.
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local ttl = tonumber(ARGV[1])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
local list = members(stored)
if not list then return corrupt() end

local changes = {}
for a = 3, #ARGV, 3 do changes[ARGV[a]] = a end
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
for a = 3, #ARGV, 3 do
  local name = ARGV[a]
  if not done[name] and name ~= 'cookie' and ARGV[a + 2] ~= '' then
    done[name] = true
    out[#out + 1] = { ARGV[a + 1], ARGV[a + 2] }
  end
end
redis.call('SET', KEYS[1], join(out), 'PX', ttl)
return 1
