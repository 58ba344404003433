"""The MLproject's second entry point."""

import sys

print(f"evaluating checkpoint {sys.argv[1]}")
