"""The real-model benchmark (python -m bench.realmodel): agentd and the agent
frameworks on a real model server, judged by what happened in the world."""
