"""`python -m rwsr ...` is the `rwsr` command (torchrun can launch it as a module)."""

from rwsr.cli.main import main

main()
