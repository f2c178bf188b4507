-- Move delayed ids into their lanes, once, and only if the timer is still the one the caller saw.
-- KEYS[1]: <prefix>agent_delayed (sorted set, score = Unix time the task is due)
-- KEYS[2..4]: <prefix>agent_high, <prefix>agent_medium, <prefix>agent_low
-- ARGV: id1, score1, rank1, id2, score2, rank2, ... (rank 0 = high, 1 = medium, 2 = low)
-- A timer whose score changed was set again by a later failure of the same task: leave it.
local moved = 0
for i = 1, #ARGV, 3 do
    local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if current and tonumber(current) == tonumber(ARGV[i + 1]) then
        redis.call('ZREM', KEYS[1], ARGV[i])
        redis.call('LPUSH', KEYS[2 + tonumber(ARGV[i + 2])], ARGV[i])
        moved = moved + 1
    end
end
return moved
