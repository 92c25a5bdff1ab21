"""`python -m attncalc` runs the command-line tool."""

from .cli import main

main()
