--[[
  Takes or renews the webhook dispatcher's lease, so one process of all instances delivers at a time.

  Input:
    KEYS[1] the lease                     <prefix>{sms-log}:webhook-lease

    ARGV[1] the claimant's id (random per process)
    ARGV[2] the lease's length in ms

  Output:
    1  held by the claimant until ARGV[2] ms from now
    0  held by another
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
