-- Reads a session and the time its key has left, in one atomic round trip.
--
-- KEYS[1]  the session's key
--
-- Returns {stored JSON, PTTL in milliseconds} (PTTL -1: the key has no expiry), or false when the
-- session is not stored.
local stored = redis.call('GET', KEYS[1])
if not stored then return false end
return { stored, redis.call('PTTL', KEYS[1]) }
