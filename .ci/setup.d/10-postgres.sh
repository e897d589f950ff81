# PostgreSQL server binaries for the store tests (the tests start and stop their own
# throwaway server on 127.0.0.1, as the postgres user: initdb refuses to run as root).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
