-- POST /heartbeat, cycling over the JSON bodies listed one per line in the file given as first argument.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local report = require("report")
local bodies = {}
local next_index = 1
local threads_seen = 0

-- Runs in the main state: give each thread its own starting point in the list.
function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("start", threads_seen * 7919)
end
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  next_index = (start or 0) % #bodies + 1
end

function request()
  next_index = next_index % #bodies + 1
  return wrk.format("POST", "/heartbeat", headers, bodies[next_index])
end

done = report.done
