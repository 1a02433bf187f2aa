"""What operators measure: Prometheus metrics (`metrics`) and the `GET /metrics` route.

Owns metric names and their recording functions; it reads nothing and writes no storage.
"""
