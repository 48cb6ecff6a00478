-- Claims the end-event shadow of a session whose key is gone (expired), atomically: of all the
-- app servers that try, exactly one gets it.
--
-- KEYS[1]  the session's key
-- KEYS[2]  its shadow
--
-- Returns the shadow (the session's last record) to the one caller that claims it; the key's
-- PTTL when the session is still stored; false when the shadow was already claimed.
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('PTTL', KEYS[1]) end
local shadow = redis.call('GET', KEYS[2])
if not shadow then return false end
redis.call('DEL', KEYS[2])
return shadow
