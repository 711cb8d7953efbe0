"""Run benchmarks that print figures beside a baseline; run each as python bench/<name>.py."""
