-- Writes a session merged by the caller, only if its key still holds the JSON the merge was based
-- on (compare-and-set); never recreates a session. No JSON is decoded here.
--
-- KEYS[1]  the session's key
-- KEYS[2]  (with session end events) its shadow, rewritten with the session (see `shadow.lua`)
-- ARGV[1]  the JSON the merge was based on
-- ARGV[2]  the merged JSON
-- ARGV[3]  the TTL in milliseconds (positive)
-- ARGV[4]  how much longer than the session its shadow lives, in milliseconds (with KEYS[2])
--
-- Returns 1 when written, 0 when the session is not stored, or the JSON stored now when it is not
-- the base (nothing written: the caller merges onto it and tries again).
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
if stored ~= ARGV[1] then return stored end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[3]) + tonumber(ARGV[4]))
end
return 1
