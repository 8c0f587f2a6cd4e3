"""What agentd shares with agentctl besides the wire protocol: where things live (``paths``),
the configuration file's schema and loading (``config``), and the cron language (``cron``,
``describe``).

The client imports these and ``agentd.protocol``, nothing else of the daemon; they import only
``agentd.protocol``, msgspec, platformdirs and the standard library (pyproject.toml's
import-linter contracts keep it so). Import the submodule you need.
"""
