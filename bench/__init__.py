"""agentd's benchmark suite (issue 7). Run one with ``python -m bench.<name>``,
all with ``python -m bench.run_all`` (``make bench``). See bench/README.md."""
