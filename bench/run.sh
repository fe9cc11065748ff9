#!/usr/bin/env bash
# Side-by-side HTTPS reverse-proxy benchmark harness. See README.md.
#
#   bench/run.sh [options]
#     --proxies LIST        comma list of built-in configs to run (default: all)
#                           rampart, rampart-sites, direct-tls, backend-plain, minproxy, nginx-1, nginx-auto,
#                           haproxy-1, haproxy-2, caddy-1, caddy-2
#     --proxy-cmd 'NAME=CMD' add a candidate (repeatable). CMD is run with bash
#                           (exec'd, so use `env VAR=x prog ...` for env vars) and
#                           may use $LISTEN_ADDR $LISTEN_PORT $BACKEND_ADDR
#                           $BACKEND_URL $CERT_FILE $KEY_FILE $PEM_FILE $WORK.
#                           Also: BENCH_CANDIDATE_CMD / BENCH_CANDIDATE_NAME env.
#     --rounds N            rounds; each round runs every proxy once, in
#                           alternating order (A B C, C B A, ...) (default 3)
#     --modes LIST          pinned,unpinned (default: pinned,unpinned)
#     --scenarios LIST      pinned-mode scenarios (default: mem,small,64k,1m,post,hs,hsres,h2,lat)
#                           post = 4 KiB POSTs echoed back; lat = p50/p99 at a fixed
#                           request rate, run after the rounds of the others
#     --unpinned-scenarios LIST  (default: small,hs,h2)
#     --unpinned-rounds N   (default 2)
#     --dur S               seconds for the keep-alive /small run (default 10)
#     --bulk-dur S          seconds for 64k/1m/h2/handshake runs (default 5)
#     --lat-rate N          requests/s for lat (default: half of nginx-1's /small
#                           median from this run, else 10000)
#     --cert ecdsa|rsa      certificate type (default ecdsa = P-256)
#     --out DIR             results folder (default $TMPDIR/bench-results-<time>)
#     --no-speed            skip `openssl speed`
#   A bad option or value stops the script before anything is built or started.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TMPBASE=${TMPDIR:-/tmp}
WORK=${BENCH_WORKDIR:-$TMPBASE/bench-work}
OUT=""
PROXIES=""
ROUNDS=3
MODES="pinned,unpinned"
SCEN="mem,small,64k,1m,post,hs,hsres,h2,lat"
USCEN="small,hs,h2"
UROUNDS=2
DUR=10
BULK=5
CERT_TYPE=ecdsa
LAT_RATE_ARG=""
SPEED=1
BACKEND_PORT=${BENCH_BACKEND_PORT:-24617}
LISTEN_PORT=${BENCH_LISTEN_PORT:-24643}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
declare -a CUSTOM_NAMES=() CUSTOM_CMDS=()

die() { echo "bench/run.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-speed|-h|--help) ;;
    --*) [[ $# -ge 2 && $2 != --* ]] || die "$1 needs a value (see --help)" ;;
  esac
  case "$1" in
    --proxies) PROXIES=$2; shift 2 ;;
    --proxy-cmd) CUSTOM_NAMES+=("${2%%=*}"); CUSTOM_CMDS+=("${2#*=}"); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --scenarios) SCEN=$2; shift 2 ;;
    --unpinned-scenarios) USCEN=$2; shift 2 ;;
    --unpinned-rounds) UROUNDS=$2; shift 2 ;;
    --dur) DUR=$2; shift 2 ;;
    --bulk-dur) BULK=$2; shift 2 ;;
    --cert) CERT_TYPE=$2; shift 2 ;;
    --lat-rate) LAT_RATE_ARG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-speed) SPEED=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
