-- Apply one shard's batch atomically, fenced by the Kafka offsets it covers.
-- KEYS: every key the batch touches; KEYS[1] is the shard's offsets hash.
-- ARGV[1]: the batch as JSON; numbers travel as strings so nothing is rounded.
-- ARGV[2..]: binary strings the batch refers to by index (packed event-id fingerprints).
local b = cjson.decode(ARGV[1])

-- 1. Fence: the batch was computed from a state that had seen offsets up to f[2]
--    ('' = none). Redis must hold exactly that: more means already applied (redelivery,
--    or a zombie worker that lost the partition); less means Redis lost writes. Either
--    way apply nothing and say what Redis holds.
for _, f in ipairs(b.fence) do
  local stored = redis.call('HGET', KEYS[1], f[1]) or ''
  if stored ~= f[2] then
    return {0, f[1], stored}
  end
end

-- 2. Counters and states.
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

for _, op in ipairs(b.hincr) do redis.call('HINCRBY', KEYS[tonumber(op[1])], op[2], op[3]) end
for _, op in ipairs(b.hset) do redis.call('HSET', KEYS[tonumber(op[1])], op[2], op[3]) end
for _, op in ipairs(b.zincr) do redis.call('ZINCRBY', KEYS[tonumber(op[1])], op[3], op[2]) end
for _, op in ipairs(b.zadd) do redis.call('ZADD', KEYS[tonumber(op[1])], op[3], op[2]) end
for _, op in ipairs(b.sadd) do chunked('SADD', KEYS[tonumber(op[1])], op[2], 1000) end
for _, op in ipairs(b.pfadd) do chunked('PFADD', KEYS[tonumber(op[1])], op[2], 1000) end
for _, op in ipairs(b.append) do redis.call('APPEND', KEYS[tonumber(op[1])], ARGV[op[2]]) end
for _, op in ipairs(b.srem) do chunked('SREM', KEYS[tonumber(op[1])], op[2], 1000) end
for _, op in ipairs(b['del']) do redis.call('DEL', KEYS[tonumber(op[1])]) end
for _, op in ipairs(b.expireat) do redis.call('EXPIREAT', KEYS[tonumber(op[1])], op[2]) end

-- 3. Record the offsets this batch covers, in the same transaction as its counters.
for _, f in ipairs(b.fence) do redis.call('HSET', KEYS[1], f[1], f[3]) end

-- 4. Tell the read side something changed.
if b.publish then redis.call('PUBLISH', b.publish[1], b.publish[2]) end
return {1}
