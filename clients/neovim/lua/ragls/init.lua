-- ragls.nvim: setup and the client helpers shared by the commands.
local M = {}

local defaults = {
  -- the server command; `ragls --stdio` from $PATH (e.g. `pipx install ragls`)
  cmd = nil,
  filetypes = nil,
  root_markers = nil,
  -- ragls settings (docs/protocol.md "Settings"), sent as initializationOptions and answered for
  -- `workspace/configuration` section "ragls"
  settings = {},
  -- where :RaglsSearch / :RaglsRelated put their results: "auto" (Telescope when installed, else
  -- the quickfix list), "quickfix", "select" (vim.ui.select) or "telescope"
  picker = 'auto',
  -- number of results of :RaglsSearch and :RaglsRelated
  limit = 20,
  -- float of :RaglsExplain / :RaglsAsk
  float = { width = 0.6, height = 0.6, border = 'rounded' },
  -- false: only define the configuration, do not start the server (vim.lsp.enable it yourself)
  autostart = true,
}

M.options = vim.deepcopy(defaults)

--- The plain config of lsp/ragls.lua (cmd, filetypes, root_markers).
function M.base_config()
  local ok, base = pcall(dofile, vim.api.nvim_get_runtime_file('lsp/ragls.lua', false)[1] or '')
  if ok and type(base) == 'table' then
    return vim.deepcopy(base)
  end
  return { cmd = { 'ragls', '--stdio' }, filetypes = { 'python' }, root_markers = { '.raglsignore', '.git' } }
end

--- The server configuration setup() gives to Neovim.
function M.lsp_config()
  local base = M.base_config()
  local o = M.options
  local settings = o.settings or {}
  return {
    cmd = o.cmd or base.cmd,
    filetypes = o.filetypes or base.filetypes,
    root_markers = o.root_markers or base.root_markers,
    init_options = next(settings) and settings or vim.empty_dict(),
    settings = { ragls = next(settings) and settings or vim.empty_dict() },
    handlers = { ['$/progress'] = require('ragls.ui').client_progress_handler },
  }
end

local augroup

--- Configure ragls and start it for the configured filetypes.
--- @param opts? table see :help ragls-setup
function M.setup(opts)
  local ok, message = require('ragls.compat').check()
  if not ok then
    vim.notify(message, vim.log.levels.ERROR)
    return
  end
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  local config = M.lsp_config()
  require('ragls.ui').install_progress_handler()
  if vim.lsp.config and vim.lsp.enable then
    -- Neovim 0.11+: merged with lsp/ragls.lua (and nvim-lspconfig's, if any)
    vim.lsp.config('ragls', config)
    if M.options.autostart then
      vim.lsp.enable('ragls')
    end
    return
  end
  -- Neovim 0.10: start (or reuse) a client on FileType
  augroup = vim.api.nvim_create_augroup('ragls', { clear = true })
  if not M.options.autostart then
    return
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    pattern = config.filetypes,
    callback = function(args)
      if vim.bo[args.buf].buftype ~= '' then
        return
      end
      local root = vim.fs.root(args.buf, config.root_markers)
      vim.lsp.start({
        name = 'ragls',
        cmd = config.cmd,
        root_dir = root,
        init_options = config.init_options,
        settings = config.settings,
        handlers = config.handlers,
      }, { bufnr = args.buf })
    end,
  })
end

--- The ragls client of a buffer (else any ragls client), or nil.
--- @param bufnr? integer
--- @param any? boolean fall back to a client of another buffer
function M.client(bufnr, any)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get({ name = 'ragls', bufnr = bufnr or vim.api.nvim_get_current_buf() })
  if not clients[1] and any then
    clients = get({ name = 'ragls' })
  end
  return clients[1]
end

local has_011 = vim.fn.has('nvim-0.11') == 1

--- Call a client method: 0.11 has methods (`client:request(...)`), 0.10 plain functions
--- (`client.request(...)`).
local function call(client, method, ...)
  if has_011 then
    return client[method](client, ...)
  end
  return client[method](...)
end

function M.request(client, method, params, handler, bufnr)
  return call(client, 'request', method, params, handler, bufnr)
end

function M.cancel(client, id)
  return call(client, 'cancel_request', id)
end

function M.request_sync(client, method, params, timeout, bufnr)
  return call(client, 'request_sync', method, params, timeout, bufnr)
end

return M
