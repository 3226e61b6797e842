"""Many calls: batch options, plan, run, result, progress, templates, classification prompts, df.ai.

Private: the public names are ``aikit.batch``, ``aikit.abatch`` and the ``df.ai`` accessor.
"""
