"""Helpers for the chaos test (test_chaos.py): a load generator that records
every resourceVersion the API server returned, and a checker that proves
at-least-once delivery from the sink file(s) and those records."""
