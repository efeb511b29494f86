"""``python -m modelyard.demo``."""

from modelyard.demo import main

main()
