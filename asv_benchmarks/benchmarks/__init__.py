"""asv benchmarks of fastlr; see ``common.py`` for the sizes and the profiles."""
