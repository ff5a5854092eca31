#!/usr/bin/env bash
# Benchmark: rounds against the monitoring-plugins (Nagios) checks of the same protocols, all
# on loopback, side by side in one run (issues 21 and 22):
#   500 LDAP searches   check_ldap      vs [[ldap]]  against a slapd started here
#   500 NTP queries     check_ntp_time  vs [[ntp]]   against a chronyd started here (-x: off the clock)
#   200 UPS queries     check_ups       vs [[ups]]   against upsd + a dummy-ups driver started here
#   200 SQL queries     check_pgsql     vs [[sql]]   against a PostgreSQL cluster started here
#   1,000 SNMP gets     check_snmp      vs [[snmp]]  against an snmpd started here
# Each plugin runs COUNT times under `xargs -P 64`; rounds makes one run of COUNT checks.
#   bash bench/plugins.sh      (as root; needs the packages below: not installed by .ci/run,
#                               benches are not CI)
#   apt-get install -y --no-install-recommends monitoring-plugins-basic \
#     monitoring-plugins-standard slapd ldap-utils chrony nut-server nut-client postgresql snmpd
# Prints a Markdown table; paste it into BENCHMARKS.md. RUNS repetitions, median wall time.
#
# Every peer runs with its own folder in a temporary directory, on a loopback port, started
# and killed by this script (by its pid); nothing is sent anywhere but 127.0.0.1.
#
# Adding a protocol: a `start_<name>` function that starts its peer and sets the variables
# its plugin and its rounds table need, and a `bench_<name>` function that calls `compare`
# with a label, a count, the plugin's command line (run COUNT times) and one rounds check as
# TOML (the placeholder @I@ is the check's number).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
PAR=64
PLUGINS=/usr/lib/nagios/plugins
SUFFIX="dc=clinic,dc=test"

