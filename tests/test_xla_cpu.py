"""The XLA:CPU guard applied by `import jaxkern` (jaxkern/_xla_cpu.py), in fresh processes."""

import os
import subprocess
import sys

import pytest

FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _flags_after_import(env: dict, before: str = "") -> str:
    code = f"{before}\nimport os, jaxkern\nprint(os.environ.get('XLA_FLAGS', ''))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


@pytest.mark.parametrize("env,expected", [
    ({"XLA_FLAGS": ""}, f"{FLAG}=false"),
    ({"XLA_FLAGS": "--xla_cpu_use_xnnpack=false"}, f"--xla_cpu_use_xnnpack=false {FLAG}=false"),
    ({"XLA_FLAGS": f"{FLAG}=true"}, f"{FLAG}=true"),  # the user's choice stands
    ({"XLA_FLAGS": "", "JAXKERN_KEEP_XLA_FLAGS": "1"}, ""),
])
def test_flag_added_unless_the_user_decided(env, expected):
    assert _flags_after_import(env) == expected


def test_no_change_once_the_backend_exists():
    # too late to take effect: leave XLA_FLAGS as it was rather than pretend
    before = "import jax.numpy as jnp; jnp.ones(1).block_until_ready()"
    assert _flags_after_import({"XLA_FLAGS": ""}, before) == ""
