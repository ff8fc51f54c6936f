from order_engine.domain.use_cases.execute_order import ExecuteOrder
from order_engine.domain.use_cases.submit_order import SubmitOrder

__all__ = ["ExecuteOrder", "SubmitOrder"]
