"""STAND-IN for opreg's ``mcu_export/ops/base.py`` (issue 13 contract), so that clsops' ops and
tests run on their own branch. On merge take opreg's file; nothing here is clsops' design.
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

Shape = Tuple[int, int, int]
OPS: Dict[str, Type['Op']] = {}


def register_op(kind: str):
    """Class decorator registering an op kind; a duplicate kind is a ValueError."""

    def deco(cls):
        if kind in OPS:
            raise ValueError(f'op kind {kind!r} is already registered')
        cls.kind = kind
        OPS[kind] = cls
        return cls

    return deco


def get_op(kind: str) -> Type['Op']:
    """The class of an op kind; ValueError naming the kind when unknown."""
    if kind not in OPS:
        raise ValueError(f'unknown op kind {kind!r}')
    return OPS[kind]


@dataclass
class Op:
    """Base of every op kind (see the contract)."""

    kind: ClassVar[str]
    num_inputs: ClassVar[int] = 1
    streamable: ClassVar[bool] = False
    name: str

    def validate(self) -> None:
        pass

    def scratch_bytes(self, lean: bool = False) -> int:
        return 0

    def in_place_ok(self) -> bool:
        return False

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        raise NotImplementedError

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        raise NotImplementedError

    def row_window(self) -> Tuple[int, int]:
        raise NotImplementedError

    def ring_rows(self) -> int:
        kh, sh = self.row_window()
        return max(kh, sh)

    def ring_bytes(self) -> int:
        raise NotImplementedError

    def stream_scratch(self) -> Dict[str, int]:
        return {}

    def c_stage(self, ident: str, src: int) -> str:
        raise NotImplementedError
