"""The JSON-RPC side of the daemon: the socket (``listener``), connections (``server``), the
method table and error mapping (``dispatch``) and the handlers (``handlers``)."""
