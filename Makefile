# The workbench.  "make" and "make check" are the two set-up commands;
# the rest are the steps of the round trip and of sending.  See README.md.

SH := sh
export PATCH DESTDIR PREFIX

.PHONY: all check tree export verify baseline backport send bench soak report host clean help

all:
	@$(SH) scripts/workbench.sh main

check:
	@$(SH) scripts/workbench.sh check

tree:
	@$(SH) scripts/tree.sh

export:
	@$(SH) scripts/export.sh

# make verify [PATCH=N]: re-verify the series (or only patch N) from series/.
verify:
	@rm -f build/report/results.tsv
	@START_TIME=$$(date +%s); export START_TIME; \
	$(SH) scripts/step.sh linux-7.3 verify.sh $(SH) scripts/verify.sh linux-7.3; \
	$(SH) scripts/report.sh "make verify$(if $(PATCH), PATCH=$(PATCH))"

baseline:
	@$(SH) scripts/baseline.sh linux-7.3

# make backport [STEPS="apply build each kunit"]: the Debian 6.12 backport
# (backports/debian-6.12); default: apply, build and KUnit, as make check.
STEPS ?= apply build kunit
backport:
	@rm -f build/report/results.tsv
	@START_TIME=$$(date +%s); export START_TIME; \
	$(SH) scripts/step.sh "backport debian-6.12" backport.sh $(SH) scripts/backport.sh $(STEPS); \
	$(SH) scripts/report.sh "make backport"

send:
	@$(SH) scripts/send.sh

bench:
	@$(SH) scripts/bench.sh

# make soak [BOOTS=20] [RUNS=5]: the in-kernel images booted again and
# again beside CPU-heavy processes (evidence against flakes; see README).
BOOTS ?= 20
RUNS ?= 5
soak:
	@$(SH) scripts/soak.sh $(BOOTS) $(RUNS)

# make host [DESTDIR=...] [PREFIX=/usr/local]: the patched tree's KVM
# selftests and the runner, built and installed for a host team.
host:
	@$(SH) scripts/host.sh

report:
	@$(SH) scripts/report.sh

clean:
	rm -rf build

help:
	@sed -n 's/^## //p' README.md | head -n 40
