"""The embedded offline LLM: the llama.cpp server processes, the model files, ``aikit serve ai``.

Modules: ``servers`` (start, find, watch and stop llama.cpp servers), ``models`` (model files and
their locations), ``serve`` (the server process's entry point), ``cli`` and ``models_cli``.
"""
