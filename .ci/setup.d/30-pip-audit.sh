# pip-audit of the locked environment (PITFALLS 11: Starlette and python-multipart had form-parser
# CVEs; relaykit pins current releases, and this step fails CI when any locked package has a known
# vulnerability). Sourced by .ci/run from the repository root, after uv is available.

audit_requirements="${TMPDIR:-/tmp}/relaykit-audit-requirements.txt"
uv export --frozen --all-groups --no-emit-workspace --no-hashes --format requirements-txt \
    > "$audit_requirements"
uv sync --locked --quiet
echo "30-pip-audit: $(grep -c '==' "$audit_requirements") locked packages"
uv run pip-audit --strict --no-deps --disable-pip --progress-spinner off -r "$audit_requirements"
