"""Jinja2 prompt templates for the LLM mutators (system, diff, full rewrite, crossover, retry).

A campaign may set `llm_options.templates` to a directory of its own: a template there
replaces the built-in one of the same name; the others still come from here.
"""
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent
TEMPLATES = ("system.j2", "diff.j2", "full_rewrite.j2", "crossover.j2", "retry.j2")
