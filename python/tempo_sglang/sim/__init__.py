"""Discrete-event simulator of a continuous-batching engine driven by a fitted cost model."""
