--[[
  Moves a consumer's bookmark forward only (SPEC §9): compare and set in one step, so two
  concurrent PUTs can never leave it further back than either asked.

  Input:
    KEYS[1] the bookmarks hash            <prefix>{sms-log}:consumers

    ARGV[1] the consumer's name
    ARGV[2] the new position (a sequence number)

  Output:
     1  moved
     0  already there
    -1  refused: the bookmark is past that position
]]
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local wanted = tonumber(ARGV[2])
if current ~= nil and current > wanted then
  return -1
end
if current == wanted then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
