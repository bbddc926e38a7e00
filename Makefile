# The two commands a newcomer needs (each sets up the environment on first use):
#   make test   - the test suite (what CI runs)
#   make demo   - the end-to-end demo on the embedded mini WIDER FACE dataset
RUN := tools/run_in_env.sh
PYTEST_ARGS ?=

.PHONY: env test test-all demo benchmarks clean

env:
	@tools/setup_env.sh

test:
	$(RUN) python -m pytest tests -m "not slow" $(PYTEST_ARGS)

test-all:
	$(RUN) python -m pytest tests $(PYTEST_ARGS)

demo:
	$(RUN) python tools/demo.py $(DEMO_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