# Bad settings stop here, before anything is built or started.
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a whole number above 0, not '$2'"; }
positive --rounds "$ROUNDS"; positive --unpinned-rounds "$UROUNDS"; positive --dur "$DUR"; positive --bulk-dur "$BULK"
[[ -z $LAT_RATE_ARG ]] || positive --lat-rate "$LAT_RATE_ARG"
[[ $CERT_TYPE == ecdsa || $CERT_TYPE == rsa ]] || die "--cert must be ecdsa or rsa, not '$CERT_TYPE'"
oneof() {  # option list allowed...
  local opt=$1 item; IFS=, read -r -a items <<< "$2"; shift 2
  for item in "${items[@]}"; do
    [[ " $* " == *" $item "* ]] || die "$opt: unknown '$item'; choose from: $*"
  done
}
ALL_SCEN="mem small 1k 64k 1m post hs hsres hs12 h2 lat"
oneof --modes "$MODES" pinned unpinned
oneof --scenarios "$SCEN" $ALL_SCEN
oneof --unpinned-scenarios "$USCEN" $ALL_SCEN
[[ -z $PROXIES ]] || oneof --proxies "$PROXIES" rampart rampart-sites direct-tls backend-plain minproxy nginx-1 nginx-auto haproxy-1 haproxy-2 caddy-1 caddy-2
if [[ -n "${BENCH_CANDIDATE_CMD:-}" ]]; then
  CUSTOM_NAMES+=("${BENCH_CANDIDATE_NAME:-candidate}"); CUSTOM_CMDS+=("$BENCH_CANDIDATE_CMD")
fi
[[ -z "$PROXIES" ]] && PROXIES="rampart,direct-tls,backend-plain,minproxy,nginx-1,nginx-auto,haproxy-1,haproxy-2,caddy-1,caddy-2"
[[ -z "$OUT" ]] && OUT=$TMPBASE/bench-results-$(date +%Y%m%d-%H%M%S)
[[ -n ${CADDY:-} ]] && CADDY_SET=1
CADDY=${CADDY:-$WORK/bin/caddy}
BIN=$WORK/bin
mkdir -p "$WORK" "$BIN" "$OUT/raw"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# ---------------------------------------------------------------- tools
# The load generators and reference proxies come from Debian's archive, Caddy
# from its Go module at a pinned version: nothing is downloaded any other way.
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
[[ ,$PROXIES, != *,nginx-* ]] || command -v nginx >/dev/null || need+=(nginx-light)
[[ ,$PROXIES, != *,haproxy-* ]] || command -v haproxy >/dev/null || need+=(haproxy)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
  else
    die "missing: ${need[*]}; install them with apt-get (or run as root, and run.sh will)"
  fi
fi
CADDY_VERSION=v2.11.9
if [[ ,$PROXIES, == *,caddy-* && ! -x $BIN/caddy && -z ${CADDY_SET:-} ]]; then
  log "building Caddy $CADDY_VERSION from its Go module into $BIN"
  GOBIN=$BIN go install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION" || log "Caddy build failed: caddy-* configs will fail"
fi

# ---------------------------------------------------------------- build + certs
log "building Go tools and rampart into $BIN"
(cd "$HERE" && go build -o "$BIN/" ./backend ./minproxy ./handshake ./summarize)
(cd "$HERE/.." && CGO_ENABLED=0 go build -trimpath -o "$BIN/rampart" ./cmd/rampart)

