"""`python -m streamguard` runs the command line."""

from streamguard.cli import main

main()
