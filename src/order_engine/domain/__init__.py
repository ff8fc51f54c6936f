"""The pure core: entities, the order state machine, routing rules, ports and use cases.

Nothing in this package imports a framework, a driver or an adapter.
"""
