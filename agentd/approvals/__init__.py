"""Durable approvals: a tool call that needs a person's decision parks its run.

- ``policy``: a goal's policy per tool (allow / ask / deny) and which tools may
  be set to ask; validated on goal create/update.
- ``gate``: the agent loop's one hook (``ApprovalGate.screen`` before calls
  are made): allowed calls run, denied ones come back to the model as errors,
  calls waiting for a decision park the run (``Parked``).
- ``service``: the daemon part (``Approvals``): parking in one transaction,
  decisions (``run.approve`` / ``run.deny``), expiry, the set of parked runs
  the run manager skips, notifications.
- ``notify`` and ``desktop``: how a person hears of a waiting call (webhook,
  email, a desktop notification over the session bus).
- ``handlers``: the RPC methods (``approval.list``, ``run.approve``, ``run.deny``).

The SQL is in ``agentd.store.approvals``.
"""
