-- Default configuration of the ragls language server, as a plain `vim.lsp.Config` table.
-- Neovim 0.11+ reads it from 'runtimepath' for `vim.lsp.enable('ragls')`; override any field
-- with `vim.lsp.config('ragls', {...})` or `require('ragls').setup({...})`.
return {
  cmd = { 'ragls', '--stdio' },
  filetypes = {
    'python',
    'javascript',
    'javascriptreact',
    'typescript',
    'typescriptreact',
    'go',
    'rust',
    'java',
    'c',
    'cpp',
    'ruby',
  },
  root_markers = { '.raglsignore', '.git' },
}
