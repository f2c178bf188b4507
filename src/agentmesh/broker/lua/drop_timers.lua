-- Remove timers that are still at the score the caller saw.
-- KEYS[1]: <prefix>agent_delayed; ARGV: id1, score1, id2, score2, ...
local dropped = 0
for i = 1, #ARGV, 2 do
    local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if current and tonumber(current) == tonumber(ARGV[i + 1]) then
        dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i])
    end
end
return dropped
