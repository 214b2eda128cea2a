"""Model weights: their id, and the PyTorch model recovered from an exported ONNX pair.

:func:`model_id_of` names a model by its weights (the ``model_id`` of the ONNX contract,
:mod:`.onnx_export`); :func:`model_from_onnx` inverts the export, for training a shipped model
further once its checkpoint is gone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from latentmorph.errors import LatentMorphError

from .config import ModelConfig
from .model import LatentMorphVAE


class ParityError(LatentMorphError, RuntimeError):
    """ONNX Runtime output differs from PyTorch beyond tolerance, or the contract is wrong."""

    code = "model_error"


def model_id_of(model: LatentMorphVAE) -> str:
    """Stable id from the weights: ``lm-`` + 16 hex digits of SHA-256 over the state dict."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "lm-" + digest.hexdigest()[:16]


def model_from_onnx(model_dir: Path) -> LatentMorphVAE:
    """Recover the PyTorch model from an exported ``encoder.onnx`` + ``decoder.onnx`` pair — the
    inverse of :func:`latentmorph_train.onnx_export.export_model`, for continuing training from a
    shipped model whose checkpoint is gone.

    The architecture comes from the ``model_config`` metadata. Parameters the exporter kept under
    their module names are copied; the ``nn.Linear`` weights it turned into anonymous ``MatMul``
    initializers (stored transposed, in the order of use, which is the module order) are assigned
    in that order by shape. Fixed buffers (mel filterbank, DFT kernels) are rebuilt from the config.
    The result is accepted only if :func:`model_id_of` — SHA-256 over the whole state dict —
    equals the files' ``model_id``, so a recovered model is bit-identical to the exported one.

    Raises:
        ParityError: metadata missing, an initializer unaccounted for, or a model id mismatch.
    """
    protos = {role: onnx.load(str(model_dir / f"{role}.onnx")) for role in ("encoder", "decoder")}
    metadata = [{p.key: p.value for p in proto.metadata_props} for proto in protos.values()]
    if any("model_config" not in m for m in metadata) or metadata[0]["model_id"] != metadata[1]["model_id"]:
        raise ParityError(f"{model_dir}: encoder and decoder metadata do not describe one model")
    model = LatentMorphVAE(ModelConfig.from_dict(json.loads(metadata[0]["model_config"])))
    state = model.state_dict()
    recovered: dict[str, torch.Tensor] = {}
    for role, proto in protos.items():
        anonymous = []
        for init in proto.graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(init).copy())
            if init.name in state:
                recovered[init.name] = value
            else:
                anonymous.append(value)
        for name in (n for n in state if n.startswith(f"{role}.") and n.endswith(".weight") and n not in recovered):
            if not anonymous or tuple(anonymous[0].shape[::-1]) != tuple(state[name].shape):
                raise ParityError(
                    f"{role}.onnx: no initializer for {name} {tuple(state[name].shape)} (the "
                    f"exporter merges identical tensors, as in an untrained model)"
                )
            recovered[name] = anonymous.pop(0).T.contiguous()
        if anonymous:
            raise ParityError(f"{role}.onnx: {len(anonymous)} initializers match no parameter")
    model.load_state_dict({**state, **recovered})
    if model_id_of(model) != metadata[0]["model_id"]:
        raise ParityError(
            f"{model_dir}: recovered weights hash to {model_id_of(model)}, the files say {metadata[0]['model_id']}"
        )
    return model.eval()
