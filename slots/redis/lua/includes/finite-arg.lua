-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).

-- ARGV[i] as a number; an error naming the script and the argument when it is not a finite one.
-- A script that fails half way keeps what it wrote, so scripts check their arguments before
-- any acts.
local function finite_arg(script, i)
  local n = tonumber(ARGV[i])
  if not n or n ~= n or n == math.huge or n == -math.huge then
    error(script .. ': ARGV[' .. i .. '] is not a finite number: ' .. tostring(ARGV[i]))
  end
  return n
end
