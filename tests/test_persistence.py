"""save_pretrained / load_pretrained folders (safetensors + JSON)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import eegm2_sklearn
from eegm2_sklearn.training.persistence import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    PretrainedNotFoundError,
    check_state_dict_compatible,
    file_sha256,
    load_pretrained,
    save_pretrained,
)


@pytest.fixture
def state_dict():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 3), torch.nn.LayerNorm(6))
    return net.state_dict()


CONFIG = {"n_chans": 3, "sfreq": 128.0, "ch_names": ["Fz", "Cz", "Pz"], "scaling": "robust"}


def test_round_trip_keeps_weights_and_config(tmp_path, state_dict):
    folder = save_pretrained(tmp_path / "model", state_dict, CONFIG)
    assert folder == tmp_path / "model"
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    weights, config = load_pretrained(str(folder))
    assert weights.keys() == state_dict.keys()
    for name, tensor in state_dict.items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=0)
        assert weights[name].dtype == tensor.dtype
    assert config == {
        **CONFIG,
        "eegm2_sklearn_version": eegm2_sklearn.__version__,
        "format_version": FORMAT_VERSION,
        "weights_sha256": file_sha256(folder / WEIGHTS_NAME),
    }


def test_config_json_is_sorted_and_indented(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, {"b": 1, "a": 2})
    text = (tmp_path / CONFIG_NAME).read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    assert list(json.loads(text)) == [
        "a", "b", "eegm2_sklearn_version", "format_version", "weights_sha256"
    ]  # fmt: skip


def test_numpy_tuple_and_path_values_are_stored_as_json(tmp_path, state_dict):
    config = {
        "n_chans": np.int64(3),
        "sfreq": np.float32(128.0),
        "shape": (3, 512),
        "weights": np.array([0.5, 2.0]),
        "source": Path("some") / "folder",
        "nested": {"k": np.bool_(True)},
    }
    save_pretrained(tmp_path, state_dict, config)
    _, loaded = load_pretrained(tmp_path)
    assert loaded["n_chans"] == 3 and isinstance(loaded["n_chans"], int)
    assert loaded["sfreq"] == 128.0
    assert loaded["shape"] == [3, 512]
    assert loaded["weights"] == [0.5, 2.0]
    assert loaded["source"] == str(Path("some") / "folder")
    assert loaded["nested"] == {"k": True}


def test_non_json_config_value_names_the_key(tmp_path, state_dict):
    with pytest.raises(TypeError, match=r"config\['module'\].*JSON"):
        save_pretrained(tmp_path, state_dict, {"module": torch.nn.Linear(1, 1)})


def test_tied_non_contiguous_and_bf16_tensors_are_saved(tmp_path):
    w = torch.arange(12.0).reshape(3, 4)
    state = {"a": w, "b": w, "t": w.t(), "h": torch.ones(2, dtype=torch.bfloat16)}
    save_pretrained(tmp_path, state, {})
    loaded, _ = load_pretrained(tmp_path)
    torch.testing.assert_close(loaded["t"], w.t().contiguous())
    torch.testing.assert_close(loaded["b"], w)
    assert loaded["h"].dtype == torch.bfloat16
    assert w.is_contiguous() and not state["t"].is_contiguous()  # inputs untouched


def test_overwrites_an_existing_folder(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, {"v": 1})
    save_pretrained(tmp_path, {"x": torch.zeros(1)}, {"v": 2})
    weights, config = load_pretrained(tmp_path)
    assert list(weights) == ["x"] and config["v"] == 2


def test_save_to_an_existing_file_is_an_error(tmp_path, state_dict):
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(ValueError, match="existing file"):
        save_pretrained(file, state_dict, {})


def test_save_rejects_non_tensors(tmp_path):
    with pytest.raises(TypeError, match=r"state_dict\['w'\] is a list"):
        save_pretrained(tmp_path, {"w": [1.0]}, {})


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match="No pretrained folder at .*save_pretrained"):
        load_pretrained(missing)
    with pytest.raises(FileNotFoundError):
        load_pretrained(missing)


@pytest.mark.parametrize("name", [WEIGHTS_NAME, CONFIG_NAME])
def test_missing_file(tmp_path, state_dict, name):
    save_pretrained(tmp_path, state_dict, CONFIG)
    (tmp_path / name).unlink()
    with pytest.raises(PretrainedNotFoundError, match=f"lacks {name}; expected both"):
        load_pretrained(tmp_path)


def test_a_file_instead_of_the_folder(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, CONFIG)
    with pytest.raises(ValueError, match="is a file; expected the folder.*Pass its folder"):
        load_pretrained(tmp_path / WEIGHTS_NAME)


def test_unreadable_json(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, CONFIG)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text('{"n_chans": 3}')
    with pytest.raises(ValueError, match="not an eegm2_sklearn config"):
        load_pretrained(tmp_path)


def test_format_version_too_new(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, CONFIG)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    config.update(format_version=FORMAT_VERSION + 1, eegm2_sklearn_version="9.0")
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"written by eegm2_sklearn 9\.0.*Upgrade"):
        load_pretrained(tmp_path)


def test_damaged_weights(tmp_path, state_dict):
    save_pretrained(tmp_path, state_dict, CONFIG)
    (tmp_path / WEIGHTS_NAME).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_pretrained(tmp_path)
    # a folder saved before checksums were written: safetensors itself refuses the file
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    del config["weights_sha256"]
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Cannot read the weights"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["one bit", "16 bytes of 0xFF"])
def test_a_changed_byte_is_caught_by_the_checksum(tmp_path, state_dict, damage):
    save_pretrained(tmp_path, state_dict, CONFIG)
    data = bytearray((tmp_path / WEIGHTS_NAME).read_bytes())
    end = len(data) - 8  # inside the tensor data, after the header
    if damage == "one bit":
        data[end] ^= 0x01
    else:
        data[end - 16 : end] = b"\xff" * 16
    (tmp_path / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_pretrained(tmp_path)


def test_non_finite_weights_are_refused(tmp_path, state_dict):
    bad = {**state_dict, "0.weight": torch.full_like(state_dict["0.weight"], float("nan"))}
    save_pretrained(tmp_path, bad, CONFIG)
    with pytest.raises(ValueError, match=r"NaN or infinite weights \(0.weight\)"):
        load_pretrained(tmp_path)


def _fail():
    def raise_(*args, **kwargs):
        raise OSError(28, "No space left on device")

    return raise_


@pytest.mark.parametrize("write", ["weights", "config", "swap"])
def test_a_failed_write_leaves_the_previous_model_whole(tmp_path, state_dict, monkeypatch, write):
    import eegm2_sklearn.training.persistence as persistence

    folder = tmp_path / "model"
    save_pretrained(folder, state_dict, CONFIG)
    (folder / "notes.txt").write_text("kept")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    other = {k: torch.ones(2, 8) for k in ("a", "b")}  # another network, another config
    if write == "weights":
        monkeypatch.setattr(persistence, "save_file", _fail())
    elif write == "config":
        monkeypatch.setattr(Path, "write_text", _fail())
    else:  # the second rename (new folder into place) fails
        calls = []
        real = persistence.os.replace

        def replace(src, dst):
            calls.append(src)
            if len(calls) == 2:
                raise OSError(5, "Input/output error")
            return real(src, dst)

        monkeypatch.setattr(persistence.os, "replace", replace)
    with pytest.raises(OSError):
        save_pretrained(folder, other, {"n_chans": 8})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    weights, config = load_pretrained(folder)
    assert config["n_chans"] == 3 and weights.keys() == state_dict.keys()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left


def test_saving_again_replaces_both_files_and_keeps_other_files(tmp_path, state_dict):
    folder = tmp_path / "model"
    save_pretrained(folder, state_dict, CONFIG)
    (folder / "notes.txt").write_text("kept")
    save_pretrained(folder, {"w": torch.zeros(3)}, {"n_chans": 8})
    weights, config = load_pretrained(folder)
    assert list(weights) == ["w"] and config["n_chans"] == 8
    assert (folder / "notes.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_check_state_dict_compatible(state_dict):
    check_state_dict_compatible(state_dict, state_dict)
    other = dict(state_dict)
    other.pop("1.bias")
    other["extra"] = torch.zeros(1)
    other["0.weight"] = torch.zeros(4, 5, 3)
    with pytest.raises(ValueError) as info:
        check_state_dict_compatible(state_dict, other, source="'pre/'")
    msg = str(info.value)
    assert "'pre/' do not fit this network" in msg
    assert "missing tensors: 1.bias" in msg
    assert "unexpected tensors: extra" in msg
    assert "0.weight: expected (4, 3, 3), got (4, 5, 3)" in msg
