-- wrk script for the flood (benchmarks/measure.py flood, run with one thread): every request
-- carries a credential never sent before (user flood-<n>, a random password; with BENCH_FLOOD_USER,
-- every other one is a wrong guess for that name: the cached user's own, whose guess budget it spends). After
-- BENCH_FLOOD_TOTAL answers it prints one BENCH_JSON line (answers, status counts, seconds)
-- and ends wrk at once: wrk itself would idle until its -d duration.
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({"", "==", "="})[#data % 3 + 1])
end

local total = tonumber(os.getenv("BENCH_FLOOD_TOTAL") or "20000")
local target = os.getenv("BENCH_FLOOD_USER") or ""
local sent, answered, statuses, started = 0, 0, {}, nil

function init(args)
  math.randomseed(os.time())
  started = os.time()
end

function request()
  sent = sent + 1
  local user = (target ~= "" and sent % 2 == 0) and target or string.format("flood-%d", sent)
  local credential = string.format("%s:%08x%08x", user, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  return wrk.format("GET", nil, {Authorization = "Basic " .. base64(credential)})
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered >= total then
    local parts = {}
    for code, n in pairs(statuses) do table.insert(parts, string.format('"%d":%d', code, n)) end
    io.write(string.format('BENCH_JSON {"requests":%d,"sent":%d,"statuses":{%s},"seconds":%d}\n',
      answered, sent, table.concat(parts, ","), os.time() - started))
    io.flush()
    os.exit(0)
  end
end
