"""The SAQ worker: its queue configuration, the job that executes orders, and tuning of SAQ."""