gen_certs() {
  local d=$WORK/certs; mkdir -p "$d"
  if [[ ! -s $d/ecdsa.pem ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -keyout "$d/ecdsa.key" -out "$d/ecdsa.pem" -subj /CN=localhost \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
    cat "$d/ecdsa.pem" "$d/ecdsa.key" > "$d/ecdsa.combined.pem"
  fi
  # rampart-sites' 50 names: *.bench.test beside the address.
  if [[ ! -s $d/sites.pem ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -keyout "$d/sites.key" -out "$d/sites.pem" -subj /CN=localhost \
      -addext "subjectAltName=DNS:*.bench.test,IP:127.0.0.1" 2>/dev/null
  fi
  if [[ ! -s $d/rsa.pem ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
      -keyout "$d/rsa.key" -out "$d/rsa.pem" -subj /CN=localhost \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
    cat "$d/rsa.pem" "$d/rsa.key" > "$d/rsa.combined.pem"
  fi
}
gen_certs
export CERT_FILE=$WORK/certs/$CERT_TYPE.pem KEY_FILE=$WORK/certs/$CERT_TYPE.key PEM_FILE=$WORK/certs/$CERT_TYPE.combined.pem
export LISTEN_PORT LISTEN_ADDR=127.0.0.1:$LISTEN_PORT BACKEND_ADDR=127.0.0.1:$BACKEND_PORT
export BACKEND_URL=http://127.0.0.1:$BACKEND_PORT WORK

# ---------------------------------------------------------------- proxy configs
write_configs() {
  local c=$WORK/conf; mkdir -p "$c"
  for w in 1 auto; do
    mkdir -p "$c/nginx-$w/logs" "$c/nginx-$w/tmp"
    cat > "$c/nginx-$w/nginx.conf" <<EOF
daemon off;
master_process on;
user root;
worker_processes $w;
worker_rlimit_nofile 16384;
pid $c/nginx-$w/nginx.pid;
error_log $c/nginx-$w/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $c/nginx-$w/tmp/body;
  proxy_temp_path $c/nginx-$w/tmp/proxy;
  fastcgi_temp_path $c/nginx-$w/tmp/fcgi;
  uwsgi_temp_path $c/nginx-$w/tmp/uwsgi;
  scgi_temp_path $c/nginx-$w/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream app { server $BACKEND_ADDR; keepalive 256; }
  server {
    listen $LISTEN_ADDR ssl http2;
    ssl_certificate $CERT_FILE;
    ssl_certificate_key $KEY_FILE;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_session_cache shared:SSL:10m;
    http2_max_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_max_temp_file_size 0;
    }
  }
}
EOF
  done
  for t in 1 2; do
    cat > "$c/haproxy-$t.cfg" <<EOF
global
  nbthread $t
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option forwardfor
frontend fe
  bind $LISTEN_ADDR ssl crt $PEM_FILE alpn h2,http/1.1 curves X25519:P-256
  default_backend be
backend be
  http-reuse safe
  server app $BACKEND_ADDR
EOF
  done
  cat > "$c/Caddyfile" <<EOF
{
  admin off
  auto_https off
  persist_config off
  servers {
    protocols h1 h2
  }
}
https://127.0.0.1:$LISTEN_PORT {
  tls $CERT_FILE $KEY_FILE {
    protocols tls1.2 tls1.3
  }
  reverse_proxy $BACKEND_ADDR
}
EOF
}
write_configs

# rampart-sites: the same rampart with a route table of 50 sites and 500
# routes (issue 14's scenario). The load's name, 127.0.0.1, is one of the
# sites; its /small request walks its ten routes' prefixes to the catch-all,
# as a request to a real site's page would.
write_sites_config() {
  local f=$WORK/conf/rampart-sites.yaml i r
  {
    echo "sites:"
    for i in $(seq -w 0 49); do
      if [[ $i == 25 ]]; then echo "  - hosts: [127.0.0.1]"; else echo "  - hosts: [s$i.bench.test, w$i.bench.test]"; fi
      echo "    routes:"
      for r in api api/v1 api/v2 static checkout admin account search cart; do
        echo "      - path: /$r"
        echo "        upstream: $BACKEND_URL"
      done
      echo "      - upstream: $BACKEND_URL"
    done
  } > "$f"
}
write_sites_config
# A 4 KiB POST body (a checkout form is smaller; an API call with a basket, about this).
printf 'wrk.method = "POST"\nwrk.body = string.rep("a", 4096)\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n' > "$WORK/conf/post.lua"

# Command, URL scheme for each config. Commands are run via `bash -c "exec ..."`.
proxy_cmd() {
  local c=$WORK/conf
  case "$1" in
    # rampart as it ships: access log (to its log file), metrics, security
    # headers, limits; the certificate from files, the name being the address.
    # One setting is loosened: all the load comes from 127.0.0.1, and the
    # per-address cap (256 connections) would refuse the mem scenario's 1,000.
    rampart)       echo "$BIN/rampart --tls files --cert-file $CERT_FILE --key-file $KEY_FILE --domain 127.0.0.1 --upstream $BACKEND_URL --https-addr $LISTEN_ADDR --http-addr '' --admin-addr '' --data-dir $WORK/rampart-data --shutdown-delay 0s --max-conns-per-ip 0" ;;
    rampart-sites) echo "$BIN/rampart --config $c/rampart-sites.yaml --tls files --cert-file $WORK/certs/sites.pem --key-file $WORK/certs/sites.key --https-addr $LISTEN_ADDR --http-addr '' --admin-addr '' --data-dir $WORK/rampart-data --shutdown-delay 0s --max-conns-per-ip 0" ;;
    direct-tls)    echo "$BIN/backend -listen $LISTEN_ADDR -cert $CERT_FILE -key $KEY_FILE" ;;
    backend-plain) echo "" ;;  # no proxy: plain HTTP straight to the shared backend
    minproxy)      echo "$BIN/minproxy -listen $LISTEN_ADDR -backend $BACKEND_URL -cert $CERT_FILE -key $KEY_FILE" ;;
    nginx-1|nginx-auto) echo "nginx -p $c/$1/ -e $c/$1/logs/error.log -c $c/$1/nginx.conf" ;;
    haproxy-1|haproxy-2) echo "haproxy -db -f $c/$1.cfg" ;;
    caddy-1)       echo "env GOMAXPROCS=1 XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config $CADDY run --adapter caddyfile --config $c/Caddyfile" ;;
    caddy-2)       echo "env GOMAXPROCS=2 XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config $CADDY run --adapter caddyfile --config $c/Caddyfile" ;;
    *) local i; for i in "${!CUSTOM_NAMES[@]}"; do
         [[ ${CUSTOM_NAMES[$i]} == "$1" ]] && { echo "${CUSTOM_CMDS[$i]}"; return; }
       done; echo "unknown proxy $1" >&2; return 1 ;;
  esac
}

