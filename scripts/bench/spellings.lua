-- wrk script: every request asks for the same window (since = the minute the driver was given,
-- limit 20000) but spells it differently (the offset, the fraction, the parameter order), as
-- different pages and clients would. With parameters parsed into the cache key, all of them are
-- one cached answer. Usage: wrk ... -s spellings.lua URL -- SINCE_EPOCH_SECONDS [ms]
-- With `ms`, each request's since is instead a different millisecond (what the page sent before
-- it rounded down to the minute): every request is a new window, built and gzipped anew.
local since
local unique_ms = false
local n = 0

function init(args)
  since = tonumber(args[1])
  unique_ms = args[2] == "ms"
end

local function rfc3339(t, offset_min, fraction)
  local local_t = t + offset_min * 60
  local s = os.date("!%Y-%m-%dT%H:%M:%S", local_t) .. fraction
  if offset_min == 0 then
    return s .. "Z"
  end
  local sign = offset_min < 0 and "-" or "%2B"
  local a = math.abs(offset_min)
  return s .. string.format("%s%02d:%02d", sign, math.floor(a / 60), a % 60)
end

local offsets = { 0, 60, -300, 330, 0, 540 }
local fractions = { "", ".000", ".000000", "" }

function request()
  n = n + 1
  local s
  if unique_ms then
    s = rfc3339(since, 0, string.format(".%03d", n % 1000)):gsub("Z$", "") .. string.format("%03dZ", math.floor(n / 1000) % 1000)
  else
    s = rfc3339(since, offsets[n % #offsets + 1], fractions[n % #fractions + 1])
  end
  local path
  if n % 2 == 0 then
    path = "/api/quakes?since=" .. s .. "&limit=20000"
  else
    path = "/api/quakes?limit=20000&since=" .. s
  end
  return wrk.format("GET", path)
end
