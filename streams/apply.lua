-- Apply one shard's batch atomically, fenced by the Kafka offsets it covers.
-- KEYS: every key the batch touches; KEYS[1] is the shard's offsets hash, KEYS[2] the
--   shard's stop mark (a hash that exists only after a failed apply).
-- ARGV[1]: the batch as JSON; numbers travel as strings so nothing is rounded.
-- ARGV[2..]: binary strings the batch refers to by index (packed event-id fingerprints).
--
-- Redis does not roll back a script that fails after it wrote, so every check runs
-- before the first write (steps 1 and 2). Should a write still fail, step 3 marks the
-- shard stopped inside the same script, and no worker applies to it again until the
-- mark is gone (a rebuild removes it): a batch is never applied twice.
local b = cjson.decode(ARGV[1])

-- 1. Fence: the batch was computed from a state that had seen offsets up to f[2]
--    ('' = none), and it starts at f[4]. Redis must hold exactly f[2]: more means
--    already applied (redelivery, or a zombie worker that lost the partition); less
--    means Redis lost writes. The batch must start right after it, unless the worker
--    read the partition again and found the offsets in between hold no records
--    (f[5] = 1). Otherwise apply nothing and say what Redis holds.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('OCOP_STOPPED shard is marked stopped: ' ..
    (redis.call('HGET', KEYS[2], 'error') or '?'))
end
for _, f in ipairs(b.fence) do
  local stored = redis.call('HGET', KEYS[1], f[1]) or ''
  if stored ~= f[2] then
    return {0, f[1], stored}
  end
  local expected = 0
  if stored ~= '' then expected = tonumber(stored) + 1 end
  if tonumber(f[4]) ~= expected and f[5] ~= '1' then
    return {0, f[1], stored}
  end
end

-- 2. Checks: each key has the type the batch writes (or does not exist yet), and every
--    counter stays an exact integer (Lua numbers are doubles: exact below 2^53).
local LIMIT = 9007199254740991
for index, kind in pairs(b.types) do
  local key = KEYS[tonumber(index)]
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= kind then
    return redis.error_reply('OCOP_PRECHECK key ' .. key .. ' is a ' .. found ..
      ', the batch writes a ' .. kind)
  end
  if kind == 'string' and found == 'string' and b.hll[index] then
    if redis.call('GETRANGE', key, 0, 3) ~= 'HYLL' then
      return redis.error_reply('OCOP_PRECHECK key ' .. key .. ' is not a HyperLogLog')
    end
  end
end
for _, op in ipairs(b.hincr) do
  local key = KEYS[tonumber(op[1])]
  local current = redis.call('HGET', key, op[2]) or '0'
  if not string.match(current, '^%-?%d+$') then
    return redis.error_reply('OCOP_PRECHECK field ' .. op[2] .. ' of ' .. key ..
      ' is not an integer: ' .. string.sub(current, 1, 40))
  end
  local sum = tonumber(current) + tonumber(op[3])
  if sum > LIMIT or sum < -LIMIT then
    return redis.error_reply('OCOP_PRECHECK field ' .. op[2] .. ' of ' .. key ..
      ' would leave the exact integer range')
  end
end

-- 3. Counters and states, then the offsets this batch covers, in the same transaction.
local function chunked(cmd, key, items, width)
  local args = {}
  for i = 1, #items do
    args[#args + 1] = items[i]
    if #args >= width then
      redis.call(cmd, key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call(cmd, key, unpack(args)) end
end

local function writes()
  for _, op in ipairs(b.hincr) do redis.call('HINCRBY', KEYS[tonumber(op[1])], op[2], op[3]) end
  for _, op in ipairs(b.hset) do redis.call('HSET', KEYS[tonumber(op[1])], op[2], op[3]) end
  for _, op in ipairs(b.hdel) do chunked('HDEL', KEYS[tonumber(op[1])], op[2], 1000) end
  for _, op in ipairs(b.zincr) do redis.call('ZINCRBY', KEYS[tonumber(op[1])], op[3], op[2]) end
  for _, op in ipairs(b.zadd) do redis.call('ZADD', KEYS[tonumber(op[1])], op[3], op[2]) end
  for _, op in ipairs(b.sadd) do chunked('SADD', KEYS[tonumber(op[1])], op[2], 1000) end
  for _, op in ipairs(b.pfadd) do chunked('PFADD', KEYS[tonumber(op[1])], op[2], 1000) end
  for _, op in ipairs(b.append) do redis.call('APPEND', KEYS[tonumber(op[1])], ARGV[op[2]]) end
  for _, op in ipairs(b.srem) do chunked('SREM', KEYS[tonumber(op[1])], op[2], 1000) end
  for _, op in ipairs(b['del']) do redis.call('DEL', KEYS[tonumber(op[1])]) end
  for _, op in ipairs(b.expireat) do redis.call('EXPIREAT', KEYS[tonumber(op[1])], op[2]) end
  for _, f in ipairs(b.fence) do redis.call('HSET', KEYS[1], f[1], f[3]) end
end

local ok, err = pcall(writes)
if not ok then
  local text = type(err) == 'table' and (err.err or cjson.encode(err)) or tostring(err)
  redis.call('HSET', KEYS[2], 'error', text, 'batch', cjson.encode(b.fence))
  return redis.error_reply('OCOP_PARTIAL ' .. text)
end

-- The read side sees the offsets move (it polls them: web/hub.py).
return {1}
