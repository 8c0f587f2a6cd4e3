"""MCP (Model Context Protocol): other servers' tools for agentd's runs, and
agentd itself as an MCP server.

- ``agentd.shared.mcp``: the ``[[mcp.servers]]`` configuration (shared with agentctl).
- ``convert``: tool names for the model, argument checks against a tool's JSON
  Schema, call results turned into observation text.
- ``link``: one supervised connection to one server (stdio or streamable HTTP).
- ``manager``: every configured server, started with the daemon, reconfigured
  by ``daemon.reload``; the registry's source of MCP tools.
- ``serve``: ``agentctl mcp serve``, an MCP server on stdio that speaks to the
  daemon over its socket.

The ``mcp`` SDK (anyio, so it runs on trio) is imported only when a server is
configured or served.
"""
