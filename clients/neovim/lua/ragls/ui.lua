-- Floating Markdown window that fills in as an answer streams, and the $/progress routing.
local M = {}

-- partialResultToken -> function(value) for the streams this plugin started
M.streams = {}

--- Route a `$/progress` notification: values on tokens this plugin created go to their stream.
--- @return boolean handled
function M.route_progress(result, ctx)
  local stream = result and result.token ~= nil and M.streams[result.token]
  if stream then
    stream(result.value, ctx)
    return true
  end
  return false
end

local wrapper

--- Wrap the global `$/progress` handler (again, if something replaced it since): values on tokens
--- this plugin created go to their stream, everything else (indexing progress, fidget.nvim,
--- LspProgress) to the handler that was there before.
function M.install_progress_handler()
  local current = vim.lsp.handlers['$/progress']
  if wrapper and current == wrapper then
    return
  end
  local previous = current
  wrapper = function(err, result, ctx, config)
    if M.route_progress(result, ctx) then
      return
    end
    if previous then
      return previous(err, result, ctx, config)
    end
  end
  vim.lsp.handlers['$/progress'] = wrapper
end

--- A per-client `$/progress` handler (setup() puts it in the client config): routes this
--- plugin's tokens, passes the rest to whatever global handler is current.
function M.client_progress_handler(err, result, ctx, config)
  if M.route_progress(result, ctx) then
    return
  end
  local global = vim.lsp.handlers['$/progress']
  if global then
    return global(err, result, ctx, config)
  end
end

local counter = 0

--- A new partialResultToken whose `$/progress` values go to `fn`.
function M.new_token(fn)
  M.install_progress_handler()
  counter = counter + 1
  local token = string.format('ragls-nvim-%d-%d', vim.fn.getpid(), counter)
  M.streams[token] = fn
  return token
end

function M.drop_token(token)
  M.streams[token] = nil
end

local function fit(opts)
  local columns, lines = vim.o.columns, vim.o.lines
  local width = math.max(40, math.floor(columns * (opts.width or 0.6)))
  local height = math.max(8, math.floor(lines * (opts.height or 0.6)))
  width = math.min(width, columns - 4)
  height = math.min(height, lines - 4)
  return width, height
end

--- Open a floating Markdown window.
--- @param title string
--- @param on_close fun() called once when the window closes (q, :close, ...)
--- @return table view {buf, win, set(text), sources(list, encoding), close()}
function M.open_float(title, on_close)
  local opts = require('ragls').options.float or {}
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'markdown'
  local width, height = fit(opts)
  local border = opts.border or 'rounded'
  local has_border = border ~= 'none' and border ~= ''
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = 'minimal',
    border = border,
    title = has_border and (' ' .. title .. ' ') or nil,
    title_pos = has_border and 'center' or nil,
  })
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2

  local view = { buf = buf, win = win, text = '', source_lines = {}, closed = false }

  local function render(lines)
    if not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
  end

  -- while the answer streams, keep the last line in view unless the cursor was moved up
  view.follow = true
  function view.append(delta)
    view.text = view.text .. delta
    local lines = vim.split(view.text, '\n', { plain = true })
    local at_end = vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_cursor(win)[1] >= vim.api.nvim_buf_line_count(buf)
    render(lines)
    if view.follow and at_end and vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_set_cursor(win, { #lines, 0 })
    end
  end

  --- Show the final answer and its sources (a list of Result) below it.
  function view.finish(markdown, sources, encoding)
    view.text = markdown or view.text
    local lines = vim.split(view.text, '\n', { plain = true })
    view.source_lines = {}
    if sources and #sources > 0 then
      vim.list_extend(lines, { '', '---', '', '**Sources** (<CR> to open)', '' })
      for i, source in ipairs(sources) do
        local path = vim.fn.fnamemodify(vim.uri_to_fname(source.uri), ':~:.')
        local line = source.range.start.line + 1
        table.insert(lines, string.format('[%d] `%s` %s:%d', i, source.name, path, line))
        view.source_lines[#lines] = { source = source, encoding = encoding }
      end
    end
    render(lines)
  end

  function view.close()
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end

  vim.bo[buf].modifiable = false
  vim.keymap.set('n', 'q', view.close, { buffer = buf, nowait = true, desc = 'ragls: close (cancels the answer)' })
  vim.keymap.set('n', '<Esc>', view.close, { buffer = buf, nowait = true, desc = 'ragls: close' })
  vim.keymap.set('n', '<CR>', function()
    local entry = view.source_lines[vim.api.nvim_win_get_cursor(0)[1]]
    if not entry then
      return
    end
    view.close()
    local source = entry.source
    vim.lsp.util.show_document(
      { uri = source.uri, range = source.selectionRange or source.range },
      entry.encoding or 'utf-16',
      { focus = true }
    )
  end, { buffer = buf, nowait = true, desc = 'ragls: open the source under the cursor' })

  vim.api.nvim_create_autocmd('WinClosed', {
    pattern = tostring(win),
    once = true,
    callback = function()
      view.closed = true
      on_close()
    end,
  })
  return view
end

return M
