-- :checkhealth ragls
local M = {}

local health = vim.health

local function configured_cmd()
  local config = vim.lsp.config and vim.lsp.config.ragls
  if config and config.cmd and type(config.cmd) == 'table' then
    return config.cmd
  end
  return require('ragls').lsp_config().cmd
end

function M.check()
  health.start('ragls: Neovim')
  local ok, message = require('ragls.compat').check()
  local v = vim.version()
  if ok then
    health.ok(string.format('Neovim %d.%d.%d', v.major, v.minor, v.patch))
  else
    health.error(message)
  end

  health.start('ragls: server')
  local cmd = configured_cmd()
  if type(cmd) ~= 'table' then
    health.info('cmd is a function; not checked')
  elseif vim.fn.executable(cmd[1]) ~= 1 then
    health.error(string.format('`%s` is not executable', cmd[1]), {
      'Install the server: `pipx install ragls` (or `pip install ragls` in a virtual environment)',
      "Or point the plugin at it: require('ragls').setup({ cmd = { '/path/to/ragls', '--stdio' } })",
    })
  else
    local exe = vim.fn.exepath(cmd[1])
    local spawned, done = pcall(function()
      return vim.system({ exe, '--version' }, { text = true }):wait(20000)
    end)
    if not spawned then
      health.error(string.format('`%s --version` could not run: %s', exe, tostring(done)))
    elseif done.code == 0 then
      health.ok(string.format('`%s --version`: %s', exe, vim.trim(done.stdout or '')))
    else
      health.error(string.format('`%s --version` failed (exit %s): %s', exe, tostring(done.code), vim.trim(done.stderr or '')))
    end
  end

  health.start('ragls: clients')
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get({ name = 'ragls' })
  if #clients == 0 then
    health.warn('no ragls client is running', { 'Open a supported file inside a workspace; see :help ragls-setup' })
    return
  end
  for _, client in ipairs(clients) do
    local response = require('ragls').request_sync(client, 'ragls/status', vim.empty_dict(), 5000)
    if not response or response.err then
      health.error(string.format('client %d: ragls/status failed: %s', client.id, response and response.err.message or 'timeout'))
    else
      local s = response.result
      local text = string.format(
        'client %d (%s): %s, %d files, %d chunks, model %s%s',
        client.id,
        client.root_dir or 'no root',
        s.state,
        s.files or 0,
        s.chunks or 0,
        s.model or '?',
        s.message and (': ' .. s.message) or ''
      )
      if s.state == 'error' then
        health.error(text)
      elseif s.state == 'ready' then
        health.ok(text)
      else
        health.info(text)
      end
    end
  end
end

return M
