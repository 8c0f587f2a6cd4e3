"""The wire protocol shared by agentd and its clients.

msgspec and the standard library only: ``agentctl`` imports this package, so it
must never pull in trio, httpx, openai or anything heavy.
"""
