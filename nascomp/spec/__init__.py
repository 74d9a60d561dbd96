"""Spec loading and validation: safe YAML, typed records, expressions, parameter declarations, block library;
and the one spec writer (:mod:`nascomp.spec.write`)."""

from nascomp.spec._yaml import load_yaml
from nascomp.spec.load import SpecSource, load_spec
from nascomp.spec.model import BlockDef, NodeSpec, RepeatSpec, Spec
from nascomp.spec.params import ParamDecl

__all__ = ["load_spec", "Spec", "NodeSpec", "RepeatSpec", "BlockDef", "ParamDecl", "SpecSource", "load_yaml"]