# ---------------------------------------------------------------- process control
PROXY_PID="" BACKEND_PID=""
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done; return 1; }
wait_port_free() { local i; for i in $(seq 1 100); do port_open "$1" || return 0; sleep 0.1; done; return 1; }
# start_group VAR PIN LOG CMD: start CMD in its own session (PGID == PID).
start_group() {
  local var=$1 pin=$2 logf=$3 cmd=$4 pre=()
  [[ -n "$pin" ]] && pre=(taskset -c "$pin")
  setsid "${pre[@]}" bash -c "exec $cmd" >"$logf" 2>&1 </dev/null &
  printf -v "$var" %s "$!"
}
stop_group() {  # PID: TERM the process group we started, then KILL after 5s
  local pid=$1 i
  [[ -z "$pid" ]] && return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_group "$PROXY_PID"; stop_group "$BACKEND_PID"; }
trap cleanup EXIT INT TERM

rss_kb() {  # sum VmRSS and Pss over the process group $1 -> "rss pss"
  local pid=$1 rss=0 pss=0 p v
  for p in $(ps -o pid= -g "$pid" 2>/dev/null); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0); rss=$((rss + ${v:-0}))
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); pss=$((pss + ${v:-0}))
  done
  echo "$rss $pss"
}

# CPU use of the proxy's process group while a load runs (100 = one core busy).
TCK=$(getconf CLK_TCK)
cpu_ticks() {
  local t=0 p v
  [[ -z "$PROXY_PID" ]] && { echo 0; return; }
  for p in $(ps -o pid= -g "$PROXY_PID" 2>/dev/null); do
    v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0); t=$((t + ${v:-0}))
  done
  echo "$t"
}
cpu_begin() { CPU_T0=$(cpu_ticks); CPU_W0=$(date +%s.%N); }
cpu_end() {  # proxy scenario
  [[ -z "$PROXY_PID" ]] && return 0
  local t1 w1; t1=$(cpu_ticks); w1=$(date +%s.%N)
  rec "$1" "$2" proxy_cpu_pct "$(awk -v a="$CPU_T0" -v b="$t1" -v w0="$CPU_W0" -v w1="$w1" -v hz="$TCK" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(w1-w0)}')"
}

# ---------------------------------------------------------------- result recording
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" "$ROUND" "$1" "$2" "$3" "$4" >> "$OUT/results.tsv"; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }
clientpre() { [[ -n "$CPIN" ]] && echo "taskset -c $CPIN"; true; }

