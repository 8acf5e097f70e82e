"""The hub's streaming benchmark (`python -m bench.stream_throughput`) and the fast fake LLM
server it measures against (`python -m bench.fake_llm`); see bench/README.md."""
