-- Every key of the database with its type, whether it expires and a digest
-- of its value, sorted; returns the key count, the expiring key count and
-- the SHA-1 of it all.
local keys = redis.call('KEYS', '*')
table.sort(keys)
local lines, expiring = {}, 0
for _, key in ipairs(keys) do
  local kind = redis.call('TYPE', key)['ok']
  local value
  if kind == 'string' then
    value = redis.call('GET', key)
  elseif kind == 'list' then
    value = table.concat(redis.call('LRANGE', key, 0, -1), '\n')
  elseif kind == 'set' then
    local members = redis.call('SMEMBERS', key)
    table.sort(members)
    value = table.concat(members, '\n')
  elseif kind == 'hash' then
    local fields = redis.call('HGETALL', key)
    local entries = {}
    for i = 1, #fields, 2 do entries[#entries + 1] = fields[i] .. '=' .. fields[i + 1] end
    table.sort(entries)
    value = table.concat(entries, '\n')
  elseif kind == 'zset' then
    value = table.concat(redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'), '\n')
  else
    value = redis.call('DUMP', key)
  end
  local expires = redis.call('PTTL', key) > 0
  if expires then expiring = expiring + 1 end
  lines[#lines + 1] = key .. '\t' .. kind .. '\t' .. tostring(expires) .. '\t' .. redis.sha1hex(value)
end
local count = #keys
return {count, expiring, redis.sha1hex(table.concat(lines, '\n'))}
