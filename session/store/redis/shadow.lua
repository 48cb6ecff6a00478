
-- Session end events: the shadow of a session (KEYS[2], when given) is a copy of its record that
-- lives `grace` milliseconds longer than the session's key, so that whoever reports the end of the
-- session (an expiry seen by any app server, or the to-do sweep after an outage) still has its
-- last data. Every write of a session rewrites its shadow.

-- How much longer than its session a shadow lives, in milliseconds: set by the script from its
-- arguments.
local shadow_grace = 0

-- Writes the shadow of `record`, whose key lives `ttl` more milliseconds.
local function shadow_set(record, ttl)
  if KEYS[2] then
    redis.call('SET', KEYS[2], record, 'PX', tonumber(ttl) + tonumber(shadow_grace))
  end
end

-- A write ended the session whose record was `stored`: claims the shadow and answers
-- {'ended', stored} for the caller to report, or nil without events.
local function shadow_end(stored)
  if not KEYS[2] then return nil end
  redis.call('DEL', KEYS[2])
  return { 'ended', stored }
end
