"""Data: loaders for public tool-use datasets, synthesis, splits and GLPFT training-set builders."""
