"""``python -m citybrain.cli``: the command as the tests and benchmarks run it."""

from citybrain.cli import main

main()
