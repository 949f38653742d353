#!/bin/sh
# /init of the in-kernel test guest (busybox sh), put into the initramfs by
# scripts/inkernel.sh.  Not run on the host.
#
# Mounts proc, sys and dev, checks that kvm_amd initialised, copies the
# KUnit results to the second serial port, runs the KVM
# selftests of /etc/inkernel/tests (lines "NAME TIMEOUT"), each in its own
# process group with a timeout (inkernel-run), prints their output with a
# prefix and one result line each, then the kernel log, and powers off.
#
# Every line the host reads starts with "@@inkernel".  The selftests'
# output is prefixed with "| " so that its TAP lines never look like the
# kernel's KUnit KTAP to the parser.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
# Only warnings and worse interleave with our output; the whole kernel
# log is printed at the end.
dmesg -n 5

echo "@@inkernel init-start $(cut -d' ' -f1 /proc/uptime)"
echo "@@inkernel kernel $(uname -r) cpus $(grep -c ^processor /proc/cpuinfo)" \
	"mem-kb $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"

# kvm_amd: /dev/kvm exists only when a vendor module registered it; the
# built-in module's parameters appear under /sys/module/kvm_amd; and
# kvm_amd says what it enabled in the kernel log.
dev=no; [ -c /dev/kvm ] && dev=yes
npt=$(cat /sys/module/kvm_amd/parameters/npt 2> /dev/null || echo none)
nested=$(cat /sys/module/kvm_amd/parameters/nested 2> /dev/null || echo none)
svm=no; grep -qw svm /proc/cpuinfo && svm=yes
echo "@@inkernel kvm dev=$dev svm=$svm kvm_amd.npt=$npt kvm_amd.nested=$nested"
dmesg | grep -E 'kvm_amd|kvm_intel|kvm:|SVM|TDX|SEV' | sed 's/^/@@inkernel kvm-log /'

# KUnit: the built-in suites ran before /init.  Each suite's KTAP document
# is in debugfs (KUNIT_DEBUGFS); copy them whole to the second serial port,
# where nothing else writes: on the console, the kernel's messages and the
# other CPU's output interleave with KTAP.  scripts/ktap-check.py reads the
# framing and checks the line counts.
kunit_results()
{
	n=0
	echo "@@kunit-results-begin"
	for d in /sys/kernel/debug/kunit/*; do
		[ -r "$d/results" ] || continue
		cat "$d/results" > /tmp/kunit.ktap
		[ -n "$(tail -c 1 /tmp/kunit.ktap)" ] && echo >> /tmp/kunit.ktap
		echo "@@suite-begin ${d##*/}"
		cat /tmp/kunit.ktap
		echo "@@suite-end ${d##*/} $(wc -l < /tmp/kunit.ktap)"
		n=$((n + 1))
	done
	echo "@@kunit-results-end $n"
}
if [ -c /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo 2> /dev/null; then
	# Closing the port waits until the UART has sent everything.
	kunit_results > /dev/ttyS1
	echo "@@inkernel kunit-results $n suite(s) copied to ttyS1"
else
	echo "@@inkernel kunit-results none copied: no second serial port (ttyS1)"
fi

# The run.
echo "@@inkernel tests-start $(cut -d' ' -f1 /proc/uptime)"
while read -r name timeout rest; do
	case $name in ''|'#'*) continue ;; esac
	if [ ! -x "/kvm/$name" ]; then
		echo "@@inkernel-result $name - 0 notbuilt"
		continue
	fi
	echo "@@inkernel-begin $name"
	out=/tmp/out.$$
	( cd "/kvm/$(dirname "$name")" && exec /bin/inkernel-run "$timeout" "$name" "$out" "/kvm/$name" ) > /tmp/res.$$
	# At most 200 lines of a test's output on the console.
	n=$(wc -l < "$out")
	[ "$n" -gt 200 ] && echo "| ($((n - 200)) earlier lines not shown)"
	tail -n 200 "$out" | sed 's/^/| /'
	cat /tmp/res.$$
	rm -f "$out" /tmp/res.$$
done < /etc/inkernel/tests
echo "@@inkernel tests-end $(cut -d' ' -f1 /proc/uptime)"

echo "@@inkernel tainted $(cat /proc/sys/kernel/tainted)"
echo "@@inkernel dmesg-begin"
dmesg | sed 's/^/dmesg| /'
echo "@@inkernel dmesg-end"
echo "@@inkernel poweroff"
sync
poweroff -f
# Not reached unless ACPI power-off failed; QEMU runs with -no-reboot.
reboot -f
