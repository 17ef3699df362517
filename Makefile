# fujitsu.vmcsinfo: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
MODSRC := collections/ansible_collections/fujitsu/vmcsinfo/module-src
VMX_OUT := build/vmx/corei7_haswell_4770

.PHONY: help deps venv test demo demo-down bench bench-crash lint lint-ansible molecule sim sim-test kbuild checkpatch vmx-probe vmx-seed vmx-kvm vmx-crash bare-machine collection ee bench-fleetdb bench-fleet clean

help:
	@echo "make demo    the main job: deploy.yml on the lab VM, its facts, and a real VMX probe (Bochs)"
	@echo "make demo-down  stop and remove the lab VM"
	@echo "make test    every check CI runs (lint, simulator suites, kernel builds, Bochs boots, molecule)"
	@echo "make bench   deploy.yml re-run and vmcsinfo_facts speed on the lab VM"
	@echo "make bench-crash  vmcsinfo-crash on a synthetic 4 GiB dump vs cat, drgn and Volatility 3"
	@echo "make bench-fleetdb  fleet database merge and serve for 1000 to 10,000 synthetic hosts"
	@echo "make bench-fleet  a podman fleet of 5, 10, 20 containers through the fleet database role"
	@echo "make deps | venv | lint | lint-ansible | molecule | sim | sim-test | kbuild | checkpatch"
	@echo "     vmx-probe | vmx-seed | vmx-kvm | vmx-crash | bare-machine | collection | ee | clean"

deps:
	@scripts/install-deps.sh

$(VENV)/.stamp: requirements.txt scripts/install-tools.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	scripts/install-tools.sh $(VENV)
	touch $@

venv: $(VENV)/.stamp

test: deps venv
	@scripts/run-tests.sh

lint: deps venv
	@TEST_STEPS="lint-python lint-shell checkpatch lint-ansible" scripts/run-tests.sh

# ansible-lint (production profile) and ansible-test sanity on the collection
lint-ansible: deps venv
	@TEST_STEPS="lint-ansible" scripts/run-tests.sh

# molecule scenarios `container` (rootful podman, local Debian 12 image),
# `fleetdb` (the fleet database, nine hosts) and `vm` (the lab VM, with a real
# crash); one of them: scripts/molecule.sh SCENARIO
molecule: deps venv
	@TEST_STEPS="molecule-container molecule-fleetdb molecule-vm" scripts/run-tests.sh

# deploy.yml re-run and vmcsinfo_facts speed on the lab VM (prints ratios)
bench: deps venv
	scripts/bench.sh

# vmcsinfo-crash on a synthetic 4 GiB crash dump (ELF and zlib kdump) against
# cat and drgn, its peak RSS, and Volatility 3's vmscan (prints ratios)
bench-crash: deps venv
	scripts/bench-crash.sh

# The fleet database (fleetdb.py) merging the facts of 1000 to 10,000
# synthetic hosts and serving them: times per host, peak RSS, index size
bench-fleetdb: venv
	$(VENV)/bin/python tests/bench/bench-fleetdb.py

# A real podman fleet of 5, 10 and 20 containers (BENCH_SIZES) through the fleet
# database role: fill, serve, ansible-inventory --graph, re-run; time per host
# (fujitsu.vmcsinfo.fleetdb; BENCH_PLAYBOOK=deploy for deploy.yml itself)
bench-fleet: venv
	tests/bench/bench-fleet.sh

sim: deps
	$(MAKE) -C $(MODSRC) sim

sim-test: deps venv
	@TEST_STEPS="sim-suite pytest" scripts/run-tests.sh

kbuild: deps
	scripts/kbuild-test.sh 6.1 6.12

checkpatch: deps
	scripts/checkpatch.sh

vmx-probe: deps
	tests/vmx/vmx-probe.sh

# The fleet database's seed data, db/seed rebuilt: every Bochs 2.7 Intel CPU
# model probed by the real module under Debian's 6.1 kernel (which boot, which
# do not: db/seed/MODELS.md) and KVM's nested vmcs12 layout
vmx-seed: deps venv
	nice -n 10 tests/vmx/vmx-seed.sh

vmx-kvm: deps
	tests/vmx/vmx-kvm.sh

# The crash proof: a KVM host under Bochs crashes while its guest runs, the
# crash kernel saves the dump (makedumpfile -l and -c), vmcsinfo-crash reads it
vmx-crash: deps venv
	tests/vmx/vmx-crash.sh

# The collection tarball as a user installs it: ansible-doc on every plugin and
# `ansible-playbook fujitsu.vmcsinfo.deploy --check` on a fresh container.
collection: deps venv
	@TEST_STEPS="collection" scripts/run-tests.sh

# execution-environment.yml: `ansible-builder create` offline, and the
# context checked for ansible-core, jmespath, drgn and the collection
ee: venv
	@TEST_STEPS="ee" scripts/run-tests.sh

# The README's set-up path on a bare Debian 12 container (stale apt lists,
# nothing cached): install-deps, venv, kernels, a Bochs start, the lab image.
bare-machine: deps
	tests/bare/bare-machine.sh

# The main job on the lab VM (deploy.yml, facts) and a real VMX probe (Bochs).
demo: deps venv
	@scripts/demo.sh

demo-down:
	@scripts/lab-vm.sh down

clean:
	$(MAKE) -C $(MODSRC) clean KDIR=/nonexistent
	rm -rf build
