"""Alerting: OpsSight rules evaluated against Prometheus, Prometheus's own rules and alerts, and
Alertmanager notifications, all kept as alert instances with their full history."""
