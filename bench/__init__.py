"""TableTalk benchmarks: `python -m bench` runs them all and writes bench/results/report.{json,md}."""
