--[[
  Counts one /api request of a client address in its fixed window (RATE_LIMIT_MAX, SPEC §13),
  shared by every process and instance (src/backends/redis/rate-limits.ts).

  Steps: INCR; when that made the key, or it somehow has no expiry, PEXPIRE it to the window;
  then the milliseconds left. One script, so no crash between INCR and PEXPIRE can leave a
  counter that never expires (an address blocked for ever). One key: it works on a cluster.

  Input:
    KEYS[1] the address's counter          <prefix>ratelimit:<address> (keys.ts: rateLimit)
    ARGV[1] the window in milliseconds

  Output:
    { the count after this request, the milliseconds left in the window }
]]
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
