-- POST /heartbeat where every post changes the agent's payload: the file given as first argument holds
-- two lines per agent (its heartbeat, then the same agent after a deploy: a new version and one more
-- tool). Each thread owns the agents whose index modulo the thread count (second argument) is its own
-- number, posts them in turn, and switches every agent to its other version on each pass, so no agent
-- is ever posted twice in a row with the same body.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local report = require("report")
local versions = {}  -- versions[k] = { base, changed } for this thread's k-th agent
local position = 0
local pass = 0
local threads_seen = 0

function setup(thread)
  thread:set("number", threads_seen)
  threads_seen = threads_seen + 1
end
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local threads = tonumber(args[2])
  local line_number, pending = 0, nil
  for line in io.lines(args[1]) do
    local agent = math.floor(line_number / 2)
    if line_number % 2 == 0 then
      pending = line
    elseif agent % threads == number then
      versions[#versions + 1] = { pending, line }
    end
    line_number = line_number + 1
  end
end

function request()
  position = position + 1
  if position > #versions then
    position, pass = 1, pass + 1
  end
  -- The first pass posts the changed version (the mesh was registered with the base one).
  local body = versions[position][(pass % 2 == 0) and 2 or 1]
  return wrk.format("POST", "/heartbeat", headers, body)
end

done = report.done
