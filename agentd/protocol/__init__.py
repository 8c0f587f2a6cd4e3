"""The wire protocol shared by agentd and its clients: the envelope and its
framing (``envelope``), every method's params and result (``methods``), the run
events (``events``), the error tree with its JSON-RPC codes (``errors``) and
the log level names (``loglevels``).

msgspec and the standard library only: ``agentctl`` imports this package, so it
must never pull in trio, httpx, openai or anything heavy.
"""
