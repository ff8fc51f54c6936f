"""What every process runs with: logging, garbage-collector tuning, the event-loop lag monitor."""
