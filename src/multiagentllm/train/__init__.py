"""GLPFT training: one SFT recipe (`train_stage`), stages as configs, the chain (`run_glpft`).

    from multiagentllm.train import TrainConfig, run_glpft, train_stage

Importing this package is cheap; torch and transformers load when a stage runs.
"""

from multiagentllm.train.chain import ChainResult, run_glpft
from multiagentllm.train.config import ConfigError, TrainConfig, TrainingError
from multiagentllm.train.recipe import StageResult, train_stage

__all__ = ["ChainResult", "ConfigError", "StageResult", "TrainConfig", "TrainingError", "run_glpft",
           "train_stage"]