run_wrk() {  # proxy scenario conns dur path bodybytes [wrk args]
  local p=$1 s=$2 c=$3 d=$4 path=$5 size=$6 f=$OUT/raw/$MODE-r$ROUND-$1-$2.txt
  cpu_begin
  timeout $((d + 20)) $(clientpre) wrk -t1 -c"$c" -d"${d}s" --latency "${@:7}" "$URL$path" > "$f" 2>&1 || true
  cpu_end "$p" "$s"
  local rps p50 p99 err
  rps=$(awk '/^Requests\/sec:/{print $2}' "$f"); p50=$(awk '$1=="50%"{print $2}' "$f"); p99=$(awk '$1=="99%"{print $2}' "$f")
  err=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(/,/,""); n+=$4+$6+$8+$10} END{print n+0}' "$f")
  [[ -z "$rps" ]] && { log "  $p $s: wrk produced no result (see $f)"; rec "$p" "$s" error 1; return; }
  rec "$p" "$s" rps "$rps"; rec "$p" "$s" errors "$err"
  rec "$p" "$s" p50_ms "$(to_ms "$p50")"; rec "$p" "$s" p99_ms "$(to_ms "$p99")"
  rec "$p" "$s" MBps "$(awk -v r="$rps" -v b="$size" 'BEGIN{printf "%.1f", r*b/1e6}')"
  log "  $p $s: rps=$rps p50=$p50 p99=$p99 errors=$err"
}

run_h2() {
  local p=$1 f=$OUT/raw/$MODE-r$ROUND-$1-h2.txt
  cpu_begin
  timeout $((BULK + 20)) $(clientpre) h2load -t1 -c64 -m10 --warm-up-time=1 -D "$BULK" "$URL/small" > "$f" 2>&1 || true
  cpu_end "$p" h2
  local rps ok failed
  rps=$(awk '/^finished in/{gsub(/,/,""); print $4}' "$f")
  ok=$(awk '/^requests:/{gsub(/,/,""); print $8}' "$f"); failed=$(awk '/^requests:/{gsub(/,/,""); print $10}' "$f")
  [[ -z "$rps" ]] && { log "  $p h2: no result (see $f)"; rec "$p" h2 error 1; return; }
  rec "$p" h2 rps "$rps"; rec "$p" h2 errors "${failed:-0}"
  rec "$p" h2 mean_ms "$(to_ms "$(awk '/^time for request:/{print $6}' "$f")")"
  log "  $p h2: rps=$rps ok=$ok failed=$failed"
}

run_hs() {  # proxy scenario extra-flags
  local p=$1 s=$2 f=$OUT/raw/$MODE-r$ROUND-$1-$2.txt
  cpu_begin
  timeout $((BULK + 30)) env GOMAXPROCS=1 $(clientpre) "$BIN/handshake" -mode hs -addr "$LISTEN_ADDR" -c 16 -d "${BULK}s" $3 > "$f" 2>&1 || true
  cpu_end "$p" "$s"
  local line; line=$(grep '^ok=' "$f" || true)
  [[ -z "$line" ]] && { log "  $p $s: no result (see $f)"; rec "$p" "$s" error 1; return; }
  local k v
  for kv in $line; do k=${kv%%=*}; v=${kv#*=}
    case $k in rate) rec "$p" "$s" hs_per_s "$v" ;; errors) rec "$p" "$s" errors "$v" ;; resumed) rec "$p" "$s" resumed "$v" ;; p50_ms|p99_ms) rec "$p" "$s" "$k" "$v" ;; esac
  done
  log "  $p $s: $line"
}

run_lat() {  # proxy: fixed-rate keep-alive load, latency from each request's scheduled time
  local p=$1 f=$OUT/raw/$MODE-r$ROUND-$1-lat.txt
  cpu_begin
  timeout $((BULK * 2 + 30)) env GOMAXPROCS=1 $(clientpre) "$BIN/handshake" -mode rate -addr "$LISTEN_ADDR" -c 32 -rate "$LAT_RATE" -d "$((BULK * 2))s" > "$f" 2>&1 || true
  cpu_end "$p" lat
  local line; line=$(grep '^ok=' "$f" || true)
  [[ -z "$line" ]] && { log "  $p lat: no result (see $f)"; rec "$p" lat error 1; return; }
  local k v
  for kv in $line; do k=${kv%%=*}; v=${kv#*=}
    case $k in rate) rec "$p" lat rps "$v" ;; errors) rec "$p" lat errors "$v" ;; p50_ms|p90_ms|p99_ms|p999_ms) rec "$p" lat "$k" "$v" ;; esac
  done
  log "  $p lat: $line"
}

