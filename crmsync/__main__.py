"""``python -m crmsync`` runs the CLI."""

from crmsync.cli import main

main()
