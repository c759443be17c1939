-- ragls.nvim: user commands only; everything else is loaded on first use.
if vim.g.loaded_ragls then
  return
end
vim.g.loaded_ragls = true

local ok, message = require('ragls.compat').check()
if not ok then
  vim.notify(message, vim.log.levels.ERROR)
  return
end

local function cmd(name)
  return function(args)
    require('ragls.commands')[name](args)
  end
end

local command = vim.api.nvim_create_user_command
command('RaglsSearch', cmd('search'), { nargs = '+', bang = true, desc = 'ragls: semantic code search (! picks with vim.ui.select)' })
command('RaglsRelated', cmd('related'), { nargs = 0, desc = 'ragls: code related to the function at the cursor' })
command('RaglsStatus', cmd('status'), { nargs = 0, desc = 'ragls: index status' })
command('RaglsReindex', cmd('reindex'), { nargs = 0, desc = 'ragls: re-check every workspace folder' })
command('RaglsExplain', cmd('explain'), { nargs = 0, bang = true, desc = 'ragls: explain the function at the cursor (! regenerates)' })
command('RaglsAsk', cmd('ask'), { nargs = '*', bang = true, desc = 'ragls: ask the LLM about the function at the cursor' })
command('RaglsPullModel', cmd('pull_model'), { nargs = '?', desc = 'ragls: download the Ollama model' })
