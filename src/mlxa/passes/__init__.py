"""Transforms: plain functions Graph -> Graph. The pipeline that runs them lives in pipeline.py."""
