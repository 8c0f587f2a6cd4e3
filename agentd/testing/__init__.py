"""Test helpers shipped with agentd (used by tests and benchmarks, never by the daemon).

``agentd.testing.fakellm``: a real loopback HTTP fake of the OpenAI, OpenRouter and
Ollama servers (``FakeLLM``). Import it from there; this package stays import-cheap.
"""
