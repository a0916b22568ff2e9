# The README's commands. Each target builds the virtualenv it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-postfix bench-ratelimit bench-watch bench-watch-outputs bench-watch-peers bench-watch-scale bench-dnsbl bench-deliveries clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The whole suite on every core (pytest-xdist); tests that share one system service take turns
# (tests/services.py: exclusive). Most tests wait on a deadline or a subprocess rather than the
# CPU: two workers per core (measured on 2 cores: 409 s serial, 212 s with 2 workers, 153 s
# with 4).
# PYTEST_ARGS narrows the run, e.g. PYTEST_ARGS='-m "not services"'.
PYTEST_WORKERS ?= $(shell expr 2 \* $$(nproc))
PYTEST_ARGS ?=
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Measured on a normal (not editable) install, as users have it.
bench: $(STAMP)
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check .
	.venv-bench/bin/python benchmarks/bench_plugins.py

# Root only: fills the local Postfix queue (see .ci/setup.d/10-postfix.sh), then empties it.
bench-postfix: $(STAMP)
	$(BIN)/python benchmarks/bench_postfix_queue.py --sizes 2000,20000

# 1,000,000 rows per daemon table on SQLite and on the local MariaDB (.ci/setup.d/30-mariadb.sh),
# and the --log scan against grep -c on a 128 MB mail log.
bench-ratelimit: $(STAMP)
	$(BIN)/python benchmarks/bench_ratelimit.py

# Needs nagios4 (.ci/setup.d/20-nagios-icinga.sh): latency from a PBX change to status.dat.
bench-watch: $(STAMP)
	$(BIN)/python benchmarks/bench_watch.py

# What the outputs take at 10,000 PBXs x 3 services: writes to a FIFO (burst and steady), and
# results/s into a private Icinga 2 API (.ci/setup.d/20-nagios-icinga.sh) by requests in flight.
bench-watch-outputs: $(STAMP)
	$(BIN)/python benchmarks/bench_watch_outputs.py

bench-watch-peers: $(STAMP)
	$(BIN)/python benchmarks/bench_watch_peers.py

# One asterisk-watch for 10, 100, 1,000 and 10,000 simulated PBXs x 3 services (one simulator
# process plays them all, each on its own port), 30 s interval, 1 % flipping a span alarm:
# start-up, RSS, CPU, event and interval latencies. About 10 minutes; BENCH_SIZES=10000 runs
# one size. Root raises the simulator's open-files limit past 20,000 (two per PBX).
BENCH_SIZES ?= 10,100,1000,10000
bench-watch-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_watch_scale.py --sizes $(BENCH_SIZES)

# Needs NSD and Unbound (.ci/setup.d/60-dns.sh): check_dnsbl on 16 addresses and a /24, each on
# 60 lists served by a private NSD behind a private Unbound (tests/dns_lab.py).
bench-dnsbl: $(STAMP)
	$(BIN)/python benchmarks/bench_dnsbl.py

# Two generated 1 GB relay mail logs in a temporary directory (2 GB of disk, removed after):
# check_postfix_deliveries's scan against grep -c, and delivery lines classified per second.
bench-deliveries: $(STAMP)
	$(BIN)/python benchmarks/bench_deliveries.py --mb 1024

clean:
	rm -rf .venv .venv-* *.egg-info build dist .pytest_cache .mypy_cache .ruff_cache
