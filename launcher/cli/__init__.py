"""The `launcher` command line. Each module registers its subcommands; engine imports happen inside the
handlers so that `launcher --help` stays fast."""
