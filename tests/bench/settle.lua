-- wrk: POST /api/settlements as the demo settlement clerk, each request a new claim number for
-- one of the demo county's 5,000 persons. Arguments: cookie, CSRF token. Run with 2 threads.
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

-- Each thread settles its own half of the persons (threads never meet on a person), each
-- person's stays three days apart so that none overlaps the person's earlier one (the window
-- refuses an overlapping stay).
function request()
  counter = counter + 1
  local slot = (counter * 7) % 2500
  local person = slot * 2 + tid
  local stay = math.floor((counter - 1) / 2500)
  local admission = os.time({ year = 2024, month = 1, day = 1 + stay * 3, hour = 12 })
  local body = string.format(
    '{"claim_no":"W%d-%d","person_id":%d,"facility_code":"-","visit":"inpatient","admission":"%s",'
      .. '"discharge":"%s","diseases":[],"cat_a":%d,"cat_b":200000,"out_of_catalogue":50000,"necessary":10000}',
    tid, counter, person, os.date("%Y-%m-%d", admission), os.date("%Y-%m-%d", admission + 2 * 86400),
    1000000 + (counter % 997) * 100)
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
