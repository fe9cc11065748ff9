#!/usr/bin/env bash
# Installs rampart as a systemd service: the binary, the unit beside this
# script, and a first /etc/rampart/rampart.conf made of the settings given.
#
#   make build
#   sudo deploy/systemd/install.sh bin/rampart --domain shop.example.com --upstream http://127.0.0.1:8080
#
# Each --name value (or --name=value) after the binary becomes a "name = value"
# line of rampart.conf, with a flag's name (rampart --help lists them; a
# boolean is written --name=true; --domain may repeat). An existing
# rampart.conf is never overwritten: run it again with a new binary to
# upgrade, and edit the file, then `systemctl reload rampart`, to change a
# setting.
#
# DESTDIR=/some/root installs under that root instead, as a package build
# does, needs no root and starts nothing: it prints what to run on the
# machine. Without DESTDIR it must run as root, and on a machine booted with
# systemd it reloads systemd and enables and starts (or restarts) rampart.
set -euo pipefail

usage="usage: [DESTDIR=ROOT] $0 BINARY --domain NAME --upstream URL [--name value ...]"
die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

if [[ $# -ge 1 && ($1 == -h || $1 == --help) ]]; then
	echo "$usage"
	exit 0
fi
[[ $# -ge 1 ]] || die "$usage"
binary=$1
shift
[[ -f $binary && -x $binary ]] ||
	die "no executable rampart at '$binary'; fix: run 'make build' first (it writes bin/rampart), or name the binary's path"

# The settings, checked before anything is written.
settings=()
given_domain=false given_upstream=false
while [[ $# -gt 0 ]]; do
	arg=$1
	shift
	[[ $arg == --?* ]] || die "unexpected '$arg'; fix: give settings as --name value; $usage"
	name=${arg#--}
	if [[ $name == *=* ]]; then
		value=${name#*=}
		name=${name%%=*}
	else
		[[ $# -gt 0 ]] || die "--$name needs a value; fix: --$name value (a boolean: --$name=true)"
		value=$1
		shift
	fi
	[[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "'--$name' is not a setting's name; fix: see rampart --help"
	[[ -n $value && $value != *$'\n'* ]] || die "--$name: the value must be one non-empty line"
	case $name in
	config) die "--config: the unit reads /etc/rampart/rampart.conf; fix: drop --config" ;;
	acme-eab-hmac) die "--acme-eab-hmac: rampart.conf is world-readable (the service's dynamic user must read it), so a secret does not belong there; fix: drop it here, put RAMPART_ACME_EAB_HMAC=... in a file only root reads, e.g. /etc/rampart/secret.env (mode 0600), and add EnvironmentFile=/etc/rampart/secret.env with 'systemctl edit rampart'" ;;
	domain) given_domain=true ;;
	upstream) given_upstream=true ;;
	esac
	settings+=("$name = $value")
done

root=${DESTDIR:-}
root=${root%/}
if [[ -z $root && $EUID -ne 0 ]]; then
	die "installing into / needs root; fix: sudo $0 $binary ... (or set DESTDIR to stage the files under another root)"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
conf=$root/etc/rampart/rampart.conf
if [[ ! -e $conf ]] && ! { $given_domain && $given_upstream; }; then
	die "no $conf yet, so rampart needs --domain and --upstream; fix: $0 $binary --domain shop.example.com --upstream http://127.0.0.1:8080"
fi

# Directories first: a fresh machine has no /etc/rampart.
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/rampart"
install -m 0755 "$binary" "$root/usr/local/bin/rampart"
install -m 0644 "$here/rampart.service" "$root/etc/systemd/system/rampart.service"
echo "installed $root/usr/local/bin/rampart and $root/etc/systemd/system/rampart.service"

if [[ -e $conf ]]; then
	echo "kept $conf as it is${settings[*]:+ (the settings given here were not applied: edit it, then systemctl reload rampart)}"
else
	# Mode 0644: the unit's DynamicUser= reads it under a uid unknown in
	# advance, so it cannot be kept to a group; secrets stay out (see above).
	# Written aside and renamed, so a failure never leaves half a file.
	tmp=$(mktemp "$conf.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	{
		echo "# rampart's settings: one \"name = value\" a line, a flag's name (rampart --help)."
		echo "# Flags and RAMPART_* variables beat these. After a change: systemctl reload rampart"
		printf '%s\n' "${settings[@]}"
	} >"$tmp"
	chmod 0644 "$tmp"
	mv "$tmp" "$conf"
	trap - EXIT
	echo "wrote $conf"
fi

next=("systemctl daemon-reload" "systemctl enable --now rampart")
if [[ -n $root || ! -d /run/systemd/system ]]; then
	echo "next, as root on the machine that boots with systemd:"
	printf '  %s\n' "${next[@]}"
	exit 0
fi
systemctl daemon-reload
if systemctl is-active --quiet rampart; then
	# enable --now leaves a running service on the old binary.
	systemctl enable rampart
	systemctl restart rampart
else
	systemctl enable --now rampart
fi
echo "rampart is running; its log: journalctl -u rampart; its settings: $conf"
