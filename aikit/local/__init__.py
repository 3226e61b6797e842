"""Embedded local services: the offline LLM server (:mod:`aikit.local.llm.servers`) and demo servers.

Nothing is imported or started here; each service is imported from its own module.
"""
