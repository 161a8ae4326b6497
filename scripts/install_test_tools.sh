#!/usr/bin/env bash
# Installs the outside programs the real-peer tests drive (`make tools`; `make test` runs it):
#   - Debian `chromium` + `fonts-liberation`: the browser Playwright launches (never
#     `playwright install`: it downloads its own browser build, which fails offline);
#   - Debian `postgresql`: server binaries (initdb, postgres) for the real-PostgreSQL tests;
#   - Debian `prometheus-alertmanager`: the real Alertmanager that posts webhooks to the app
#     (its systemd unit is not started here; the test runs its own instance on 127.0.0.1);
#   - Microsoft 365 Agents Playground from npm, pinned in package-lock.json (`npm ci`).
# Idempotent and quick when everything is already there: apt-get and npm run only for what is
# missing or stale. On a machine where a tool cannot be installed it warns and carries on (the
# tests that need it skip, naming `make tools`), except in CI (CI=true), where it fails. Node.js
# itself is not installed here: without node/npm the Playground step is skipped with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(chromium fonts-liberation postgresql prometheus-alertmanager)

say() { printf 'tools: %s\n' "$*"; }

# Fails in CI, warns elsewhere: a developer without root or Debian can still run the fast tests.
problem() {
    if [ "${CI:-}" = "true" ]; then
        say "ERROR: $*" >&2
        exit 1
    fi
    say "WARNING: $*" >&2
}

deb_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing_debs() {
    local missing=()
    { [ -x /usr/bin/chromium ] && deb_installed chromium; } || missing+=(chromium)
    deb_installed fonts-liberation || missing+=(fonts-liberation)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
    echo "${missing[@]:-}"
}

install_debs() {
    local missing
    read -r -a missing <<<"$(missing_debs)"
    if [ "${#missing[@]}" -eq 0 ]; then
        say "Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        problem "no apt-get here; install ${missing[*]} with your package manager (Chromium at /usr/bin/chromium, PostgreSQL server binaries)"
        return
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            problem "need root to install ${missing[*]}: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}'"
            return
        fi
    fi
    say "installing Debian packages: ${missing[*]}"
    # The package lists may be absent (fresh image) or stale; refresh once, only when installing.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null
    read -r -a missing <<<"$(missing_debs)"
    if [ "${#missing[@]}" -ne 0 ]; then
        problem "still missing after apt-get install: ${missing[*]}"
    fi
}

install_playground() {
    local cli=node_modules/@microsoft/m365agentsplayground/cli.js
    local stamp=node_modules/.firebreak-package-lock.sha256
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        # Not fatal even in CI: the Playground tests then fail there, naming what is missing.
        say "WARNING: Node.js/npm not found: skipping Agents Playground (install Node.js 20 and npm, then run 'make tools' again); the Playground tests will skip (fail in CI)" >&2
        return
    fi
    local want
    want="$(sha256sum package-lock.json | cut -d' ' -f1)"
    # Compare the lock file's content (not mtimes, which a checkout resets) with the one installed.
    if [ -f "$cli" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "Agents Playground present ($(node -p "require('./node_modules/@microsoft/m365agentsplayground/package.json').version"))"
        return
    fi
    say "installing npm packages from package-lock.json (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error </dev/null
    if [ ! -f "$cli" ]; then
        problem "npm ci finished but $cli is missing"
        return
    fi
    echo "$want" >"$stamp"
}

install_debs
install_playground
say "done"
