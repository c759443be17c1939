-- The :Ragls* commands.
local ragls = require('ragls')
local ui = require('ragls.ui')

local M = {}

local function notify(message, level)
  vim.notify('ragls: ' .. message, level or vim.log.levels.INFO)
end

local function need_client(bufnr, any)
  local client = ragls.client(bufnr, any)
  if not client then
    notify('no ragls client is running here (open a supported file in a workspace; see :help ragls-setup)', vim.log.levels.ERROR)
  end
  return client
end

local function show_error(err)
  if err and err.code ~= -32800 then
    notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
  end
end

-- UTF-16 column of a Result's position -> byte column (1-based) in its file
local file_lines = {}
local function byte_col(fname, position, encoding)
  local line
  local bufnr = vim.fn.bufnr(fname)
  if bufnr ~= -1 and vim.api.nvim_buf_is_loaded(bufnr) then
    line = vim.api.nvim_buf_get_lines(bufnr, position.line, position.line + 1, false)[1]
  else
    file_lines[fname] = file_lines[fname] or (vim.fn.filereadable(fname) == 1 and vim.fn.readfile(fname) or {})
    line = file_lines[fname][position.line + 1]
  end
  if not line or encoding == 'utf-8' then
    return position.character + 1
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, position.character, false)
  if not ok then -- Neovim 0.10 signature
    ok, col = pcall(vim.str_byteindex, line, position.character, encoding == 'utf-16')
  end
  return (ok and col or position.character) + 1
end

--- Quickfix items of a list of Results, best first.
function M.to_items(results, encoding)
  file_lines = {}
  local items = {}
  for _, r in ipairs(results) do
    local fname = vim.uri_to_fname(r.uri)
    local start = (r.selectionRange or r.range).start
    local text = string.format('%s (%s%s)', r.name, r.kind, r.score and string.format(', %.2f', r.score) or '')
    table.insert(items, {
      filename = fname,
      lnum = start.line + 1,
      col = byte_col(fname, start, encoding),
      end_lnum = r.range['end'].line + 1,
      text = text,
      user_data = r,
    })
  end
  return items
end

-- "auto" picks Telescope (when installed) only where `auto_telescope` is true
local function picker(auto_telescope)
  local choice = ragls.options.picker or 'auto'
  if choice == 'auto' then
    return (auto_telescope and pcall(require, 'telescope')) and 'telescope' or 'quickfix'
  end
  return choice
end

local function jump(item)
  vim.cmd.edit(vim.fn.fnameescape(item.filename))
  vim.api.nvim_win_set_cursor(0, { item.lnum, math.max(item.col - 1, 0) })
end

--- Show results in the quickfix list, vim.ui.select or Telescope.
--- @param how? string "quickfix", "select" or "telescope"; default: the `picker` option
--- @param auto_telescope boolean whether picker "auto" may choose Telescope
function M.show_results(title, results, encoding, auto_telescope, how)
  if #results == 0 then
    notify(title .. ': nothing found', vim.log.levels.WARN)
    return
  end
  local items = M.to_items(results, encoding)
  how = how or picker(auto_telescope)
  if how == 'telescope' and pcall(require, 'telescope') then
    local pickers = require('telescope.pickers')
    local finders = require('telescope.finders')
    local conf = require('telescope.config').values
    local make_entry = require('telescope.make_entry')
    pickers
      .new({}, {
        prompt_title = title,
        finder = finders.new_table({ results = items, entry_maker = make_entry.gen_from_quickfix({}) }),
        previewer = conf.qflist_previewer({}),
        sorter = conf.generic_sorter({}),
      })
      :find()
    return
  end
  if how == 'select' then
    vim.ui.select(items, {
      prompt = title,
      format_item = function(item)
        return string.format('%s  %s:%d', item.text, vim.fn.fnamemodify(item.filename, ':~:.'), item.lnum)
      end,
    }, function(item)
      if item then
        jump(item)
      end
    end)
    return
  end
  vim.fn.setqflist({}, ' ', { title = title, items = items })
  vim.cmd('botright copen')
end

function M.search(args)
  local query = type(args) == 'table' and args.args or args
  if not query or query == '' then
    notify('usage: :RaglsSearch {query}', vim.log.levels.ERROR)
    return
  end
  local client = need_client(0, true)
  if not client then
    return
  end
  ragls.request(client, 'ragls/search', { query = query, limit = ragls.options.limit }, function(err, result)
    if err then
      return show_error(err)
    end
    local title = 'ragls: ' .. query .. (result.partial and ' (index not complete)' or '')
    M.show_results(title, result.results, client.offset_encoding, false, (type(args) == 'table' and args.bang) and 'select' or nil)
  end, vim.api.nvim_get_current_buf())
