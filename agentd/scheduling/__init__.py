"""The pure scheduling core: cron evaluation in IANA timezones (``cron``), plain-English
descriptions (``describe``) and tick decisions (``policy``). No I/O and no clock: callers pass
the current time in, as epoch milliseconds. Import the submodule you need: importing
one does not load the others."""
