-- Pop up to ARGV[1] ids across the lanes in KEYS, in order: strict priority.
-- Returns a flat list: id1, lane index1, id2, lane index2, ... (0 = high).
-- KEYS: <prefix>agent_high, <prefix>agent_medium, <prefix>agent_low
-- Lanes are lists: producers LPUSH at the head, consumers take from the tail (FIFO).
local want = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
    if want <= 0 then break end
    local got = redis.call('RPOP', KEYS[i], want)
    if got then
        for _, id in ipairs(got) do
            out[#out + 1] = id
            out[#out + 1] = i - 1
        end
        want = want - #got
    end
end
return out
