-- A request's first read: answers a session as stored with its key's PTTL, and renews the key,
-- in one round trip; never creates a session. This prelude runs first and answers the common case
-- without decoding any JSON; anything unusual falls through to `touch.lua` in 'load' mode (the
-- same arguments), which renews the stored cookie as text.
--
-- KEYS[1]  the session's key
-- ARGV[1]  'load'
-- ARGV[2]  now, in milliseconds since the epoch (used by the fall-through only)
-- ARGV[3]  the TTL of a session whose cookie has no expiry, in milliseconds
-- KEYS[2]  (with session end events) the session's shadow, rewritten with it (see `shadow.lua`)
-- ARGV[4]  how much longer than the session its shadow lives, in milliseconds (with KEYS[2])
--
-- Returns {stored JSON, its PTTL in milliseconds before the renewal}, or false when the session is
-- not stored (with events, {'ended', last record} when the renewal ended it: fall-through only).
--
-- The common case is a record that begins as express (and this crate) write it:
-- `{"cookie":{"originalMaxAge":<positive integer>,…` or, for a browser-session cookie,
-- `{"cookie":{"originalMaxAge":null,"expires":null…`. Its key then lives originalMaxAge (or the
-- default TTL) from now, by `PEXPIRE`, as connect-redis's touch does: the `cookie.expires` stored
-- in the JSON goes stale, and every load follows the key's TTL instead (see `follow_ttl`).
do
  local stored = redis.call('GET', KEYS[1])
  if not stored then return false end
  local ttl = string.match(stored, '^{"cookie":{"originalMaxAge":([1-9]%d*)[,}]')
  if ttl and #ttl > 15 then
    ttl = nil
  elseif not ttl and string.find(stored, '^{"cookie":{"originalMaxAge":null,"expires":null[,}]') then
    ttl = ARGV[3]
  end
  if ttl then
    local pttl = redis.call('PTTL', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], ttl)
    if KEYS[2] then
      redis.call('SET', KEYS[2], stored, 'PX', tonumber(ttl) + tonumber(ARGV[4]))
    end
    return { stored, pttl }
  end
end
