-- wrk script: cold page views. Each connection requests, in turn, every file a first visit loads
-- (QS_PATHS, space-separated, the page's list request last), as a browser would ask for them:
-- Accept-Encoding br and gzip, no validators. Run by cold-views.sh; views/s = requests/s / #paths.
-- QS_UNIQUE_SINCE=1 gives every list request its own millisecond `since` (the page before issue 11).
local paths = {}
for p in string.gmatch(os.getenv("QS_PATHS") or "/", "%S+") do paths[#paths + 1] = p end
local unique = os.getenv("QS_UNIQUE_SINCE") == "1"
local i = 0
local n = 0

function request()
  i = i % #paths + 1
  local path = paths[i]
  if unique and path:find("since=") then
    n = n + 1
    path = path:gsub("00Z&", string.format("%02d.%03dZ&", math.floor(n / 1000) % 60, n % 1000), 1)
  end
  return wrk.format("GET", path, { ["Accept-Encoding"] = "br, gzip" })
end

function done(summary, latency, requests)
  local views = summary.requests / #paths
  local secs = summary.duration / 1e6
  io.write(string.format("paths per view: %d\nviews: %d in %.1f s = %.0f views/s\nbytes per view: %.0f\nerrors: %d connect, %d read, %d status\n",
    #paths, views, secs, views / secs, summary.bytes / views, summary.errors.connect, summary.errors.read, summary.errors.status))
end
