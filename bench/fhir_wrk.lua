-- wrk script for bench/fhir.sh: one scenario per run, chosen by BENCH_SCENARIO.
--
--   BENCH_SCENARIO  read | search | create | crud | transaction | everything
--   BENCH_TOKEN     OAuth2 bearer token (client credentials, system/*.cruds)
--   BENCH_MANIFEST  manifest written by fhir-load (facility, years, codes, patients)
--
-- Every response is checked: a status other than the one the interaction must answer
-- (200 read/search/update/$everything, 201 create, 200 transaction) counts as an error,
-- per thread, summed in done(). done() prints one line "BENCHJSON {…}" for the driver.

local scenario = os.getenv("BENCH_SCENARIO") or "read"
local token = os.getenv("BENCH_TOKEN") or ""
local manifest = os.getenv("BENCH_MANIFEST") or ""
local everything_count = os.getenv("BENCH_EVERYTHING_COUNT") or ""

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- per-thread state -------------------------------------------------------------------
local persons, nobs, codes = {}, {}, {}
local first_year, last_year = 2016, 2025
-- globals: done() reads them from each thread with thread:get()
statuses, ops = {}, {}
hits, searches, empty = 0, 0, 0
-- crud: resources this thread created (id -> current version); ids not in flight
local pool, pool_n = {}, 0
local json_headers, get_headers

local function load_manifest()
  local f = assert(io.open(manifest, "r"), "cannot open manifest " .. manifest)
  for line in f:lines() do
    local kind, rest = line:match("^(%S+)%s+(.*)$")
    if kind == "patient" then
      local _, person, n = rest:match("^(%d+)%s+(%S+)%s+(%d+)$")
      table.insert(persons, person)
      table.insert(nobs, tonumber(n))
    elseif kind == "code" then
      table.insert(codes, rest)
    elseif kind == "years" then
      local a, b = rest:match("^(%d+)%s+(%d+)$")
      first_year, last_year = tonumber(a), tonumber(b)
    end
  end
  f:close()
  assert(#persons > 0, "manifest lists no patients")
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  load_manifest()
  get_headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/fhir+json" }
  json_headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Accept"] = "application/fhir+json",
    ["Content-Type"] = "application/fhir+json",
  }
end

local function count(t, k)
  t[k] = (t[k] or 0) + 1
end

local function pick_patient()
  local i = math.random(#persons)
  return i, persons[i]
end

local function urlenc(s)
  return (s:gsub("[^%w%-%._~:/]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function jst(y, mo, d, h, mi)
  return string.format("%04d-%02d-%02dT%02d:%02d:00+09:00", y, mo, d, h, mi)
end

local function observation_json(person, id, value)
  local code = codes[math.random(#codes)]
  local system, c = code:match("^(.*)|(.*)$")
  local y = math.random(first_year, last_year)
  local idpart = id and string.format('"id":"%s",', id) or ""
  return string.format(
    '{"resourceType":"Observation",%s"status":"final",' ..
    '"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],' ..
    '"code":{"coding":[{"system":"%s","code":"%s"}]},"subject":{"reference":"Patient/%s"},' ..
    '"effectiveDateTime":"%s","valueQuantity":{"value":%.1f,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}',
    idpart, system, c, person, jst(y, math.random(12), math.random(28), math.random(8, 17), math.random(0, 59)), value)
end

-- requests ---------------------------------------------------------------------------
local function read_req()
  local i = math.random(#persons)
  local k = math.random(nobs[i]) - 1
  count(ops, "read")
  return wrk.format("GET", string.format("/fhir/Observation/bench-obs-%d-%d", i - 1, k), get_headers)
end

local function search_req()
  local _, person = pick_patient()
  local code = codes[math.random(#codes)]
  local y = math.random(first_year, last_year - 1)
  local m = math.random(12)
  count(ops, "search")
  local path = string.format(
    "/fhir/Observation?patient=Patient/%s&code=%s&date=ge%04d-%02d-01&date=lt%04d-%02d-01",
    person, urlenc(code), y, m, y + 1, m)
  return wrk.format("GET", path, get_headers)
end

local function create_req()
  local _, person = pick_patient()
  count(ops, "create")
  return wrk.format("POST", "/fhir/Observation", json_headers, observation_json(person, nil, math.random() * 100))
end

local function update_req()
  -- a resource this thread created and is not updating right now
  if pool_n == 0 then return create_req() end
  local id, entry = next(pool)
  pool[id] = nil
  pool_n = pool_n - 1
  count(ops, "update")
  local h = {
    ["Authorization"] = json_headers["Authorization"],
    ["Accept"] = "application/fhir+json",
    ["Content-Type"] = "application/fhir+json",
    ["If-Match"] = string.format('W/"%d"', entry.version),
  }
  return wrk.format("PUT", "/fhir/Observation/" .. id, h, observation_json(entry.person, id, math.random() * 100))
end

local function transaction_req()
  local _, person = pick_patient()
  local y = math.random(first_year, last_year)
  local at = jst(y, math.random(12), math.random(28), 9, 30)
  local enc = string.format("urn:uuid:%08x-0000-4000-8000-%012x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  local entries = {}
  entries[1] = string.format(
    '{"fullUrl":"%s","resource":{"resourceType":"Encounter","status":"finished",' ..
    '"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},' ..
    '"subject":{"reference":"Patient/%s"},"period":{"start":"%s"}},"request":{"method":"POST","url":"Encounter"}}',
    enc, person, at)
  for n = 2, 100 do
    local code = codes[(n % #codes) + 1]
    local system, c = code:match("^(.*)|(.*)$")
    entries[n] = string.format(
      '{"resource":{"resourceType":"Observation","status":"final",' ..
      '"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],' ..
      '"code":{"coding":[{"system":"%s","code":"%s"}]},"subject":{"reference":"Patient/%s"},"encounter":{"reference":"%s"},' ..
      '"effectiveDateTime":"%s","valueQuantity":{"value":%.1f,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}},' ..
      '"request":{"method":"POST","url":"Observation"}}',
      system, c, person, enc, at, math.random() * 100)
  end
  count(ops, "transaction")
  local body = '{"resourceType":"Bundle","type":"transaction","entry":[' .. table.concat(entries, ",") .. ']}'
  return wrk.format("POST", "/fhir", json_headers, body)
end

local function everything_req()
  local _, person = pick_patient()
  count(ops, "everything")
  local q = everything_count ~= "" and ("?_count=" .. everything_count) or ""
  return wrk.format("GET", "/fhir/Patient/" .. person .. "/$everything" .. q, get_headers)
end

-- CRUD mix: 50 % read, 20 % create, 20 % update (If-Match), 10 % search
local function crud_req()
  local r = math.random(100)
  if r <= 50 then return read_req()
  elseif r <= 70 then return create_req()
  elseif r <= 90 then return update_req()
  else return search_req() end
end

local builders = {
  read = read_req, search = search_req, create = create_req, crud = crud_req,
  transaction = transaction_req, everything = everything_req,
}
local build = assert(builders[scenario], "unknown BENCH_SCENARIO " .. scenario)

function request()
  return build()
end

-- responses --------------------------------------------------------------------------
local ok_status = { [200] = true, [201] = true }

function response(status, headers, body)
  count(statuses, tostring(status))
  if scenario == "search" or scenario == "crud" then
    local total = body and body:match('^{"resourceType":"Bundle".-"total":(%d+)')
    if total then
      searches = searches + 1
      hits = hits + tonumber(total)
      if total == "0" then empty = empty + 1 end
    end
  end
  if scenario == "crud" and ok_status[status] then
    local loc = headers["Location"] or headers["location"]
    if loc then
      local id, v = loc:match("/Observation/([^/]+)/_history/(%d+)$")
      if id then
        local person = body and body:match('"subject":{"reference":"Patient/([^"]+)"')
        if pool[id] == nil then pool_n = pool_n + 1 end
        pool[id] = { version = tonumber(v), person = person or persons[1] }
      end
    end
  end
end

-- summary ----------------------------------------------------------------------------
local function merge(into, from)
  for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end

local function json_obj(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format('"%s":%d', k, v)) end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local all_status, all_ops = {}, {}
  local s_hits, s_searches, s_empty = 0, 0, 0
  for _, t in ipairs(threads) do
    merge(all_status, t:get("statuses"))
    merge(all_ops, t:get("ops"))
    s_hits = s_hits + (t:get("hits") or 0)
    s_searches = s_searches + (t:get("searches") or 0)
    s_empty = s_empty + (t:get("empty") or 0)
  end
  local bad = 0
  for st, n in pairs(all_status) do
    if not ok_status[tonumber(st)] then bad = bad + n end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  print(string.format(
    'BENCHJSON {"scenario":"%s","requests":%d,"seconds":%.2f,"rps":%.1f,"mean_ms":%.2f,' ..
    '"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"bytes":%d,' ..
    '"bad_status":%d,"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"statuses":%s,"ops":%s,"searches":%d,"search_hits_mean":%.2f,"search_empty":%d}',
    scenario, summary.requests, secs, summary.requests / secs, latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.bytes, bad, e.connect, e.read, e.write, e.timeout,
    json_obj(all_status), json_obj(all_ops), s_searches,
    s_searches > 0 and s_hits / s_searches or 0, s_empty))
end
