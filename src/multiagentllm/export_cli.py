"""`umi export vllm | gguf`: the command line of the two exports (`export.py`, `models/gguf.py`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from multiagentllm.checkpoint import CheckpointError, ExportError
from multiagentllm.export import export_vllm
from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.models.gguf import export_gguf

app = typer.Typer(help="Export a trained checkpoint for serving engines (vLLM multi-LoRA, llama.cpp GGUF).",
                  no_args_is_help=True)


@app.command("vllm")
def vllm_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Checkpoint folder (manifest.json)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (backbone/, adapters/, single/, serve.md)."),
    dtype: str = typer.Option("bfloat16", "--dtype", help="bfloat16 | float16 | float32."),
    merge_roles: bool = typer.Option(
        False, "--merge-roles", help="Write three fully merged role models instead of backbone + adapters."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
) -> None:
    """The backbone (base + stage 1 merged) and the role adapters for `vllm serve --enable-lora`."""
    _export(export_vllm, checkpoint, out, dtype=dtype, merge_roles=merge_roles, force=force)


@app.command("gguf")
def gguf_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Checkpoint folder (manifest.json)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (backbone.gguf, adapters/, serve.md; or roles/ when merged)."),
    dtype: str = typer.Option("float16", "--dtype", help="The backbone's: float16 | bfloat16 | float32 | q8_0 (8-bit, llama.cpp's blocks of 32)."),
    merge_roles: bool = typer.Option(
        False, "--merge-roles", help="Each role merged into its own full model (roles/ROLE.gguf): no run-time "
                                     "LoRA, three times the weight memory."),
    base_gguf: Path | None = typer.Option(
        None, "--base-gguf", help="A GGUF of the base, for its tokenizer and hyper-parameters (default: "
                                  "the embedded model's own file)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
) -> None:
    """The backbone (base + stage 1 merged) and the role adapters as GGUF, for llama.cpp and Ollama."""
    _export(export_gguf, checkpoint, out, dtype=dtype, base_gguf=base_gguf, merge_roles=merge_roles, force=force)


def _export(export: Callable[..., Any], checkpoint: Path, out: Path, **options: Any) -> None:
    """Run one export and say what it wrote (its notes on stderr), or why it could not (exit 2)."""
    try:
        result = export(checkpoint, out, **options)
    except (ExportError, CheckpointError, ModelNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {result.out} ({', '.join(sorted(p.name for p in result.out.iterdir()))}); "
               f"how to serve it: {result.out / 'serve.md'}")
