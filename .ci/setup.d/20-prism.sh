# Stoplight Prism for the Twilio contract tests (tests/twilio/test_prism_*.py).
# Sourced by .ci/run from the repository root. Installs Node and npm from Debian when they
# are missing, then the exact Prism pinned in package-lock.json (5.14.2: later releases need
# Node >= 24.14, PITFALLS 26). The tests fail, never skip, when Prism is absent.

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "20-prism: installing nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "20-prism: node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund --loglevel=error
echo "20-prism: prism $(node_modules/.bin/prism --version)"
