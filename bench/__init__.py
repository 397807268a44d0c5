"""retape's benchmarks (issue 7): ``make bench`` / ``make bench-smoke``; see docs/performance.md.

Benchmarks are measurements, not tests: nothing here asserts a number. Every loop is
bounded, every server listens on 127.0.0.1 only and is stopped when its benchmark ends.
"""
