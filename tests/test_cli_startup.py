"""`umi` starts without the heavy libraries: they are imported inside the code that needs them
(each such import says what it costs), so `umi --help` and the light commands stay quick."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "gguf", "llama_cpp", "fastapi")


def test_the_umi_command_loads_no_heavy_library():
    code = ("import sys, multiagentllm.cli; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
