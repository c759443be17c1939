-- Version guard, kept tiny so that plugin/ragls.lua can load it at startup.
local M = {}

M.minimum = { major = 0, minor = 10, patch = 0 }

--- Whether a Neovim version is supported.
--- @param v? {major: integer, minor: integer, patch: integer} defaults to the running Neovim
--- @return boolean ok, string? message
function M.check(v)
  v = v or vim.version()
  local min = M.minimum
  if v.major > min.major or (v.major == min.major and v.minor >= min.minor) then
    return true
  end
  return false,
    string.format(
      'ragls.nvim needs Neovim %d.%d or newer (this is %d.%d.%d)',
      min.major,
      min.minor,
      v.major,
      v.minor,
      v.patch or 0
    )
end

return M
