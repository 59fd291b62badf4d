# pg_lib.sh: the prologue of the PostgreSQL integration tests (sourced after tests/e2e/lib.sh).
# Skips (77) without a server unless DR_TEST_REQUIRE_SERVERS=1, needs root (clusters run as the
# postgres user), and checks that the server answering is the one tools/test-servers.sh
# started (its cluster_name is the tag). Defines PGB (the bin dir) and src (psql on the
# server).
dr_need_server DR_TEST_PG_DSN DR_TEST_PG_BIN
[ "$(id -u)" = 0 ] || { echo "# skip: needs root to run clusters as postgres"; exit 77; }
PGB=$DR_TEST_PG_BIN
chmod 711 "$T" # the postgres user must reach the restored directories
src() { "$PGB/psql" -X -q -At -v ON_ERROR_STOP=1 "$DR_TEST_PG_DSN" "$@"; }
pg_tag=$(src -c 'show cluster_name' 2>/dev/null)
[ "$pg_tag" = "${DR_TEST_PG_TAG:-}" ] ||
    { echo "not ok - the server answering is not the one the test started ($pg_tag)"; exit 1; }