end

--- The ragls client of the current buffer and position params for the cursor, or nil (after
--- telling the user) when no ragls client is attached.
local function cursor_request()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return nil
  end
  return client, bufnr, vim.lsp.util.make_position_params(0, client.offset_encoding)
end

function M.related()
  local client, bufnr, params = cursor_request()
  if not client then
    return
  end
  params.limit = ragls.options.limit
  ragls.request(client, 'ragls/findRelated', params, function(err, result)
    if err then
      return show_error(err)
    end
    local what = result.symbol and result.symbol.name or 'this line'
    M.show_results('ragls: related to ' .. what, result.results, client.offset_encoding, true)
  end, bufnr)
end

function M.status()
  local client = need_client(0, true)
  if not client then
    return
  end
  ragls.request(client, 'ragls/status', vim.empty_dict(), function(err, s)
    if err then
      return show_error(err)
    end
    local text = string.format(
      'ragls: %s, %d files, %d chunks%s, model %s%s',
      s.state,
      s.files or 0,
      s.chunks or 0,
      (s.pendingFiles or 0) > 0 and string.format(' (%d files pending)', s.pendingFiles) or '',
      s.model or '?',
      (s.device and s.device ~= '') and (' on ' .. s.device) or ''
    )
    if s.message then
      text = text .. ': ' .. s.message
    end
    vim.api.nvim_echo({ { text } }, true, {})
  end, vim.api.nvim_get_current_buf())
end

local function execute(command, arguments, on_result)
  local client = need_client(0, true)
  if not client then
    return
  end
  ragls.request(client, 'workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      return show_error(err)
    end
    on_result(result)
  end, vim.api.nvim_get_current_buf())
end

function M.reindex()
  execute('ragls.reindex', nil, function(result)
    notify(string.format('re-checking %d folder(s)', #(result and result.roots or {})))
  end)
end

function M.pull_model(args)
  local model = args and args.args ~= '' and args.args or nil
  notify('pulling ' .. (model or 'the configured Ollama model') .. '...')
  execute('ragls.pullModel', model and { { model = model } } or nil, function(result)
    notify(string.format('%s: %s', result.model, result.status))
  end)
end

--- Explain the function at the cursor (or ask `question` about it) in a float that fills in as
--- the answer streams. Closing the float cancels the request.
--- @return table|nil view of the float, with `request_id` and `token`
function M.run_explain(question, regenerate)
  local client, bufnr, params = cursor_request()
  if not client then
    return
  end
  params.question = question
  params.regenerate = regenerate or nil
  local view, token
  local done = false
  local title = question and ('ragls: ' .. question) or 'ragls: explain'
  view = ui.open_float(title, function()
    ui.drop_token(token)
    if not done and view.request_id then
      done = true
      ragls.cancel(client, view.request_id)
    end
  end)
  view.append('_asking the model..._\n\n')
  local started = false
  token = ui.new_token(function(value)
    if done or type(value) ~= 'table' or type(value.delta) ~= 'string' then
      return
    end
    if not started then -- drop the placeholder
      started = true
      view.text = ''
    end
    view.append(value.delta)
  end)
  view.token = token
  params.partialResultToken = token
  local ok, id = ragls.request(client, 'ragls/explain', params, function(err, result)
    done = true
    ui.drop_token(token)
    if view.closed then
      return
    end
    if err then
      view.finish('**Error:** ' .. (err.message or vim.inspect(err)))
      return show_error(err)
    end
    local markdown = result.markdown
    if result.incomplete then
      markdown = markdown .. '\n\n_(the answer broke off)_'
    end
    view.finish(markdown, result.sources, client.offset_encoding)
    view.result = result
  end, bufnr)
  if not ok then
    view.close()
    notify('the request could not be sent', vim.log.levels.ERROR)
    return
  end
  view.request_id = id
  return view
end

function M.explain(args)
  return M.run_explain(nil, args and args.bang)
end

function M.ask(args)
  local question = args and args.args or ''
  if question ~= '' then
    return M.run_explain(question, args.bang)
  end
  vim.ui.input({ prompt = 'Ask ragls about this function: ' }, function(input)
    if input and vim.trim(input) ~= '' then
      M.run_explain(vim.trim(input), args and args.bang)
    end
  end)
end

return M
