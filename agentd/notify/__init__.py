"""What agentd tells the person, beyond each run's own deliveries:
``changes`` (notify on_change: completion deliveries only when a run's
result changed) and ``alerts`` (one alert when a scheduled goal goes quiet or
keeps failing, one recovery notice when it succeeds again)."""
