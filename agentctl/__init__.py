"""agentctl: the command-line client of agentd.

Importing this package costs nothing: every command pays only for what it uses
(see ``agentctl.cli``).
"""
