#!/usr/bin/env bash
# Lints the Luau SDK: StyLua (formatting) and selene (lints, with the Roblox std shipped in
# roblox_server.yml). Run from anywhere; it works from the repo root. Installs both tools with
# `cargo install --locked` when they are not on PATH (both are on crates.io).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# StyLua must be built with its `luau` feature: a default build cannot parse type annotations
# (and, with `syntax = "Luau"` in stylua.toml, refuses the config and checks nothing).
stylua_reads_luau() {
	command -v stylua >/dev/null 2>&1 &&
		printf 'local x: number = 1\nreturn x\n' | stylua --syntax Luau --check - >/dev/null 2>&1
}
if ! stylua_reads_luau; then
	echo "lua-sdk/ci.sh: installing stylua with Luau support (cargo install --locked --features luau stylua)"
	cargo install --locked --force --features luau stylua
fi
if ! command -v selene >/dev/null 2>&1; then
	echo "lua-sdk/ci.sh: installing selene (cargo install --locked selene)"
	cargo install --locked selene
fi

echo "lua-sdk/ci.sh: $(stylua --version) --check lua-sdk"
# Name the files as well: given a folder, StyLua skips what it cannot read without failing.
mapfile -t luau_files < <(find lua-sdk -name '*.luau' -o -name '*.lua' | grep -v /target/ | sort)
if [ "${#luau_files[@]}" -eq 0 ]; then
	echo "lua-sdk/ci.sh: no Luau files found under lua-sdk" >&2
	exit 1
fi
stylua --check lua-sdk
stylua --check "${luau_files[@]}"
echo "lua-sdk/ci.sh: $(selene --version) lua-sdk/src"
selene --config lua-sdk/selene.toml lua-sdk/src
