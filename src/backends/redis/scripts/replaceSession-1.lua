--[[
  Replaces a session record only if it is still the one that was read, keeping its expiry
  (`admin sessions rewrap`, SPEC §11).

  Input:
    KEYS[1] the session key (keys.ts: session)
    ARGV[1] the record JSON as read
    ARGV[2] the new record JSON

  Output:
    1 replaced, 0 the record changed or went meanwhile
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
