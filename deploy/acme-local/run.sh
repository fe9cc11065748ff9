#!/usr/bin/env bash
# Try ACME locally: a real ACME CA (Pebble, Let's Encrypt's test CA, with
# pebble-challtestsrv as its DNS) on this machine, and rampart ordering a
# certificate for shop.test from it, in front of the demo's sample app.
# Nothing leaves the machine: every name resolves to 127.0.0.1, and Pebble
# validates the challenges on rampart's ports.
#
#   make acme-local        (or: bash deploy/acme-local/run.sh)
#
# then, in another terminal, from the repository:
#
#   curl --cacert bin/acme-local/pebble-root.pem --resolve shop.test:8443:127.0.0.1 https://shop.test:8443/
#
# Ctrl-C stops everything. Ports (loopback): 8443 rampart HTTPS (TLS-ALPN-01),
# 8080 rampart HTTP (HTTP-01), 9090 rampart admin, 8081 the sample app, 8444
# the demo's own HTTPS, 14000 Pebble's ACME API, 15000 Pebble's management
# API, 8053 the DNS, 8055 its management. Its files are in bin/acme-local.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in go openssl curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "acme-local: $tool is missing; fix: install it (Debian: apt-get install ${tool/go/golang})" >&2
		exit 2
	fi
done

dir=bin/acme-local
mkdir -p "$dir"
rm -rf "$dir/data" "$dir/demo"
pids=()
# SIGTERM, not SIGINT: a script's background jobs start with SIGINT ignored.
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every port must be free: a server of yours on one (9090 is often
# Prometheus, 8081 an app) would be mistaken for a part of this.
busy=()
for port in 8443 8080 9090 8081 8444 14000 15000 8053 8055; do
	if listening "$port"; then busy+=("$port"); fi
done
if ((${#busy[@]})); then
	echo "acme-local: port(s) ${busy[*]} on 127.0.0.1 already in use; fix: stop what listens there (rampart demo uses 8443, 8080, 8081, 9090) and run it again" >&2
	exit 2
fi

# Wait until the process $1 listens on 127.0.0.1:$2 (bounded: 60 s); if it
# ends first, show its log ($3).
wait_port() {
	for _ in $(seq 600); do
		if ! kill -0 "$1" 2>/dev/null; then
			echo "acme-local: $3 ended before it listened on 127.0.0.1:$2:" >&2
			cat "$dir/$3" >&2
			exit 1
		fi
		if listening "$2"; then return 0; fi
		sleep 0.1
	done
	echo "acme-local: nothing listens on 127.0.0.1:$2 after 60s; see $dir/$3" >&2
	exit 1
}

echo "acme-local: building rampart, Pebble and pebble-challtestsrv"
go build -o bin/rampart ./cmd/rampart
pebble=$(go tool -n pebble)
challtestsrv=$(go tool -n pebble-challtestsrv)

# Pebble's own API is HTTPS: a certificate for it, made fresh, which rampart
# is told to trust with --acme-ca-root. (This is not the root Pebble issues
# from: that one is new at every start, fetched below for curl.)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/api-key.pem" -out "$dir/api-cert.pem" 2>/dev/null
cat >"$dir/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$dir/api-cert.pem", "privateKey": "$dir/api-key.pem",
  "httpPort": 8080, "tlsPort": 8443,
  "profiles": {"default": {"description": "local", "validityPeriod": 7776000}}
}}
JSON

"$challtestsrv" -dnsserver 127.0.0.1:8053 -management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	-http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$dir/challtestsrv.log" 2>&1 &
pids+=($!)
wait_port "$!" 8053 challtestsrv.log
PEBBLE_VA_NOSLEEP=1 "$pebble" -config "$dir/pebble.json" -dnsserver 127.0.0.1:8053 >"$dir/pebble.log" 2>&1 &
pids+=($!)
wait_port "$!" 15000 pebble.log
curl -sS --fail --cacert "$dir/api-cert.pem" https://127.0.0.1:15000/roots/0 -o "$dir/pebble-root.pem"

# The app: the demo's sample page (the demo's own rampart stays on 8444).
bin/rampart demo --app-addr 127.0.0.1:8081 --https-addr 127.0.0.1:8444 --http-addr "" --admin-addr "" \
	--data-dir "$dir/demo" >"$dir/app.log" 2>&1 &
pids+=($!)
wait_port "$!" 8081 app.log

cat <<TEXT

acme-local: Pebble is the CA; rampart orders a certificate for shop.test from it now.
Once the log below says "certificate ready", in another terminal:

  curl --cacert $dir/pebble-root.pem --resolve shop.test:8443:127.0.0.1 https://shop.test:8443/

Ctrl-C stops everything.

TEXT
bin/rampart --domain shop.test --upstream http://127.0.0.1:8081 \
	--https-addr 127.0.0.1:8443 --http-addr 127.0.0.1:8080 --admin-addr 127.0.0.1:9090 \
	--acme-directory https://127.0.0.1:14000/dir --acme-ca-root "$dir/api-cert.pem" \
	--data-dir "$dir/data" --log-format console --shutdown-delay 0s &
pids+=($!)
wait "${pids[-1]}"
