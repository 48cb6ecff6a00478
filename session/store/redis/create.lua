-- Creates a session and its end-event shadow, atomically; never overwrites a session.
--
-- KEYS[1]  the session's key
-- KEYS[2]  its shadow (`{<session key>}:end`, same cluster slot): a copy of the record that
--          outlives the key, so that the end of the session can be reported with its data
-- ARGV[1]  the record (JSON)
-- ARGV[2]  the TTL in milliseconds
-- ARGV[3]  how much longer than the session the shadow lives, in milliseconds
--
-- Returns 1 when created, 0 when the id is taken (nothing written).
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]) + tonumber(ARGV[3]))
return 1
