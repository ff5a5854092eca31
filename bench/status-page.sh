#!/usr/bin/env bash
# The status page's cost (issue "For the people who are not IT"): 200 checks with 30 days of
# five-minute runs behind them. Measures, in one run on this machine:
#   - the page's size (target: under 300 KB);
#   - a run with `--output html:PAGE` against the same run without it (target: under 5% more).
# The checks are local [[disk]] checks, so the run itself is short and the page's share of
# it is as large as it gets. Each variant runs RUNS times from the same state, in turns; medians.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
cargo build --release --locked --quiet
bin=$PWD/target/release/rounds
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

python3 - "$dir" <<'PY'
import json, sys, time, datetime
d = sys.argv[1]
now = int(time.time())
with open(f"{d}/checks.toml", "w") as f:
    f.write('[status_page]\ntitle = "Clinic systems"\n\n')
    for i in range(200):
        f.write(f'[[disk]]\nname = "volume {i}"\npath = "/"\nmin_free = "1 B"\npublic_name = "Service {i // 2}"\n\n')
days = {}
for back in range(30):
    day = datetime.date.fromtimestamp(now - back * 86400).isoformat()
    days[day] = [86400, 86400 - (back % 7) * 300]
checks = {f"volume {i}": {"status": "pass", "since": now - 40 * 86400, "days": days} for i in range(200)}
state = {"format": "rounds-state", "version": 2, "inventory": f"{d}/checks.toml", "last_run": now - 300, "checks": checks}
json.dump(state, open(f"{d}/state.json", "w"))
with open(f"{d}/state.log.jsonl", "w") as f:
    # 30 days of five-minute runs, one problem in every tenth.
    for run in range(30 * 288):
        at = now - 300 - (30 * 288 - run) * 300
        problems = [{"name": "volume 7", "status": "warn", "detail": "slow"}] if run % 10 == 0 else []
        f.write(json.dumps({"version": 2, "at": at, "duration_ms": 900, "checks": 200, "problems": problems}) + "\n")
PY
cp "$dir/state.json" "$dir/state.orig.json"; cp "$dir/state.log.jsonl" "$dir/log.orig.jsonl"

# One timed run from the same starting state; prints seconds.
timed() {
  cp "$dir/state.orig.json" "$dir/state.json"; cp "$dir/log.orig.jsonl" "$dir/state.log.jsonl"
  python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
print(f"{time.perf_counter() - start:.4f}")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Interleaved, one of each in turn: on a shared machine a change of load then weighs on
# both alike instead of on whichever ran second.
: > "$dir/plain.times"; : > "$dir/page.times"
for _ in $(seq "$RUNS"); do
  timed "$bin" -c "$dir/checks.toml" --state "$dir/state.json" --quiet >> "$dir/plain.times"
  timed "$bin" -c "$dir/checks.toml" --state "$dir/state.json" --quiet --output "html:$dir/page.html" >> "$dir/page.times"
done
plain=$(median < "$dir/plain.times")
page=$(median < "$dir/page.times")
size=$(stat -c %s "$dir/page.html")
echo "status page: 200 checks (100 rows), 30 days, log of $(wc -l < "$dir/log.orig.jsonl") runs"
echo "  page size: $((size / 1024)) KiB (target under 300 KB)"
python3 -c "p, q = $plain, $page; print(f'  run without the page: {p*1000:.1f} ms, with it: {q*1000:.1f} ms: {100*(q-p)/p:+.1f}% (target under +5%)')"
