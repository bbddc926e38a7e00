# The two commands a newcomer needs (each sets up the environment on first use):
#   make test   - the test suite (what CI runs)
#   make demo   - the end-to-end demo on the embedded mini WIDER FACE dataset
#   make demo-vww - the embedded classification run: RNNPool vs base on the mini Visual Wake Words
RUN := tools/run_in_env.sh
PYTEST_ARGS ?=

.PHONY: env test test-all demo demo-vww benchmarks clean

env:
	@tools/setup_env.sh

test:
	$(RUN) python -m pytest tests -m "not slow" $(PYTEST_ARGS)

test-all:
	$(RUN) python -m pytest tests $(PYTEST_ARGS)

demo:
	$(RUN) python tools/demo.py $(DEMO_ARGS)

demo-vww:
	$(RUN) python tools/demo_vww.py $(DEMO_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
