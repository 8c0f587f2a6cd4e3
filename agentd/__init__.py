"""agentd: a local daemon that runs autonomous, persistent, background LLM agents.

This module holds only the version: importing ``agentd.protocol`` (which the
client does) must stay cheap.
"""

__version__ = "0.1.0"
