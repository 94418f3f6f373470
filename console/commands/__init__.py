"""One module per `backfill-console` subcommand, each exposing `register(subparsers)`."""
