-- Move delayed ids into their lanes, once: only the caller whose ZREM removed the timer pushes.
-- KEYS[1]: <prefix>agent_delayed (sorted set, score = Unix time the task is due)
-- KEYS[2..4]: <prefix>agent_high, <prefix>agent_medium, <prefix>agent_low
-- ARGV: id1, rank1, id2, rank2, ... (rank 0 = high, 1 = medium, 2 = low)
local moved = 0
for i = 1, #ARGV, 2 do
    if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
        redis.call('LPUSH', KEYS[2 + tonumber(ARGV[i + 1])], ARGV[i])
        moved = moved + 1
    end
end
return moved
