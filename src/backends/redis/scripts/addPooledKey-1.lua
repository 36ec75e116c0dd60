--[[
  Adds one pre-generated key pair to the shared key pool (issue 15), unless the pool already
  holds its limit: count and push in one step, so processes filling at once never overshoot.

  Input:
    KEYS[1] the pool's list                <prefix>#keypool:<bits>

    ARGV[1] the limit (KEY_POOL_SIZE)
    ARGV[2] the entry (JSON: public_key, private_key, wrap)

  Output:
     1  added
     0  the pool is full: nothing added
]]
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[2])
return 1
