"""Live order streams over WebSocket: the routes, one order's stream, and every stream of a process."""
