"""Share the benchmarks' plumbing: processes, HTTP, databases, load, CPU, statistics, profiles.

Every bench targets 127.0.0.1 only, runs bounded in count and time, and stops by itself.
"""
