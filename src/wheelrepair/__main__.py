"""``python -m wheelrepair``."""

from .cli import main

main()
