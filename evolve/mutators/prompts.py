"""Rendering the Jinja2 prompt templates of prompts/ (or a campaign's own directory).

Every template problem becomes one line naming the file and the line: a syntax error when
the templates load (at campaign start), a missing variable or a failing filter when rendering.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2

from prompts import TEMPLATE_DIR, TEMPLATES

from ..code import evolvable_text
from ..errors import UserError


class PromptError(UserError):
    """A template is broken; the message names the file and the line."""


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def _clip(value: Any, limit: int = 1200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, indent=1)
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - limit} characters cut) ...\n{text[-half:]}"


def _evolvable(code: str) -> str:
    try:
        return evolvable_text(code)
    except ValueError:
        return code


def _where(exc: BaseException) -> str:
    """file:line of the innermost template frame of a rendering error."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f"{filename} line {tb.tb_lineno}"
        tb = tb.tb_next
    return found or "a prompt template"


class Prompts:
    def __init__(self, template_dir: str | Path | None = None):
        loaders = []
        if template_dir:
            path = Path(template_dir).expanduser()
            if not path.is_dir():
                raise PromptError(f"llm_options.templates: {str(template_dir)!r} is not a directory")
            loaders.append(jinja2.FileSystemLoader(str(path)))
        loaders.append(jinja2.FileSystemLoader(str(TEMPLATE_DIR)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                                      autoescape=False, auto_reload=False)
        self.env.filters.update(num=_num, clip=_clip, evolvable=_evolvable)
        self.templates: dict[str, jinja2.Template] = {}
        for name in TEMPLATES:
            try:
                self.templates[name.removesuffix(".j2")] = self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise PromptError(f"prompt template {exc.filename or exc.name} line {exc.lineno}: {exc.message}") from None
            except jinja2.TemplateNotFound as exc:
                raise PromptError(f"prompt template {exc.name} not found (a template includes it)") from None

    def render(self, name: str, **context: Any) -> str:
        try:
            return self.templates[name].render(**context).strip() + "\n"
        except jinja2.TemplateSyntaxError as exc:  # an included template with a syntax error
            raise PromptError(f"prompt template {exc.filename or exc.name} line {exc.lineno}: {exc.message}") from None
        except Exception as exc:
            raise PromptError(f"prompt template {_where(exc)}: {type(exc).__name__}: {exc}") from None
