"""A NeMo CTC model exported by NeMo's own model.export() (fixtures/nemo_ctc/): torch names
each axis given by position ``<input>_dynamic_axes_<n>``. The lengths vector's batch,
``length_dynamic_axes_1``, read as a sequence length by its name ("len"), was drawn at the
sequence default (5) beside the audio's batch (3): the encoder's mask (``arange(T) <
length[:, None]``) failed to broadcast, and lint --runtime warned AL514 about archlint's own
draw."""

from __future__ import annotations

import json

import pytest

from archlint.runtime.inputs import _role_by_name

from .conftest import FIXTURES, invoke

MODEL = FIXTURES / "nemo_ctc" / "ctc_lstm_decoder.onnx"


@pytest.mark.parametrize(("symbol", "role"), [
    ("length_dynamic_axes_1", None), ("x_dynamic_axes_0", None),
    ("seq_len_dynamic_axes_1", None), ("seq_len", "seq"), ("batch_size", "batch"),
    ("time", "seq"), ("N", None),
])
def test_torchs_positional_axis_names_give_no_role(symbol: str, role: str | None) -> None:
    assert _role_by_name(symbol) == role


def test_the_lengths_batch_is_drawn_as_the_audios_and_the_model_runs() -> None:
    manifest = json.loads((MODEL.parent / "manifest.json").read_text())[MODEL.name]
    assert manifest["inputs"]["length"] == ["length_dynamic_axes_1"]
    result = invoke("run", str(MODEL))
    assert result.exit_code == 0, result.output
    assert ("dims: audio_signal_dynamic_axes_1=3 (default), audio_signal_dynamic_axes_2=3 "
            "(default), length_dynamic_axes_1=3 (default)") in result.output
    # moved alone, either batch fails on the mask's broadcast; moved together they run
    assert result.output.count("one size the inputs name apart") == 2
    lint = invoke("lint", "--runtime", str(MODEL), "--format", "json")
    assert lint.exit_code == 0, lint.output
    (model,) = json.loads(lint.stdout)["models"]
    assert model["findings"] == [] and model["recurrent_layers"] == 2