cargo build --release --locked --quiet --bin rounds
ROUNDS=$PWD/target/release/rounds
work=$(mktemp -d)
pids=()
cleanup() {
  # Only what this script started, by pid; then its folder. PostgreSQL gets SIGQUIT
  # (immediate shutdown: the postmaster stops its backends) and a moment.
  if [ -n "${pg_pid:-}" ]; then kill -QUIT "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

need() {  # need FILE PACKAGE: say what is missing and stop
  [ -x "$1" ] || { echo "missing $1: apt-get install -y --no-install-recommends $2" >&2; exit 1; }
}

# A free loopback port below the ephemeral range (32768 and up here): servers that bind
# without SO_REUSEADDR fail on a port a client socket holds in TIME-WAIT.
free_port() {  # free_port tcp|udp
  python3 - "$1" <<'PY'
import random, socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
for _ in range(1000):
    port = random.randint(20000, 32000)
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

wait_tcp() {  # wait_tcp PORT: until something listens there (10 s at most)
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2; exit 1
}

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

rows=()
# compare LABEL COUNT PLUGIN_COMMAND ROUNDS_CHECK_TOML [CONCURRENCY]
# Checks first that the plugin says OK and every rounds check passes (a benchmark of
# failures measures nothing), then times both. With CONCURRENCY, rounds is also timed at
# that concurrency (for a peer that cannot take PAR connections at once).
compare() {
  local label=$1 count=$2 plugin=$3 check=$4 fitted=${5:-}
  local name=${label%% *}
  local inv="$work/$name.toml"
  { echo '[settings]'; echo 'timeout = "10s"'; echo "concurrency = $PAR"
    for i in $(seq 1 "$count"); do printf '%s\n' "${check//@I@/$i}"; done; } > "$inv"
  local said
  said=$(sh -c "$plugin" 2>&1) || { echo "$label: the plugin did not say OK: $said" >&2; exit 1; }
  "$ROUNDS" -c "$inv" --no-state --format json > "$work/$name.json" 2>"$work/$name.err" || true
  python3 - "$work/$name.json" "$count" "$label" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); n = int(sys.argv[2])
bad = [c for c in doc["checks"] if c["status"] != "pass"]
assert doc["summary"]["pass"] == n, f'{sys.argv[3]}: {doc["summary"]}; first: {bad[:1]}'
PY
  local t_plugin t_rounds
  # -I{} runs the plugin once per line of seq (it takes no argument from it).
  t_plugin=$(median sh -c "seq $count | xargs -P $PAR -I{} $plugin >/dev/null")
  t_rounds=$(median "$ROUNDS" -c "$inv" --no-state -q)
  local tool=${plugin%% *}
  rows+=("| $label | rounds, one run | $t_rounds | 1.00x |")
  rows+=("| $label | ${tool##*/} under xargs -P $PAR | $t_plugin | $(python3 -c "print(f'{$t_plugin/$t_rounds:.1f}x')") |")
  if [ -n "$fitted" ]; then
    local t_fitted
    t_fitted=$(median "$ROUNDS" -c "$inv" --no-state -q --concurrency "$fitted")
    rows+=("| $label | rounds, one run, --concurrency $fitted | $t_fitted | $(python3 -c "print(f'{$t_fitted/$t_rounds:.2f}x')") |")
    rows+=("| $label | ${tool##*/} vs rounds at --concurrency $fitted | | $(python3 -c "print(f'{$t_plugin/$t_fitted:.1f}x')") |")
  fi
  echo "$label: plugin $t_plugin s, rounds $t_rounds s; plugin said: $said" >&2
}

# ---- LDAP: slapd with an mdb database of a few entries -----------------------------------
start_ldap() {
  need /usr/sbin/slapd slapd
  local d="$work/slapd"
  mkdir -p "$d/db"
  cat > "$d/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $d/slapd.pid
argsfile $d/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "$SUFFIX"
rootdn "cn=admin,$SUFFIX"
directory $d/db
access to * by * read
EOF
  cat > "$d/tree.ldif" <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: clinic
o: Clinic

dn: ou=staff,$SUFFIX
objectClass: organizationalUnit
ou: staff

dn: uid=nurse,ou=staff,$SUFFIX
objectClass: inetOrgPerson
uid: nurse
cn: Nurse
sn: On Shift
EOF
  /usr/sbin/slapadd -f "$d/slapd.conf" -l "$d/tree.ldif" >/dev/null 2>&1
  ldap_port=$(free_port tcp)
  /usr/sbin/slapd -d 0 -f "$d/slapd.conf" -h "ldap://127.0.0.1:$ldap_port/" >/dev/null 2>&1 &
  pids+=($!)
  wait_tcp "$ldap_port"
}
bench_ldap() {
  compare "LDAP search, 500" 500 \
    "$PLUGINS/check_ldap -H 127.0.0.1 -p $ldap_port -b ou=staff,$SUFFIX -3" \
    "[[ldap]]
name = \"ldap @I@\"
url = \"ldap://127.0.0.1:$ldap_port\"
base = \"ou=staff,$SUFFIX\"
scope = \"base\""
}

# ---- NTP: chronyd serving its local clock at stratum 8, off the system clock ------------
start_ntp() {
  need /usr/sbin/chronyd chrony
  local d="$work/chrony"
  mkdir -p "$d"
  ntp_port=$(free_port udp)
  printf 'port %s\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\nbindcmdaddress /\npidfile %s/chronyd.pid\n' \
    "$ntp_port" "$d" > "$d/chrony.conf"
  /usr/sbin/chronyd -x -d -u root -f "$d/chrony.conf" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    python3 - "$ntp_port" <<'PY' && return 0
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(b"\x23" + bytes(47), ("127.0.0.1", int(sys.argv[1])))
sys.exit(0 if len(s.recv(512)) >= 48 else 1)
PY
    sleep 0.1
  done
  echo "chronyd does not answer on 127.0.0.1:$ntp_port" >&2; exit 1
}
bench_ntp() {
  compare "NTP query, 500" 500 \
    "$PLUGINS/check_ntp_time -H 127.0.0.1 -p $ntp_port -w 1 -c 2" \
    "[[ntp]]
name = \"ntp @I@\"
server = \"127.0.0.1\"
port = $ntp_port"
}

# ---- UPS: upsd with one dummy-ups driver ------------------------------------------------
start_ups() {
  local upsd=/lib/nut/upsd driver=/lib/nut/dummy-ups
  need "$upsd" nut-server; need "$driver" nut-server
  local d="$work/nut"
  mkdir -p "$d/state"
  ups_port=$(free_port tcp)
  printf 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\nups.model: Smart 1500\n' > "$d/rack.dev"
  printf '[rack]\n  driver = dummy-ups\n  port = %s/rack.dev\n' "$d" > "$d/ups.conf"
  printf 'LISTEN 127.0.0.1 %s\nSTATEPATH %s/state\n' "$ups_port" "$d" > "$d/upsd.conf"
  printf '[monitor]\n  password = "bench"\n  upsmon secondary\n' > "$d/upsd.users"
  export NUT_CONFPATH=$d NUT_STATEPATH=$d/state NUT_QUIET_INIT_SSL=true
  "$driver" -a rack -F -u root >/dev/null 2>&1 &
  pids+=($!)
  "$upsd" -F -u root >/dev/null 2>&1 &
  pids+=($!)
  wait_tcp "$ups_port"
  # The driver connects to upsd a moment later, and reports WAIT at first: wait until upsd
  # reports the UPS on mains.
  for _ in $(seq 100); do
    "$PLUGINS/check_ups" -H 127.0.0.1 -p "$ups_port" -u rack 2>/dev/null | grep -q 'Status=Online' && return 0
    sleep 0.1
  done
  echo "upsd does not report the UPS rack" >&2; exit 1
}
# upsd listens with a backlog of 16: 64 connections at once overflow it, and the connections
# the kernel drops wait for the client's SYN to be sent again (1 s). rounds asks one upsd
# over 8 connections at a time (src/probe/ups.rs); check_ups under xargs -P 64 cannot.
bench_ups() {
  compare "UPS query, 200" 200 \
    "$PLUGINS/check_ups -H 127.0.0.1 -p $ups_port -u rack" \
    "[[ups]]
name = \"ups @I@\"
host = \"127.0.0.1\"
port = $ups_port
ups = \"rack\""
}

# ---- SQL: a PostgreSQL cluster of its own, password (scram) over TCP, no TLS -----------
# check_pgsql connects without TLS: rounds is told `tls = "disable"` too (like with like).
# max_connections 300: neither 64 plugins at once nor rounds' 64 are ever refused.
start_pgsql() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
  need "${initdb:-/usr/lib/postgresql/X/bin/initdb}" postgresql
  local bin d="$work/pg"
  bin=$(dirname "$initdb")
  chmod o+x "$work"  # mktemp -d is 0700: let the postgres user reach its folder
  mkdir -p "$d" && chown postgres:postgres "$d"
  (cd / && setpriv --reuid=postgres --regid=postgres --init-groups "$initdb" -D "$d/data" -U postgres \
    --no-sync --auth-local=trust --auth-host=scram-sha-256 >/dev/null)
  pg_port=$(free_port tcp)
  (cd / && exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$d/data" -k "$d" \
    -h 127.0.0.1 -p "$pg_port" -c fsync=off -c max_connections=300 >/dev/null 2>&1) &
  pg_pid=$!
  wait_tcp "$pg_port"
  for _ in $(seq 100); do
    setpriv --reuid=postgres --regid=postgres --init-groups "$bin/psql" -h "$d" -p "$pg_port" -U postgres -d postgres \
      -q -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" -c "CREATE DATABASE bench OWNER bench" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "postgres does not take the bench role on 127.0.0.1:$pg_port" >&2; exit 1
}
bench_pgsql() {
  compare "SQL query, 200" 200 \
    "$PLUGINS/check_pgsql -H 127.0.0.1 -P $pg_port -d bench -l bench -p bench -q 'SELECT 1'" \
    "[[sql]]
name = \"sql @I@\"
url = \"postgres://bench:bench@127.0.0.1:$pg_port/bench\"
query = \"SELECT 1\"
tls = \"disable\""
}

# ---- SNMP: snmpd with its own config and state folder, v2c community -------------------
start_snmp() {
  need /usr/sbin/snmpd snmpd
  local d="$work/snmpd"
  mkdir -p "$d/state"
  snmp_port=$(free_port udp)
  printf 'rocommunity bench 127.0.0.1\n' > "$d/snmpd.conf"
  SNMP_PERSISTENT_DIR="$d/state" /usr/sbin/snmpd -f -Lo -C -c "$d/snmpd.conf" "udp:127.0.0.1:$snmp_port" \
    >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    "$PLUGINS/check_snmp" -H 127.0.0.1 -p "$snmp_port" -C bench -o 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "snmpd does not answer on 127.0.0.1:$snmp_port" >&2; exit 1
}
bench_snmp() {
  compare "SNMP get, 1000" 1000 \
    "$PLUGINS/check_snmp -H 127.0.0.1 -p $snmp_port -C bench -o 1.3.6.1.2.1.1.3.0" \
    "[[snmp]]
name = \"snmp @I@\"
host = \"127.0.0.1\"
port = $snmp_port
community = \"bench\"
oids = [{ oid = \"1.3.6.1.2.1.1.3.0\", min = 1 }]"
}

# BENCHES="pgsql snmp" runs only those.
read -ra benches <<< "${BENCHES:-ldap ntp ups pgsql snmp}"
for b in "${benches[@]}"; do
  start_"$b"; bench_"$b"
done

version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"; }
cat <<EOF
Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $RUNS runs each, median wall time;
plugins under \`xargs -P $PAR\`, rounds with \`concurrency = $PAR\`. rounds $("$ROUNDS" --version | awk '{print $2}'),
monitoring-plugins $(version monitoring-plugins-basic), slapd $(version slapd), chrony $(version chrony), nut-server $(version nut-server), postgresql $(version postgresql), snmpd $(version snmpd).

| work | tool | wall (s) | vs rounds |
| --- | --- | --- | --- |
EOF
printf '%s\n' "${rows[@]}"
