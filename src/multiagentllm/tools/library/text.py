"""Text utilities: counting, case changes, a phrasebook, and slugs."""

from __future__ import annotations

import re
from typing import Literal

from multiagentllm.tools.library.tables import PHRASES
from multiagentllm.tools.registry import ToolError, tool


@tool(domain="text")
def count_words(text: str) -> dict:
    """Count the words, characters and sentences of a text.

    Args:
        text: The text to measure.
    """
    words = re.findall(r"\b[\w'-]+\b", text)
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    return {"words": len(words), "characters": len(text), "sentences": len(sentences)}


@tool(domain="text")
def change_case(text: str, case: Literal["upper", "lower", "title"]) -> dict:
    """Rewrite a text in upper case, lower case or title case.

    Args:
        text: The text.
        case: Target case.
    """
    out = {"upper": text.upper(), "lower": text.lower(), "title": text.title()}[case]
    return {"result": out}


@tool(domain="text")
def translate_phrase(phrase: str, language: str) -> dict:
    """Translate a common travel phrase (hello, thank you, goodbye, please, ...) into a language.

    Args:
        phrase: The English phrase, e.g. "thank you".
        language: Target language, e.g. "Spanish".
    """
    key = " ".join(phrase.lower().strip(" ?!.").split())
    lang = language.strip().lower()
    if key not in PHRASES:
        raise ToolError(f"phrase {phrase!r} is not in the phrasebook; known: {', '.join(PHRASES)}")
    if lang not in PHRASES[key]:
        raise ToolError(f"no {language} translation; languages: {', '.join(sorted(PHRASES[key]))}")
    return {"phrase": key, "language": lang.capitalize(), "translation": PHRASES[key][lang]}


@tool(domain="text")
def slugify(text: str) -> dict:
    """Make a URL slug from a title: lower case, words joined by hyphens.

    Args:
        text: The title.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not slug:
        raise ToolError("text has no letters or digits")
    return {"slug": slug}


TOOLS = [count_words, change_case, translate_phrase, slugify]
