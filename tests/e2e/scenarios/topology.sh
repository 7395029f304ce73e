#!/bin/sh
# CPU topology from -c: the guest's view (/proc/cpuinfo, sysfs) of
#   cpus=4,sockets=2,cores=2,threads=1: two packages of two cores each,
#     one thread per core;
#   cpus=4,sockets=1,cores=2,threads=2: one package, two cores of two
#     hyperthreads, each CPU's thread_siblings_list naming its twin.
# e2e-pin: yes
# e2e-weight: 2
. "$(dirname "$0")/../lib.sh"

boot_topology() { # -c VALUE
	run_action_guest 60 "$1" kt.action=poweroff
	expect_exit 1
	expect_guest_sane
	expect_value nproc 4
}

# The sibling list the guest reports for one CPU ("KT: topo cpuN ... threads=LIST").
siblings() { # LOG CPU
	tr -d '\r' <"$1" | sed -n "s/^KT: topo $2 .* threads=//p"
}

boot_topology cpus=4,sockets=2,cores=2,threads=1
expect_value packages 2
expect_value cores_per_package "2 2"
expect_value threads_per_core 1
for c in 0 1 2 3; do
	s=$(siblings "$VM_LOG" cpu$c)
	[ "$s" = "$c" ] || fail "cpu$c has thread siblings '$s' with threads=1, expected '$c'"
done

boot_topology cpus=4,sockets=1,cores=2,threads=2
expect_value packages 1
expect_value cores_per_package 2
expect_value threads_per_core 2
for c in 0 1 2 3; do
	pair=$((c / 2 * 2))-$((c / 2 * 2 + 1))
	s=$(siblings "$VM_LOG" cpu$c)
	[ "$s" = "$pair" ] || fail "cpu$c has thread siblings '$s', expected '$pair'"
done
pass
