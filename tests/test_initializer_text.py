"""lab.initializer_text: every initializer form parses, bad text is refused naming the valid forms, and no JAX."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

from lab.initializer_text import INITIALIZERS, parse_initializer
from lab.models.initializers import from_text
from tests.helpers import ROOT

TAKES_NUMBER = [name for name, takes in INITIALIZERS.items() if takes]
NO_NUMBER = [name for name, takes in INITIALIZERS.items() if not takes]


def _error(text: str) -> str:
    with pytest.raises(ValueError) as err:
        parse_initializer(text)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_the_docstrings_examples():
    assert parse_initializer("variance_scaling(2)") == ("variance_scaling", 2.0)
    assert parse_initializer("zeros") == ("zeros", None)


@pytest.mark.parametrize("name", TAKES_NUMBER)
def test_a_form_with_a_number_gives_it_as_a_float(name):
    out = parse_initializer(f"{name}(0.25)")
    assert out == (name, 0.25)
    assert isinstance(parse_initializer(f"{name}(3)")[1], float)


@pytest.mark.parametrize("name", NO_NUMBER)
def test_a_bare_form_gives_no_number(name):
    assert parse_initializer(name) == (name, None)
    assert parse_initializer(f"  {name} ") == (name, None)


@pytest.mark.parametrize("text,value", [("normal(1e-3)", 1e-3), ("normal(.5)", 0.5), ("uniform(+2)", 2.0),
                                        ("truncated_normal(1E2)", 100.0), ("  uniform( 0.5 ) ", 0.5),
                                        ("variance_scaling(2.0)", 2.0), ("normal (2)", 2.0)])
def test_numbers_are_read_as_python_reads_floats(text, value):
    assert parse_initializer(text)[1] == value


@pytest.mark.parametrize("text", ["xavier", "glorot_uniform(1)", "Normal(1)", "ZEROS", "", "zero", "normal_fan_out",
                                  "(1.0)"])
def test_an_unknown_name_is_refused_listing_every_valid_form(text):
    message = _error(text)
    assert message.startswith(f"unknown initializer {text!r}; use one of ")
    listed = message.split("; use one of ", 1)[1].split(", ")
    assert [form.removesuffix("(s)") for form in listed] == list(INITIALIZERS)
    for form in listed:  # each listed form, its s given, is one that parses
        name, value = parse_initializer(form.replace("(s)", "(1.5)"))
        assert (value == 1.5) == INITIALIZERS[name] and (value is None) == (not INITIALIZERS[name])


@pytest.mark.parametrize("text", ["zeros(1)", "zeros()", "normal_fan_in(2)", "uniform_fan_in( )",
                                  "truncated_normal_fan_in(0.5)"])
def test_a_bare_form_given_a_number_is_refused(text):
    name = text.partition("(")[0]
    assert _error(text) == f"initializer {name!r} takes no number (got {text!r})"
    parse_initializer(name)  # the form it names without the number


@pytest.mark.parametrize("text", ["normal", "normal()", "uniform(abc)", "variance_scaling(two)", "normal(1,2)"])
def test_a_form_without_a_readable_number_is_refused_with_an_example(text):
    name = text.partition("(")[0]
    message = _error(text)
    assert message == f"initializer {text!r} needs a number, e.g. {name}(1.0)"
    assert parse_initializer(f"{name}(1.0)") == (name, 1.0)  # the example parses


@pytest.mark.parametrize("text", ["normal(0)", "normal(-1)", "uniform(-0.0)", "variance_scaling(-2)", "normal(2",
                                  "truncated_normal(1.0", "normal(nan)", "normal(inf)", "uniform(1e400)",
                                  "normal(2)))", "truncated_normal(1)x"])
def test_a_non_positive_infinite_or_unclosed_number_is_refused(text):
    name = text.partition("(")[0]
    assert _error(text) == f"initializer {text!r} needs a positive finite number in parentheses, e.g. {name}(1.0)"


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_every_parsed_form_is_one_the_model_initializers_build(name):
    text = f"{name}(0.5)" if INITIALIZERS[name] else name
    w = np.asarray(from_text(text, 4)(jax.random.key(0), (4, 3), jax.numpy.float32))
    assert w.shape == (4, 3) and np.isfinite(w).all()
    assert (name == "zeros") == (not w.any())


def test_the_module_parses_without_importing_jax():
    path = str(ROOT / "lab" / "initializer_text.py")
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('initializer_text', {path!r})\n"
            "mod = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(mod)\n"
            "assert mod.parse_initializer('normal(2)') == ('normal', 2.0)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'numpy', 'lab')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
