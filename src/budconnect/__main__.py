"""`python -m budconnect` runs the CLI."""

from budconnect.cli import main

main()
