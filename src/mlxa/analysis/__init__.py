"""Analyses: plain functions from a Graph to a frozen result."""
