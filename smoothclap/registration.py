"""``import smoothclap`` makes transformers' Auto classes know SmoothCLAP, so that
``AutoConfig/AutoModel/AutoProcessor.from_pretrained(folder_or_repo)`` load it with the installed
classes: no ``trust_remote_code``, no file of the folder executed.

Registering needs the classes, and importing them imports transformers and torch (seconds):
``smoothclap --help`` must not pay that. So the classes are registered with each Auto module
right after transformers loads it (``AutoConfig`` ... are only reachable through those
modules), or at once where transformers already loaded it. A user who never touches the Auto
classes never imports torch through this module."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings

# transformers' module holding each Auto class -> what gets registered with it
AUTO_MODULES = {"transformers.models.auto.configuration_auto": "config",
                "transformers.models.auto.modeling_auto": "model",
                "transformers.models.auto.processing_auto": "processor"}
# the model files: one still executing (the pipeline file imports transformers' pipelines, which load
# modeling_auto) may be what the registration would import next
MODEL_FILES = [f"smoothclap.models.{name}_smoothclap" for name in
               ("audio", "configuration", "modeling", "processing", "pipeline", "onnx")]


def _watched(name: str) -> bool:
    """Registration waits until no transformers module and no model file is half-imported (the
    model files import from tokenization_auto, feature_extraction_auto ...), so it is tried
    again after each of them completes."""
    return name == "transformers" or name.startswith("transformers.") or name in MODEL_FILES


_registered: set[str] = set()
_in_flight = [0]  # watched modules executing now, and a registration running (a count: imports nest)


def register(part: str, module) -> None:
    """Register SmoothCLAP's class for ``part`` with the Auto class that ``module`` defines."""
    from .models.configuration_smoothclap import SmoothClapConfig

    if part == "config":
        module.AutoConfig.register(SmoothClapConfig.model_type, SmoothClapConfig, exist_ok=True)
    elif part == "model":
        from .models.modeling_smoothclap import SmoothClapModel

        module.AutoModel.register(SmoothClapConfig, SmoothClapModel, exist_ok=True)
    else:
        from .models.processing_smoothclap import SmoothClapProcessor

        module.AutoProcessor.register(SmoothClapConfig, SmoothClapProcessor, exist_ok=True)
    _registered.add(part)


def _initialising(name: str) -> bool:
    """In sys.modules but still executing (a module in the middle of its own imports)."""
    module = sys.modules.get(name)
    return module is not None and bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def register_pending() -> None:
    """Register every part whose Auto module transformers has loaded, unless a watched module is
    still executing (our modeling file imports AutoModel: it is registered once it is complete).
    The imports a registration makes count as in flight, so they do not start another one."""
    if _in_flight[0]:
        return
    _in_flight[0] += 1
    try:
        while ready := [(n, p) for n, p in AUTO_MODULES.items() if p not in _registered and n in sys.modules]:
            for name, part in ready:  # a registration may load another Auto module: loop until none is left
                try:
                    register(part, sys.modules[name])
                except Exception as err:  # never break the user's `import transformers` over this
                    _registered.add(part)
                    warnings.warn(f"smoothclap could not register its {part} class with transformers' Auto "
                                  f"classes ({type(err).__name__}: {err}); load models with trust_remote_code=True.",
                                  stacklevel=2)
    finally:
        _in_flight[0] -= 1
    if len(_registered) == len(AUTO_MODULES):
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterImportFinder)]


class _ThenRegister(importlib.abc.Loader):
    """The module's own loader, then the registrations it made possible."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        _in_flight[0] += 1
        try:
            self._loader.exec_module(module)
        finally:
            _in_flight[0] -= 1
        register_pending()

    def __getattr__(self, name):  # get_source, get_filename, ... of the wrapped loader
        return getattr(self._loader, name)


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._finding: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if not _watched(name) or name in self._finding:
            return None
        self._finding.add(name)  # the real spec, from the finders after this one
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding.discard(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


def install() -> None:
    """Register now with the Auto modules transformers has loaded; the others as they load."""
    if not any(isinstance(f, _AfterImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportFinder())
    if not any(_initialising(name) for name in list(sys.modules) if _watched(name)):
        register_pending()
