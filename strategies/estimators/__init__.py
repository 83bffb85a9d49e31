"""Estimators the quoting strategies feed on market data: volatility, order-flow intensity
(kappa) and order-book imbalance. Pure, deterministic, driven by event time only."""
