"""The served model's module names: versions registered before the package moved still load."""

from __future__ import annotations

import pickle
import sys

from pipeline.learn.ensemble.compat import LEGACY_MODULES, MOVED_NAMES, register_legacy_modules
from pipeline.learn.ensemble.recommender import Recommender
from pipeline.learn.towers.config import ModelConfig
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.layers import SharedBottom, Tower
from pipeline.learn.towers.model import MultiTaskModel
from pipeline.train.served_model import RecsysPyfunc

# The globals a champion pickled by the release before the move refers to (read off one with
# pickletools): module, name.
LEGACY_GLOBALS = {
    ("pipeline.registry", "RecsysPyfunc"): RecsysPyfunc,
    ("pipeline.bundle", "Bundle"): Recommender,
    ("pipeline.feature_space", "FeatureSpace"): FeatureSpace,
    ("pipeline.model", "MultiTaskModel"): MultiTaskModel,
    ("pipeline.model", "ModelConfig"): ModelConfig,
    ("pipeline.model", "Tower"): Tower,
    ("pipeline.model", "SharedBottom"): SharedBottom,
    # ... and those pickled before the learn package had its subpackages
    ("pipeline.learn.model", "MultiTaskModel"): MultiTaskModel,
    ("pipeline.learn.model", "Tower"): Tower,
    ("pipeline.learn.model_config", "ModelConfig"): ModelConfig,
    ("pipeline.learn.feature_space", "FeatureSpace"): FeatureSpace,
    ("pipeline.learn.bundle", "Bundle"): Recommender,
    ("pipeline.learn.towers", "SharedBottom"): SharedBottom,
}


def test_every_old_global_resolves_to_todays_class() -> None:
    register_legacy_modules()
    for (module, name), cls in LEGACY_GLOBALS.items():
        assert getattr(sys.modules[module], name) is cls
    assert set(LEGACY_MODULES) | set(MOVED_NAMES) >= {module for module, _ in LEGACY_GLOBALS}
    assert set(LEGACY_MODULES) <= {module for module, _ in LEGACY_GLOBALS}


def test_a_pickle_naming_the_old_module_loads() -> None:
    register_legacy_modules()
    # protocol 0 spells a global as "c<module>\n<name>\n": the old name, as an old pickle has it
    # (ModelConfig lives in pipeline.learn.towers.config now; the model module imports it)
    payload = pickle.dumps(ModelConfig, protocol=0).replace(
        ModelConfig.__module__.encode(), b"pipeline.model"
    )
    assert b"cpipeline.model\nModelConfig" in payload
    assert pickle.loads(payload) is ModelConfig


def test_the_registered_pickle_holds_no_loaded_bundle(trained_night) -> None:
    """The pyfunc is pickled after it scored its input example: what it loaded (every user's
    vectors and ids) must not travel in python_model.pkl (an erasure would have to find it)."""
    (pickled,) = trained_night.settings.home.glob("mlartifacts/models/*/artifacts/python_model.pkl")
    data = pickled.read_bytes()
    assert len(data) < 20_000
    model = pickle.loads(data)
    assert isinstance(model, RecsysPyfunc) and not hasattr(model, "recommender")
