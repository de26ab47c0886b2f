-- wrk: POST /api/settlements as the demo settlement clerk, each request a new claim number for
-- one of the demo county's 5,000 persons. Arguments: cookie, CSRF token.
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  cookie = args[1]
  csrf = args[2]
  failures = 0
end

function request()
  counter = counter + 1
  local person = (counter * 7 + tid) % 5000 + 1
  local body = string.format(
    '{"claim_no":"W%d-%d","person_id":%d,"facility_code":"-","visit":"inpatient","admission":"2025-03-01",'
      .. '"discharge":"2025-03-05","diseases":[],"cat_a":%d,"cat_b":200000,"out_of_catalogue":50000,"necessary":10000}',
    tid, counter, person, 1000000 + (counter % 997) * 100)
  return wrk.format("POST", "/api/settlements",
    { ["Content-Type"] = "application/json", ["Cookie"] = cookie, ["X-CSRF-Token"] = csrf }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures <= 3 then print("unexpected status " .. status .. ": " .. body) end
  end
end

function done(summary, latency, requests)
  io.write(string.format("requests: %d, errors: %d (non-2xx counted by wrk: %d)\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
  io.write(string.format("throughput: %.0f settlements/s\n", summary.requests / (summary.duration / 1e6)))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%s: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
