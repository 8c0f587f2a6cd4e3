from provider_helpers import run, sleeps  # noqa: F401  (fixtures)
