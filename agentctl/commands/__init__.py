"""One module per noun; each command is a function ``cmd_<verb>(ctx) -> int | None``."""
