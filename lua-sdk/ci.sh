#!/usr/bin/env bash
# Lints the Luau SDK: StyLua (formatting) and selene (lints, with the Roblox std shipped in
# roblox_server.yml). Run from anywhere; it works from the repo root. Installs both tools with
# `cargo install --locked` when they are not on PATH (both are on crates.io).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

install_if_missing() {
	local tool="$1"
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "lua-sdk/ci.sh: installing $tool (cargo install --locked $tool)"
		cargo install --locked "$tool"
	fi
}

install_if_missing stylua
install_if_missing selene

echo "lua-sdk/ci.sh: stylua $(stylua --version | awk '{print $2}') --check lua-sdk"
stylua --check lua-sdk
echo "lua-sdk/ci.sh: $(selene --version) lua-sdk/src"
selene --config lua-sdk/selene.toml lua-sdk/src
