#!/usr/bin/env bash
# Installs and locates the external validators the report tests use (tests/it/report/):
#   - the Nu HTML Checker (npm package `vnu-jar`, pinned), run with the machine's `java`, for report.html;
#   - `xmllint` (Debian package `libxml2-utils`), for the XSD check of junit.xml.
# Why a script of its own: CI runs on fresh machines, so the project must install what its tests need;
# the tests themselves never install anything, they only read the env vars printed by `env`.
#
# Usage:
#   .ci/validators.sh install   install both (idempotent; npm into .ci/npm-vnu, gitignored)
#   .ci/validators.sh env       print `export LIFEBOAT_TEST_VNU_JAR=...` and `export LIFEBOAT_TEST_XMLLINT=...`
#                               for the validators that are present (eval it in the calling shell)
set -euo pipefail
cd "$(dirname "$0")"
ci_dir="$(pwd)"

# Pinned: a new checker release may add rules; bump on purpose, with the tests green.
VNU_VERSION="26.9.27"
vnu_jar="$ci_dir/npm-vnu/node_modules/vnu-jar/build/dist/vnu.jar"

install() {
    if ! command -v java >/dev/null 2>&1; then
        echo "validators: java is missing (install a JRE >= 11, e.g. apt-get install -y default-jre-headless)" >&2
        exit 1
    fi
    if [ ! -f "$vnu_jar" ] || ! grep -q "\"version\": \"$VNU_VERSION\"" "$ci_dir/npm-vnu/node_modules/vnu-jar/package.json" 2>/dev/null; then
        echo "validators: installing vnu-jar@$VNU_VERSION into $ci_dir/npm-vnu/node_modules"
        # --prefix keeps it out of any global or project node_modules; no package.json is written.
        npm install --prefix "$ci_dir/npm-vnu" --no-save --no-audit --no-fund --loglevel=error "vnu-jar@$VNU_VERSION"
    fi
    test -f "$vnu_jar" || { echo "validators: vnu.jar not found at $vnu_jar after install" >&2; exit 1; }
    if ! command -v xmllint >/dev/null 2>&1; then
        echo "validators: installing libxml2-utils (xmllint)"
        if [ "$(id -u)" = 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq libxml2-utils >/dev/null
    fi
    command -v xmllint >/dev/null 2>&1 || { echo "validators: xmllint still missing after install" >&2; exit 1; }
    echo "validators: vnu.jar $VNU_VERSION and $(xmllint --version 2>&1 | head -n1) ready"
}

print_env() {
    if [ -f "$vnu_jar" ]; then echo "export LIFEBOAT_TEST_VNU_JAR='$vnu_jar'"; fi
    if command -v xmllint >/dev/null 2>&1; then echo "export LIFEBOAT_TEST_XMLLINT='$(command -v xmllint)'"; fi
}

case "${1:-}" in
    install) install ;;
    env) print_env ;;
    *) echo "usage: $0 install|env" >&2; exit 2 ;;
esac
