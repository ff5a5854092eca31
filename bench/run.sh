#!/usr/bin/env bash
# Benchmark: rounds against curl and the Nagios plugins, all on loopback, in one run.
#   bash bench/run.sh            (needs root for apt, or curl, GNU time and monitoring-plugins-basic installed)
# Prints a Markdown table; paste it into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}          # endpoints and ports
RUNS=${RUNS:-5}       # repetitions; the median is reported
PAR=64                # parallelism for every tool

missing=()
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)
[ -x /usr/lib/nagios/plugins/check_http ] || missing+=(monitoring-plugins-basic)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
PLUGINS=/usr/lib/nagios/plugins

cargo build --release -q --bin rounds --example bench-server
ROUNDS=target/release/rounds
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

target/release/examples/bench-server "$N" "$work/ports" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/ports" ] && [ "$(wc -l < "$work/ports")" -eq "$N" ] && break; sleep 0.1; done
mapfile -t ports < "$work/ports"
p0=${ports[0]}

# Inventories: N endpoints on one port, N ports of one server, and the same N endpoints plus a 64 MiB body.
{
  echo '[settings]'; echo 'timeout = "10s"'; echo "concurrency = $PAR"
  for i in $(seq 1 "$N"); do printf '[[endpoint]]\nname = "ep%d"\nurl = "http://127.0.0.1:%d/ok/%d"\n' "$i" "$p0" "$i"; done
} > "$work/http.toml"
{
  echo '[settings]'; echo "concurrency = $PAR"
  printf '[[server]]\nname = "srv"\nhost = "127.0.0.1"\nports = [%s]\n' "$(IFS=,; echo "${ports[*]}")"
} > "$work/tcp.toml"
{ cat "$work/http.toml"; printf '[[endpoint]]\nname = "big"\nurl = "http://127.0.0.1:%d/big"\nmax_body = "100 MiB"\n' "$p0"; } > "$work/big.toml"
for i in $(seq 1 "$N"); do echo "url = \"http://127.0.0.1:$p0/ok/$i\""; echo "output = /dev/null"; done > "$work/curl.cfg"
for i in $(seq 1 "$N"); do echo "/ok/$i"; done > "$work/paths"

# median wall seconds of RUNS runs of "$@"
median() {
  python3 - "$RUNS" "$@" <<'PY'
import subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
times.sort()
print(f"{times[len(times)//2]:.3f}")
PY
}

"$ROUNDS" -c "$work/http.toml" --format json > "$work/check.json" || true
python3 - "$work/check.json" "$N" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert doc["summary"]["pass"] == n, doc["summary"]
PY

r_http=$(median "$ROUNDS" -c "$work/http.toml" -q)
r_tcp=$(median "$ROUNDS" -c "$work/tcp.toml" -q)
c_http=$(median curl -s --parallel --parallel-max "$PAR" --config "$work/curl.cfg")
n_http=$(median sh -c "xargs -P $PAR -I{} $PLUGINS/check_http -H 127.0.0.1 -p $p0 -u {} < $work/paths")
n_tcp=$(median sh -c "tr ' ' '\n' < $work/ports | xargs -P $PAR -I{} $PLUGINS/check_tcp -H 127.0.0.1 -p {}")
rss_http=$(/usr/bin/time -f %M "$ROUNDS" -c "$work/http.toml" -q 2>&1 >/dev/null | tail -1)
rss_big=$(/usr/bin/time -f %M "$ROUNDS" -c "$work/big.toml" -q 2>&1 >/dev/null | tail -1)
big_detail=$("$ROUNDS" -c "$work/big.toml" --only big --format json | python3 -c 'import json,sys; c=json.load(sys.stdin)["checks"][0]; print(c["status"], "-", c["detail"])')

ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
cat <<EOF
Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $RUNS runs each, median wall time; parallelism $PAR everywhere.

| work ($N each) | tool | wall (s) | vs rounds |
| --- | --- | --- | --- |
| HTTP GET, loopback | rounds | $r_http | 1.00x |
| HTTP GET, loopback | curl --parallel --parallel-max $PAR | $c_http | $(ratio "$c_http" "$r_http") |
| HTTP GET, loopback | check_http under xargs -P $PAR | $n_http | $(ratio "$n_http" "$r_http") |
| TCP connect, $N ports | rounds | $r_tcp | 1.00x |
| TCP connect, $N ports | check_tcp under xargs -P $PAR | $n_tcp | $(ratio "$n_tcp" "$r_tcp") |

| memory | peak RSS (KiB) |
| --- | --- |
| rounds, $N HTTP endpoints | $rss_http |
| rounds, $N HTTP endpoints + one 64 MiB body (max_body = 100 MiB) | $rss_big |

64 MiB endpoint: $big_detail
EOF
