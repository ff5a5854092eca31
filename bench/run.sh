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
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2
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

# Scale: 10,000 mixed checks (HTTP on 10 ports, HTTPS, TCP) under `ulimit -n 256` with
# --concurrency 256, the same at 1,000 for linearity, validate, and a 100,000-file backup folder.
tls_port=$(cat "$work/ports.tls")
cp "$work/ports.ca.pem" "$work/ca.pem"
mixed() {  # mixed COUNT > inventory
  local n=$1 http=$(( $1 * 4 / 10 )) https=$(( $1 * 3 / 10 ))
  local tcp=$(( n - http - https ))
  echo '[settings]'; echo 'timeout = "20s"'
  for i in $(seq 1 "$http"); do printf '[[endpoint]]\nname = "h%d"\nurl = "http://127.0.0.1:%d/ok/%d"\n' "$i" "${ports[$((i % 10))]}" "$i"; done
  for i in $(seq 1 "$https"); do printf '[[endpoint]]\nname = "s%d"\nurl = "https://127.0.0.1:%d/ok/%d"\nca_file = "ca.pem"\n' "$i" "$tls_port" "$i"; done
  local left=$tcp k=0
  while [ "$left" -gt 0 ]; do
    local take=$(( left < N ? left : N ))
    printf '[[server]]\nname = "t%d"\nhost = "127.0.0.1"\nports = [%s]\n' "$k" "$(IFS=,; echo "${ports[*]:0:$take}")"
    left=$(( left - take )); k=$(( k + 1 ))
  done
}
mixed 10000 > "$work/scale.toml"
mixed 1000 > "$work/scale1k.toml"
scale_run() { sh -c "ulimit -n 256 && exec $ROUNDS -c $1 --no-state --concurrency 256 --format json" 2>"$work/scale.err"; }
scale_run "$work/scale.toml" > "$work/scale.json" || true
scale_pass=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("%d of %d passed" % (s["pass"], s["total"]))' "$work/scale.json")
scale_note=$(grep -o 'concurrency lowered[^;]*' "$work/scale.err" | head -1 || true)
r_scale=$(median sh -c "ulimit -n 256 && exec $ROUNDS -c $work/scale.toml --no-state --concurrency 256 -q")
rss_10k=$(sh -c "ulimit -n 256 && /usr/bin/time -f %M $ROUNDS -c $work/scale.toml --no-state --concurrency 256 -q" 2>&1 >/dev/null | tail -1)
rss_1k=$(sh -c "ulimit -n 256 && /usr/bin/time -f %M $ROUNDS -c $work/scale1k.toml --no-state --concurrency 256 -q" 2>&1 >/dev/null | tail -1)
v_rounds=$(median "$ROUNDS" validate -c "$work/scale.toml")
v_python=$(median python3 -c "import tomllib; tomllib.load(open('$work/scale.toml', 'rb'))")
mkdir -p "$work/backups"
python3 - "$work/backups" <<'PY'
import os, sys, time
d = sys.argv[1]
now = time.time()
for i in range(100_000):
    p = os.path.join(d, f"EHR-{i:06d}.dump")
    open(p, "w").close()
    os.utime(p, (now - i, now - i))
PY
printf '[[backup]]\nname = "many"\npath = "%s"\npattern = "*.dump"\nmax_age = "26h"\n' "$work/backups" > "$work/backup.toml"
b_rounds=$(median "$ROUNDS" -c "$work/backup.toml" --no-state -q)
b_find=$(median sh -c "find $work/backups -name '*.dump' -printf '%T@ %p\n' | sort -n | tail -1")

"$ROUNDS" -c "$work/http.toml" --format json > "$work/check.json" || true
python3 - "$work/check.json" "$N" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert doc["summary"]["pass"] == n, doc["summary"]
PY

r_http=$(median "$ROUNDS" -c "$work/http.toml" --no-state -q)
r_tcp=$(median "$ROUNDS" -c "$work/tcp.toml" --no-state -q)
c_http=$(median curl -s --parallel --parallel-max "$PAR" --config "$work/curl.cfg")
n_http=$(median sh -c "xargs -P $PAR -I{} $PLUGINS/check_http -H 127.0.0.1 -p $p0 -u {} < $work/paths")
n_tcp=$(median sh -c "tr ' ' '\n' < $work/ports | xargs -P $PAR -I{} $PLUGINS/check_tcp -H 127.0.0.1 -p {}")
rss_http=$(/usr/bin/time -f %M "$ROUNDS" -c "$work/http.toml" --no-state -q 2>&1 >/dev/null | tail -1)
rss_big=$(/usr/bin/time -f %M "$ROUNDS" -c "$work/big.toml" --no-state -q 2>&1 >/dev/null | tail -1)
big_detail=$("$ROUNDS" -c "$work/big.toml" --no-state --only big --format json | python3 -c 'import json,sys; c=json.load(sys.stdin)["checks"][0]; print(c["status"], "-", c["detail"])')

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

Scale, under \`ulimit -n 256\` with \`--concurrency 256\` (10,000 = 4,000 HTTP on 10 ports, 3,000 HTTPS, 3,000 TCP): $scale_pass; $scale_note.

| scale | tool | wall (s) or KiB | vs baseline |
| --- | --- | --- | --- |
| 10,000 mixed checks | rounds | $r_scale s | |
| peak RSS, 1,000 mixed | rounds | $rss_1k KiB | 1.00x |
| peak RSS, 10,000 mixed | rounds | $rss_10k KiB | $(ratio "$rss_10k" "$rss_1k") |
| parse 10,000 checks | python3 tomllib.load (baseline) | $v_python s | 1.00x |
| validate 10,000 checks | rounds validate | $v_rounds s | $(ratio "$v_rounds" "$v_python") |
| newest of 100,000 files | find -printf \| sort \| tail (baseline) | $b_find s | 1.00x |
| newest of 100,000 files | rounds [[backup]] | $b_rounds s | $(ratio "$b_rounds" "$b_find") |
EOF
