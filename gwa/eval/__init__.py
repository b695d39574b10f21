"""Evaluation commands: retrieval quality of long-term memory and admission policies."""
