"""One module per ``stage`` subcommand."""
