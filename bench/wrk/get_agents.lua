-- GET /agents: the whole mesh in one answer.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local report = require("report")

function request()
  return wrk.format("GET", "/agents")
end

done = report.done
