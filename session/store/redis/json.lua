-- Top-level JSON object surgery without re-encoding (shared by the session scripts).
--
-- A session record is a JSON object. These helpers split an object's text into its members as raw
-- text (key with its quotes, value exactly as stored) and join members back, so the bytes of every
-- value a script does not change are written back unchanged. (cjson would re-encode them: number
-- formats, escapes and key order would change.)

-- Index of the quote that closes the string opened at `i`, or nil.
local function string_end(s, i)
  local j = i + 1
  while true do
    j = string.find(s, '["\\]', j)
    if not j then return nil end
    if string.byte(s, j) == 34 then return j end
    j = j + 2
  end
end

-- Index of the last character of the JSON value that starts at `i`, or nil.
local function value_end(s, i)
  local c = string.byte(s, i)
  if c == 34 then return string_end(s, i) end
  if c == 123 or c == 91 then
    local depth, j = 0, i
    while true do
      j = string.find(s, '[%[%]{}"]', j)
      if not j then return nil end
      local d = string.byte(s, j)
      if d == 34 then
        j = string_end(s, j)
        if not j then return nil end
      elseif d == 123 or d == 91 then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then return j end
      end
      j = j + 1
    end
  end
  -- A number, true, false or null: up to the next delimiter.
  local j = string.find(s, '[,}%]%s]', i)
  if not j or j == i then return nil end
  return j - 1
end

-- The members of the JSON object `s` as a list of {raw key, raw value}, or nil if `s` is not an
-- object.
local function members(s)
  local list = {}
  local i = string.find(s, '%S')
  if not i or string.byte(s, i) ~= 123 then return nil end
  i = string.find(s, '%S', i + 1)
  if not i then return nil end
  if string.byte(s, i) == 125 then return list end
  while true do
    if string.byte(s, i) ~= 34 then return nil end
    local key_end = string_end(s, i)
    if not key_end then return nil end
    local colon = string.find(s, '%S', key_end + 1)
    if not colon or string.byte(s, colon) ~= 58 then return nil end
    local v = string.find(s, '%S', colon + 1)
    if not v then return nil end
    local v_end = value_end(s, v)
    if not v_end then return nil end
    list[#list + 1] = { string.sub(s, i, key_end), string.sub(s, v, v_end) }
    i = string.find(s, '%S', v_end + 1)
    if not i then return nil end
    local c = string.byte(s, i)
    if c == 125 then return list end
    if c ~= 44 then return nil end
    i = string.find(s, '%S', i + 1)
    if not i then return nil end
  end
end

-- The name a raw (quoted) key stands for.
local function key_name(raw)
  if not string.find(raw, '\\', 1, true) then return string.sub(raw, 2, -2) end
  return cjson.decode(raw)
end

-- The object text of a list of members.
local function join(list)
  local parts = {}
  for n, m in ipairs(list) do parts[n] = m[1] .. ':' .. m[2] end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The index of the member named `name`, or nil.
local function find(list, name)
  for n, m in ipairs(list) do
    if key_name(m[1]) == name then return n end
  end
  return nil
end

local function corrupt()
  return redis.error_reply('CORRUPT the stored session is not a JSON object')
end
