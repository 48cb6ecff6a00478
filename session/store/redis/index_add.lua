-- Lists a session under an index key and keeps the key alive at least as long as the session
-- (on its own where the index key and the session key are on different nodes: Redis Cluster;
-- and after a renewal of a session that holds an indexed value).
--
-- KEYS[1]  the index key
-- ARGV[1]  the session id
-- ARGV[2]  its score: when it got the value, milliseconds since the epoch
-- ARGV[3]  the session's TTL in milliseconds
-- ARGV[4]  'set': the session got the value now (ARGV[2] replaces its score); 'keep': it keeps
--          its score when listed, and is listed as of ARGV[2] when not; 'renew': the session
--          was just renewed holding the value: only the TTL when it is listed, nothing when the
--          key lists other sessions but not this one (it was taken off: moved or ended since),
--          and listed again as of ARGV[2] when the key is gone (it expired between the session's
--          renewal and this call: the key outlives its sessions, but a session renewed in its
--          last moments is renewed first on its own key)
--
-- Returns 1 when the session is listed now, 0 when not.
if ARGV[4] == 'renew' then
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  end
elseif ARGV[4] == 'set' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
end
local ttl = tonumber(ARGV[3])
local left = redis.call('PTTL', KEYS[1])
if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
