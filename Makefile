# The two commands of the README: `make demo` and `make test`. Both set up everything on a fresh
# Debian/Ubuntu machine (apt packages, the CPython and library sources, Python deps, the runtime).
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV := .venv
VPY := $(VENV)/bin/python
EXXO := $(VENV)/bin/exxo
STAMP := $(VENV)/.installed
PYVER ?= 3.13
# The other supported versions: `make test` fetches their sources; tests/integration/test_versions.py builds
# their runtimes (cached like the default one) the first time it runs.
OTHER_PYVERS ?= 3.11 3.14
JOBS ?= $(shell nproc)
PYTEST_ARGS ?=

APT_PACKAGES := build-essential python3-venv python3-dev perl tcl make patch file curl xz-utils \
	debootstrap strace util-linux ca-certificates git binutils procps dpkg-dev cmake openssl \
	qemu-user qemu-user-binfmt libc6-arm64-cross libgcc-12-dev-arm64-cross binutils-aarch64-linux-gnu

.PHONY: prereqs sources test-sources dev runtime demo test lint unit bench compat numpy-suite fuzz portability dist clean

prereqs:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi
	@# aarch64 binaries exec'd by the kernel through qemu (re-entry tests, tests/integration/test_aarch64.py):
	@# binfmt_misc with qemu-user-binfmt's entry; best effort (a container may not allow it: the test then skips).
	@if [ "$$(id -u)" = 0 ] && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then \
	  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc none /proc/sys/fs/binfmt_misc 2>/dev/null || true; \
	  [ -e /proc/sys/fs/binfmt_misc/register ] && cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register 2>/dev/null || true; \
	fi

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

dev: prereqs $(STAMP)

# CPython and third-party library sources, offline-capable (Debian's .orig tarballs are the upstream bytes).
sources: dev
	bash tools/fetch-sources.sh $(PYVER)

test-sources: sources
	for v in $(OTHER_PYVERS); do bash tools/fetch-sources.sh $$v || exit 1; done

runtime: sources
	$(EXXO) bootstrap -p $(PYVER) --jobs $(JOBS)

lint: dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# Seconds, offline (no network, no runtime: tests/unit/conftest.py refuses tests that need them).
unit: dev
	$(VPY) -m pytest -q tests/unit -m "not slow" $(PYTEST_ARGS)

test: runtime test-sources lint
	EXXO_UPX=$$(bash tools/build-upx.sh) $(VPY) -m pytest -q -ra tests $(PYTEST_ARGS)

demo: runtime
	bash examples/flask-gevent/demo.sh

bench: runtime
	$(VPY) benchmarks/run.py

# The whole package list (../shared/compat/packages.toml) -> docs/compatibility.md. `make test` runs a subset.
compat: runtime
	$(VPY) tests/compat/harness.py --out docs/compatibility.md
	$(VPY) tests/compat/jupyterlab_page.py

# numpy's own test suite from an exxo binary and from its venv, side by side -> docs/numpy-suite.md.
numpy-suite: runtime
	$(VPY) tests/compat/numpy_suite.py --out docs/numpy-suite.md

# Seeded fuzz of a built binary and of `exxo inspect` (10,000 cases); `make test` runs a 1,000-case slice.
fuzz: runtime
	$(VPY) tests/fuzz/fuzz_binary.py --cases 10000

# The environment matrix -> docs/portability.md.
portability: runtime
	$(VPY) tests/portability/harness.py --out docs/portability.md

# exxo itself, built with exxo, into one file: dist/exxo.
dist: runtime
	bash tools/make-dist.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