run_mem() {
  local p=$1 f=$OUT/raw/$MODE-r$ROUND-$1-mem.txt hold idle loaded
  sleep 1
  read -r idle idlepss < <(rss_kb "$PROXY_PID")
  start_group hold "$CPIN" "$f" "env GOMAXPROCS=1 $BIN/handshake -mode hold -addr $LISTEN_ADDR -n 1000 -c 32 -d 60s"
  local i; for i in $(seq 1 300); do grep -q '^ready' "$f" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  read -r loaded loadedpss < <(rss_kb "$PROXY_PID")
  local opened; opened=$(sed -n 's/^ready opened=\([0-9]*\).*/\1/p' "$f")
  stop_group "$hold"
  rec "$p" mem idle_rss_kb "$idle"; rec "$p" mem idle_pss_kb "$idlepss"
  rec "$p" mem rss1000_kb "$loaded"; rec "$p" mem pss1000_kb "$loadedpss"
  rec "$p" mem conns_open "${opened:-0}"
  rec "$p" mem kb_per_conn "$(awk -v a="$loaded" -v b="$idle" -v n="${opened:-0}" 'BEGIN{ if (n>0) printf "%.1f", (a-b)/n; else print 0 }')"
  log "  $p mem: idle=${idle}kB with-${opened:-0}-conns=${loaded}kB (pss ${idlepss}->${loadedpss})"
  sleep 1
}

# ---------------------------------------------------------------- one proxy, one round
bench_proxy() {
  local p=$1 scen=$2 cmd
  cmd=$(proxy_cmd "$p")
  local tls=1
  if [[ -z "$cmd" ]]; then URL=http://$BACKEND_ADDR; PROXY_PID=""; tls=0; else URL=https://$LISTEN_ADDR; fi
  if ((tls)); then
    wait_port_free "$LISTEN_PORT" || { log "port $LISTEN_PORT busy"; return 1; }
    start_group PROXY_PID "$PPIN" "$OUT/raw/$MODE-r$ROUND-$p.log" "$cmd"
    if ! wait_port "$LISTEN_PORT"; then log "$p did not open $LISTEN_ADDR (see raw/$MODE-r$ROUND-$p.log)"; stop_group "$PROXY_PID"; PROXY_PID=""; return 0; fi
  fi
  log "[$MODE round $ROUND] $p (pid ${PROXY_PID:-none})"
  local s
  for s in ${scen//,/ }; do
    case $s in
      mem)   if ((tls)); then run_mem "$p"; fi ;;
      small) timeout 10 $(clientpre) wrk -t1 -c16 -d1s "$URL/small" >/dev/null 2>&1 || true   # warm-up
             run_wrk "$p" small 64 "$DUR" /small 100 ;;
      1k)    run_wrk "$p" 1k 64 "$BULK" /1k 1024 ;;
      64k)   run_wrk "$p" 64k 16 "$BULK" /64k 65536 ;;
      1m)    run_wrk "$p" 1m 16 "$BULK" /1m 1048576 ;;
      post)  run_wrk "$p" post 64 "$BULK" /echo 4096 -s "$WORK/conf/post.lua" ;;
      lat)   if ((tls)); then run_lat "$p"; fi ;;
      hs)    if ((tls)); then run_hs "$p" hs ""; fi ;;
      hsres) if ((tls)); then run_hs "$p" hsres "-resume"; fi ;;
      hs12)  if ((tls)); then run_hs "$p" hs12 "-tls12"; fi ;;
      h2)    if ((tls)); then run_h2 "$p"; fi ;;
    esac
  done
  stop_group "$PROXY_PID"; PROXY_PID=""
}

