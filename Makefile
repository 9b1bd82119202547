# Two commands do all set-up on a fresh machine:
#   make demo   -- create .venv, then run the pipeline on the embedded digits example
#   make test   -- create .venv, then run the unit tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,tvm
RUN ?= runs/demo

$(BIN)/nasc: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(BIN)/nasc

# The aarch64 cross linker for Jetson .so artifacts (best effort: without it Jetson
# builds export a .tar that the device links, and the ELF test skips with the reason).
toolchain:
	-@bash backends/tvm/install_cross_toolchain.sh >/dev/null 2>&1 || \
	  echo "note: aarch64 cross toolchain not installed (needs root and apt); Jetson builds will export .tar"

demo: venv
	$(BIN)/nasc check examples/digits.nas
	$(BIN)/nasc compile examples/digits.nas --target cpu --out $(RUN)
	@cat $(RUN)/search/arch.nas $(RUN)/report.json

# Two workers: most tests wait on one core (TVM's compiler, Python); every test that times
# something compares runs made inside one test, so a neighbour's load cannot flip its verdict.
# --dist loadscope keeps each module on one worker: a module-scoped fixture (a whole killed and
# resumed sweep, a profiled space) is built once, not once per worker that gets one of its tests.
test: venv toolchain
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --durations=20 tests

# The type checker over nasc/, grammar/ and backends/ (configured in pyproject.toml).
typecheck: venv
	$(BIN)/mypy

e2e: venv
	$(BIN)/python benchmarks/digits_e2e.py

# The latency regression gate (docs/ci.md): the demo artifact against the committed
# baseline; exit 1 on a regression beyond the tolerance, 2 on a baseline it cannot compare.
GATE_BASELINE ?= benchmarks/baselines/demo_cpu.json
GATE_FLAGS ?=
# A run too noisy for a verdict (exit 3) is tried again, up to three times; three inconclusive
# runs pass with a warning (nothing was judged), a regression fails.
gate: demo
	@for i in 1 2 3; do \
	  $(BIN)/nasc bench $(RUN)/artifact --baseline $(GATE_BASELINE) $(GATE_FLAGS); rc=$$?; \
	  [ $$rc -eq 3 ] || exit $$rc; \
	done; echo "gate: inconclusive three times (the machine did not repeat its measurements); nothing judged"

# Measure the demo artifact and write it as the gate's baseline (commit the file afterwards).
gate-baseline: demo
	$(BIN)/nasc bench $(RUN)/artifact --write-baseline $(GATE_BASELINE)

# Every benchmark writes benchmarks/results/NAME.json and exits 1 when a target is missed.
bench: venv
	$(BIN)/python benchmarks/frontend_speed.py
	$(BIN)/python benchmarks/search_step.py
	$(BIN)/python benchmarks/digits_e2e.py
	$(BIN)/python benchmarks/budget_used.py
	$(BIN)/python benchmarks/quantize_digits.py
	$(BIN)/python benchmarks/backends.py
	$(BIN)/python benchmarks/nb201_exactness.py
	$(BIN)/python benchmarks/check_scaling.py
	$(BIN)/python benchmarks/recorded_predictor.py
	$(BIN)/python benchmarks/latency_loop_recorded.py
	$(BIN)/python benchmarks/latency_loop_host.py
	$(BIN)/python benchmarks/space_kernels.py
	$(BIN)/python benchmarks/latency_predictor_host.py
	$(BIN)/python benchmarks/compile_product.py
	$(BIN)/python benchmarks/bench_gate.py
	$(BIN)/python benchmarks/nb201_strategies.py
	$(BIN)/python benchmarks/sweep_front.py
	$(BIN)/python benchmarks/kernel_plan_cover.py --space nb201
	$(BIN)/python benchmarks/kernel_plan_cover.py --space darts --archs 5
	$(BIN)/python benchmarks/kernel_plan.py --space nb201

# The backends benchmark with a MetaSchedule-tuned TVM build as well.  The first run tunes
# every kernel (tens of minutes on 2 cores); the database in ~/.cache/nasc makes reruns quick.
BENCH_TRIALS ?= 8
bench-tuned: venv
	$(BIN)/python benchmarks/backends.py --trials $(BENCH_TRIALS) --out benchmarks/results/backends_cpu_tuned.json

# hours on 2 cores: tunes the kernels of NB201, DARTS and MobileNetV2 once (resumable), then builds and times archs
bench-tuned-space: venv
	$(BIN)/python benchmarks/tuned_space.py

.PHONY: venv toolchain demo test typecheck e2e gate gate-baseline bench bench-tuned bench-tuned-space
