-- wrk script of the load comparison: sends the session cookie given in $BENCH_COOKIE (if any) and,
-- when the run is done, writes its summary as one JSON object to the file named by $BENCH_JSON.
-- Latencies are in microseconds.

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

function done(summary, latency, requests)
  local path = os.getenv("BENCH_JSON")
  if path == nil or path == "" then
    return
  end
  local e = summary.errors
  local out = assert(io.open(path, "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  out:close()
end
