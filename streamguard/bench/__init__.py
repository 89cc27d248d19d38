"""`streamguard bench`: decode ceiling, pipeline capacity, latency, model throughput and memory, as JSON."""
