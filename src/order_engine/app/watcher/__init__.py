"""The watcher process: holds resting orders and triggers or expires them as the market moves."""