# ---------------------------------------------------------------- versions + crypto ceiling
{
  echo "date: $(date -u +%FT%TZ)"; echo "kernel: $(uname -r)"; echo "cpus: $(nproc) ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
  echo "go: $(go version | awk '{print $3}')"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //')"
  echo "haproxy: $(haproxy -v 2>/dev/null | awk 'NR==1{print $3}')"
  echo "caddy: $(go version -m "$CADDY" 2>/dev/null | awk '$1=="mod" && $2 ~ /caddyserver\/caddy/{print $3; exit}')"
  echo "openssl: $(openssl version | awk '{print $2}')"
  echo "wrk: $(wrk -v 2>&1 | awk 'NR==1{print $2}')"
  echo "h2load: $(h2load --version | awk '{print $2}')"
  echo "cert: $CERT_TYPE"
  echo "loadavg-at-start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/versions.txt"
if [[ $SPEED == 1 ]]; then
  log "openssl speed on CPU $PROXY_CPU"
  taskset -c "$PROXY_CPU" openssl speed -seconds 3 ecdsap256 ecdhx25519 rsa2048 > "$OUT/raw/openssl-speed.txt" 2>/dev/null || true
  awk '/ecdsa \(nistp256\)/{print "ecdsa_p256_sign_per_s: "$(NF-1); print "ecdsa_p256_verify_per_s: "$NF}
       /ecdh \(X25519\)/{print "x25519_ops_per_s: "$NF}
       /^rsa 2048 bits/{print "rsa2048_sign_per_s: "$(NF-1); print "rsa2048_verify_per_s: "$NF}' \
       "$OUT/raw/openssl-speed.txt" >> "$OUT/versions.txt"
fi

# ---------------------------------------------------------------- main loop
declare -a LIST
IFS=, read -r -a LIST <<< "$PROXIES"
for n in "${CUSTOM_NAMES[@]}"; do LIST+=("$n"); done
for MODE in ${MODES//,/ }; do
  if [[ $MODE == pinned ]]; then PPIN=$PROXY_CPU CPIN=$CLIENT_CPU R=$ROUNDS SC=$SCEN; else PPIN="" CPIN="" R=$UROUNDS SC=$USCEN; fi
  wait_port_free "$BACKEND_PORT" || { log "backend port $BACKEND_PORT busy"; exit 1; }
  start_group BACKEND_PID "$CPIN" "$OUT/raw/backend-$MODE.log" "env ${BACKEND_GOMAXPROCS:+GOMAXPROCS=$BACKEND_GOMAXPROCS} $BIN/backend -listen $BACKEND_ADDR"
  wait_port "$BACKEND_PORT" || { log "backend did not start"; exit 1; }
  # lat runs after the others: its rate is set from nginx's throughput in this run.
  rest=$(echo ",$SC," | sed 's/,lat,/,/g; s/^,//; s/,$//')
  rounds() {  # scenarios
    for ((ROUND = 1; ROUND <= R; ROUND++)); do
      order=("${LIST[@]}")
      if ((ROUND % 2 == 0)); then order=(); for ((i = ${#LIST[@]} - 1; i >= 0; i--)); do order+=("${LIST[$i]}"); done; fi
      for p in "${order[@]}"; do bench_proxy "$p" "$1"; done
    done
  }
  [[ -n $rest ]] && rounds "$rest"
  if [[ ",$SC," == *,lat,* ]]; then
    LAT_RATE=$LAT_RATE_ARG
    if [[ -z $LAT_RATE ]]; then
      LAT_RATE=$(awk -F'\t' -v m="$MODE" '$1==m && $3=="nginx-1" && $4=="small" && $5=="rps"{print $6}' "$OUT/results.tsv" | sort -n |
        awk '{v[NR]=$1} END{if(!NR){print 10000; exit} x=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%d\n", x/2}')
    fi
    log "lat: $LAT_RATE requests/s over 32 connections"
    echo "lat-rate-$MODE: $LAT_RATE" >> "$OUT/versions.txt"
    rounds lat
  fi
  stop_group "$BACKEND_PID"; BACKEND_PID=""
done
echo "loadavg-at-end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/versions.txt"

"$BIN/summarize" -in "$OUT/results.tsv" -versions "$OUT/versions.txt" -ref1 "${BENCH_REF1:-nginx-1}" -ref2 "${BENCH_REF2:-caddy-1}" -svg "$OUT/chart.svg" > "$OUT/summary.md"
# The tables to the terminal: the median/ratio table of each mode first.
sed -n '/^## mode:/,/^### /p' "$OUT/summary.md" | sed '/^### /d'
log "done: $OUT/summary.md (with spreads, errors and CPU use) and $OUT/chart.svg"
