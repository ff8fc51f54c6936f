"""Prometheus metrics: what they are (`catalog.py`), the listener that counts the domain's events (`listener.py`),
the live streams' meter (`live.py`), the queue's depth read at scrape time (`queue_depth.py`), and how each process
exposes them (`exposition.py`: `/metrics` on the API, multiprocess mode on one host, a port per process across hosts).
"""
