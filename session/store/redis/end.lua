-- Ends a session: deletes its key and claims its end-event shadow, atomically.
--
-- KEYS[1]  the session's key
-- KEYS[2]  its shadow
--
-- Returns {1, last record} when the session was stored (the caller reports its reason),
-- {0, shadow} when only the shadow was left (the key had expired, not yet reported: the caller
-- reports it as expired), false when neither was there (nothing to report: someone else did).
local live = redis.call('GET', KEYS[1])
local shadow = redis.call('GET', KEYS[2])
if shadow then redis.call('DEL', KEYS[2]) end
if live then
  redis.call('DEL', KEYS[1])
  return { 1, live }
end
if shadow then return { 0, shadow } end
return false
