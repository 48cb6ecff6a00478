-- Drops members of an index key that were found stale, unless they got the value again since
-- (a new score): a reader never removes an entry that a concurrent write just made.
--
-- KEYS[1]  the index key
-- ARGV     pairs: session id, the score it had when it was found stale
--
-- Returns how many members were dropped.
local dropped = 0
for a = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[a])
  if score and tonumber(score) == tonumber(ARGV[a + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[a])
    dropped = dropped + 1
  end
end
return dropped
