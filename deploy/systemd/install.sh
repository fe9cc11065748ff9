#!/usr/bin/env bash
# Installs rampart as a systemd service: the binary, the unit beside this
# script, and a first /etc/rampart/rampart.yaml made of the settings given.
#
#   make build
#   sudo deploy/systemd/install.sh bin/rampart --domain shop.example.com --upstream http://127.0.0.1:8080
#
# Each --name value (or --name=value) after the binary becomes a
# `name: "value"` line of rampart.yaml, with a flag's name (rampart --help
# lists them; a boolean alone is true; --domain may repeat, and becomes a
# list). Sites with routes are added to the file by hand (README). An existing
# rampart.yaml is never overwritten: run it again with a new binary to
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

# The settings, checked before anything is written: names in the order
# first given, seen[name] the quoted YAML value (or list items) so far.
declare -A seen=() given=()
names=()

# add NAME VALUE: one more value of a setting, quoted for YAML (a value with
# ": " or "#" stays one value); a second value of a name makes a list.
add() {
	local v=${2//\\/\\\\}
	v=${v//\"/\\\"}
	if [[ -v "seen[$1]" ]]; then
		seen[$1]+=", \"$v\""
	else
		names+=("$1")
		seen[$1]="\"$v\""
	fi
	case $1 in domain) given_domain=true ;; upstream) given_upstream=true ;; esac
}
given_domain=false given_upstream=false
while [[ $# -gt 0 ]]; do
	arg=$1
	shift
	[[ $arg == --?* ]] || die "unexpected '$arg'; fix: give settings as --name value; $usage"
	name=${arg#--}
	if [[ $name == *=* ]]; then
		value=${name#*=}
		name=${name%%=*}
	elif [[ $# -eq 0 || $1 == --* ]]; then
		value=true # a boolean given alone, as rampart takes it
	else
		value=$1
		shift
	fi
	[[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "'--$name' is not a setting's name; fix: see rampart --help"
	[[ -n $value && $value != *$'\n'* ]] || die "--$name: the value must be one non-empty line"
	case $name in
	config) die "--config: the unit reads /etc/rampart/rampart.yaml; fix: drop --config" ;;
	data-dir) die "--data-dir: the unit keeps rampart's data in /var/lib/rampart (StateDirectory=, the only place its sandbox may write); fix: drop --data-dir" ;;
	acme-eab-hmac) die "--acme-eab-hmac: rampart.yaml is world-readable (the service's dynamic user must read it), so a secret does not belong there; fix: drop it here, put RAMPART_ACME_EAB_HMAC=... in a file only root reads, e.g. /etc/rampart/secret.env (mode 0600), and add EnvironmentFile=/etc/rampart/secret.env with 'systemctl edit rampart'" ;;
	esac
	given[$name]=1
	add "$name" "$value"
done
root=${DESTDIR:-}
root=${root%/}
conf=$root/etc/rampart/rampart.yaml

# An install of an earlier version keeps its settings in rampart.conf, one
# "name = value" a line: they carry over into the new rampart.yaml, below
# what is given here. The old file is left as it was.
old_conf=$root/etc/rampart/rampart.conf
converted=false
if [[ ! -e $conf && -f $old_conf ]]; then
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line#"${line%%[![:space:]]*}"}
		[[ -z $line || $line == \#* ]] && continue
		[[ $line == *=* ]] || die "$old_conf: '$line' is not name = value; fix: correct or remove that line, then run this again"
		name=${line%%=*} value=${line#*=}
		name=${name%"${name##*[![:space:]]}"} value=${value#"${value%%[![:space:]]*}"}
		value=${value%"${value##*[![:space:]]}"} value=${value#\"} value=${value%\"}
		[[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "$old_conf: '$name' is not a setting's name; fix: correct that line"
		[[ -v "given[$name]" ]] || add "$name" "$value" # what is given here wins
	done <"$old_conf"
	converted=true
fi

settings=()
for name in "${names[@]}"; do
	case ${seen[$name]} in
	*'", "'*) settings+=("$name: [${seen[$name]}]") ;; # given more than once (domain): a list
	*) settings+=("$name: ${seen[$name]}") ;;
	esac
done

if [[ -z $root && $EUID -ne 0 ]]; then
	die "installing into / needs root; fix: sudo $0 $binary ... (or set DESTDIR to stage the files under another root)"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ! -e $conf ]] && ! { $given_domain && $given_upstream; }; then
	die "no $conf yet, so rampart needs --domain and --upstream; fix: $0 $binary --domain shop.example.com --upstream http://127.0.0.1:8080"
fi

# A first rampart.yaml is written aside and judged by rampart itself, as a
# start would judge it, before anything is installed: a misspelt name or a
# bad value never reaches a unit that would restart on it every 5 seconds.
new_conf=""
if [[ ! -e $conf ]]; then
	new_conf=$(mktemp)
	trap 'rm -f "$new_conf"' EXIT
	{
		echo "# rampart's settings (YAML): a flag's name and its value (rampart --help), and sites (README)."
		echo "# Flags and RAMPART_* variables beat these. After a change: systemctl reload rampart"
		printf '%s\n' "${settings[@]}"
	} >"$new_conf"
	if ! check=$(env -i PATH=/usr/bin:/bin RAMPART_DATA_DIR=/var/lib/rampart "$binary" check --config "$new_conf" 2>&1); then
		check=${check#rampart: }
		die "the settings given are not valid, nothing was installed: ${check//$new_conf:/line }"
	fi
fi

# Directories first: a fresh machine has no /etc/rampart.
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/rampart"
install -m 0755 "$binary" "$root/usr/local/bin/rampart"
install -m 0644 "$here/rampart.service" "$root/etc/systemd/system/rampart.service"
echo "installed $root/usr/local/bin/rampart and $root/etc/systemd/system/rampart.service"

if [[ -z $new_conf ]]; then
	echo "kept $conf as it is${settings[*]:+ (the settings given here were not applied: edit it, then systemctl reload rampart)}"
else
	# Mode 0644: the unit's DynamicUser= reads it under a uid unknown in
	# advance, so it cannot be kept to a group; secrets stay out (see above).
	# Copied beside it and renamed, so a failure never leaves half a file.
	install -m 0644 "$new_conf" "$conf.new"
	mv "$conf.new" "$conf"
	echo "wrote $conf"
	if $converted; then
		echo "  with the settings of $old_conf, the form of earlier versions (left as it was; rampart no longer reads it)"
	fi
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
sleep 2 # Type=exec: a start that fails on its settings or ports ends within this
if ! systemctl is-active --quiet rampart; then
	journalctl -u rampart -n 5 --no-pager >&2 || true
	die "rampart did not stay up; fix: see journalctl -u rampart, correct $conf, then systemctl restart rampart"
fi
echo "rampart is running; its log: journalctl -u rampart; its settings: $conf"
