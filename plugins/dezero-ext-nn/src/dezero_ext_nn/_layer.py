"""``Layer``: parameters and sublayers registered by attribute assignment, in definition order.

The base of every layer and model (``dezero_ext_nn.layers``, ``dezero_ext_nn.models``).
Weights on disk are in ``_weights``; this module keeps the registry and the walks over it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike

from dezero_ext import Array, Operand, Parameter, Variable, invalidate_traces, test_mode
from dezero_ext.core.function import astype
from dezero_ext.opdef import Declaration
from dezero_ext_nn._devices import foreign_as_dtype, into_moved_layer, is_foreign

__all__ = ["Layer", "ShapeTemplate", "as_dtype", "float_dtype", "positive_int"]

ShapeTemplate = tuple[int | None, ...]
"""The shape of a parameter created lazily: ``None`` for a size known at the first call."""


class Layer:
    """A callable holding ``Parameter``s and sublayers (DeZero's ``Layer``).

    Assigning a ``Parameter`` or a ``Layer`` to an attribute registers it, in assignment
    order (DeZero kept the names in a set, so their order changed from run to run);
    assigning anything else to that name unregisters it. ``params()`` walks the registry
    depth first, each parameter once even when shared. Subclasses define
    ``forward(*inputs) -> Variable``; calling the layer calls it.

    Arrays a layer keeps and saves with its weights without training them (batch norm's
    running statistics) are registered with ``register_buffer``.
    """

    forward: Callable[..., Variable]
    """``forward(*inputs) -> Variable``: the layer's computation (defined by subclasses)."""

    _children: list[str]
    _buffers: list[str]
    _pending: dict[str, ShapeTemplate]

    def __init__(self) -> None:
        state = self.__dict__
        state.setdefault("_children", [])  # names of Parameters and sublayers, in order
        state.setdefault("_buffers", [])  # names of saved, untrained arrays
        state.setdefault("_pending", {})  # name -> shape template, until created

    training: bool = True
    """This layer's mode (``train()``/``eval()``); ``test_mode()`` overrides it for all."""

    def __call__(self, *inputs: Operand) -> Variable:
        if self.training:
            return self.forward(*inputs)
        with test_mode():  # so that dropout and batch norm inside see inference
            return self.forward(*inputs)

    def train(self, mode: bool = True) -> Self:
        """Set this layer and its sublayers to training (``mode=False``: ``eval()``), as
        PyTorch's ``Module.train``. An eval-mode layer runs its forward in ``test_mode()``:
        dropout is the identity and batch norm uses its running statistics. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        if self.__dict__.get("training", type(self).training) is not mode:
            invalidate_traces()  # a traced model's tape holds the ops of its old mode
        self.training = mode
        for name in self.__dict__.get("_children", ()):
            child = self.__dict__[name]
            if isinstance(child, Layer):
                child.train(mode)
        return self

    def eval(self) -> Self:
        """Set this layer and its sublayers to inference: ``train(False)``."""
        return self.train(False)

    # ----------------------------------------------------------------- the registry
    def __setattr__(self, name: str, value: object) -> None:
        state = self.__dict__
        if "_children" not in state:  # a subclass that did not call super().__init__()
            Layer.__init__(self)
        children: list[str] = state["_children"]
        if isinstance(value, (Parameter, Layer)):
            if name not in children:
                if name in state["_buffers"]:
                    raise TypeError(
                        f"{type(self).__name__}.{name} is a buffer (an array saved with the "
                        f"weights); assign an array to it, not a {type(value).__name__}"
                    )
                children.append(name)
        elif name in children:
            children.remove(name)
            state["_pending"].pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        state = self.__dict__
        for registry in (state.get("_children", []), state.get("_buffers", [])):
            if name in registry:
                registry.remove(name)
        state.get("_pending", {}).pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Array) -> None:
        """Keep ``value`` as attribute ``name``, saved and loaded with the weights but not a
        parameter (no gradient, not updated by optimizers): running statistics and the like.
        """
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}.register_buffer: {name!r} must be a numpy array, got "
                f"{type(value).__name__}"
            )
        if name in self.__dict__.get("_children", ()):
            raise TypeError(f"{type(self).__name__}.{name} is already a parameter or a sublayer")
        self.__setattr__(name, value)
        buffers: list[str] = self.__dict__["_buffers"]
        if name not in buffers:
            buffers.append(name)

    # ----------------------------------------------------------------- walks
    def namedparams(self) -> Iterator[tuple[str, Parameter]]:
        """``(path, parameter)`` pairs, depth first in definition order: ``("l0/W", W)``.

        The path is the chain of attribute names (``model.l0.W``); a parameter shared by
        several layers comes once, under its first path.
        """
        seen: set[int] = set()
        for path, owner, name in self._walk("", {id(self)}):
            param = owner.__dict__[name]
            if id(param) not in seen:
                seen.add(id(param))
                yield path, param

    def params(self) -> Iterator[Parameter]:
        """Every parameter of this layer and its sublayers, each once, in definition order."""
        for _, param in self.namedparams():
            yield param

    def cleargrads(self) -> None:
        """Forget the gradient of every parameter (before the next ``backward``)."""
        for param in self.params():
            param.cleargrad()

    def to_cpu(self) -> None:
        """Move every parameter, gradient and buffer to NumPy arrays (DeZero's name):
        ``to_backend(numpy)``; nothing to do for a model on NumPy."""
        self.to_backend(np)

    def to_gpu(self) -> None:
        """Move every parameter, gradient and buffer to CuPy arrays on the GPU (DeZero's
        name): ``to_backend(cupy)``, or a ``GPUUnavailableError`` saying why not when
        ``dezero_ext_nn.cuda.gpu_enable`` is False."""
        from dezero_ext_nn import cuda

        cuda.require_gpu(f"{type(self).__name__}.to_gpu()")
        assert cuda.cupy is not None  # require_gpu checked
        self.to_backend(cuda.cupy)

    def to_backend(self, xp: ModuleType) -> None:
        """Move every parameter (data and gradient) and buffer of this layer and its
        sublayers to the arrays of module ``xp`` (``numpy``, ``cupy``, ``array_api_strict``),
        through NumPy; parameters a lazy layer creates later are created there too. All or
        nothing: a ``TypeError`` (the core cannot hold ``xp``'s arrays) moves nothing. Move
        the optimizer's state with ``optimizer.to_backend(xp)``, the loader's batches with
        ``loader.to_backend(xp)``."""
        from dezero_ext_nn._devices import move_layer

        move_layer(self, xp, f"{type(self).__name__}.to_backend({xp.__name__})")

    def _walk(self, prefix: str, visited: set[int]) -> Iterator[tuple[str, Layer, str]]:
        """``(path, owner, name)`` of every parameter, depth first in definition order."""
        state = self.__dict__
        for name in state.get("_children", ()):
            value = state[name]
            if isinstance(value, Layer):
                if id(value) not in visited:
                    visited.add(id(value))
                    yield from value._walk(f"{prefix}{name}/", visited)
            else:
                yield f"{prefix}{name}", self, name

    def _layers(self, visited: set[int] | None = None) -> Iterator[Layer]:
        """This layer and every sublayer, each once, depth first."""
        visited = {id(self)} if visited is None else visited
        yield self
        state = self.__dict__
        for name in state.get("_children", ()):
            value = state[name]
            if isinstance(value, Layer) and id(value) not in visited:
                visited.add(id(value))
                yield from value._layers(visited)

    def _saved(self, prefix: str, visited: set[int]) -> Iterator[tuple[str, Layer, str, bool]]:
        """``(path, owner, name, is_buffer)`` of everything ``save_weights`` writes."""
        state = self.__dict__
        for name in state.get("_children", ()):
            value = state[name]
            if isinstance(value, Layer):
                if id(value) not in visited:
                    visited.add(id(value))
                    yield from value._saved(f"{prefix}{name}/", visited)
            else:
                yield f"{prefix}{name}", self, name, False
        for name in state.get("_buffers", ()):
            yield f"{prefix}{name}", self, name, True

    # ----------------------------------------------------------------- lazy creation
    def _declare_lazy(self, name: str, template: ShapeTemplate) -> None:
        """Mark parameter or buffer ``name`` (already assigned a placeholder) as created at
        the first call: ``template`` is its shape with ``None`` for the sizes it learns then.
        ``load_weights`` creates it from the file instead."""
        self.__dict__["_pending"][name] = template

    def _create(self, name: str, data: Array) -> None:
        """Give lazy parameter or buffer ``name`` its data and mark it created."""
        value = self.__dict__[name]
        xp = self.__dict__.get("_xp")
        if xp is not None:  # the layer was moved (to_backend): its new arrays go there too
            from dezero_ext_nn._devices import to_library

            data = to_library(data, xp)
        if isinstance(value, Variable):
            value.data = data
        else:
            object.__setattr__(self, name, data)
        self.__dict__["_pending"].pop(name, None)

    def _lazy(self) -> bool:
        """Whether a lazy parameter or buffer still waits for its first call. One whose data
        was assigned (``layer.W.data = array``, as DeZero's tests copy weights in) counts as
        created, once its shape fits the template."""
        pending = self.__dict__.get("_pending")
        if not pending:  # none, or a subclass that never called super().__init__()
            return False
        for name, template in list(pending.items()):
            value = self.__dict__[name]
            data = value.data if isinstance(value, Variable) else value
            if data.size == 0:  # still the empty placeholder
                continue
            if len(data.shape) != len(template) or any(
                t is not None and t != d for t, d in zip(template, data.shape, strict=True)
            ):
                shape = "(" + ", ".join("?" if d is None else str(d) for d in template) + ")"
                raise ValueError(
                    f"{type(self).__name__}.{name}: the data assigned has shape {data.shape}, "
                    f"which does not fit {shape}; assign an array of that shape"
                )
            del pending[name]
        return bool(pending)

    @property
    def built(self) -> bool:
        """Whether every parameter of this layer and its sublayers exists (a layer whose input
        size is inferred creates its parameters at the first call, or in ``load_weights``)."""
        return not any(layer._lazy() for layer in self._layers())

    # ----------------------------------------------------------------- weights on disk
    def save_weights(self, path: str | Path) -> Path:
        """Write every parameter and buffer to an ``.npz`` file, keys like ``"l0/W"``.

        The file is replaced atomically (an interruption leaves the old file or none, never
        a partial one). ``.npz`` is appended to a path without it, as ``numpy.savez`` does.
        Returns the path written.
        """
        from dezero_ext_nn._weights import save_weights

        return save_weights(self, path)

    def load_weights(self, path: str | Path, cast: bool = False) -> None:
        """Load weights written by ``save_weights`` (read with ``allow_pickle=False``).

        Every name, shape and dtype must match this layer's (parameters not created yet take
        their shape from the file); otherwise a ``WeightsMismatchError`` names every mismatch
        and nothing is changed. ``cast=True`` converts a file of another float dtype to this
        layer's (a float32 file into a float64 model, as PyTorch's ``load_state_dict``).
        """
        from dezero_ext_nn._weights import load_weights

        load_weights(self, path, cast)

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        state = self.__dict__
        for name in state.get("_children", ()):
            value = state[name]
            if isinstance(value, Layer):
                inner = repr(value).replace("\n", "\n  ")
                lines.append(f"  {name}: {inner}")
            else:
                lines.append(f"  {name}: {self._describe(name, value)}")
        for name in state.get("_buffers", ()):
            lines.append(f"  {name}: {self._describe(name, state[name])} (buffer)")
        if len(lines) == 1:
            return f"{type(self).__name__}()"
        return "\n".join([*lines, ")"])

    def _describe(self, name: str, value: Variable | Array) -> str:
        template = self.__dict__["_pending"].get(name)
        dtype = value.dtype
        if template is not None:
            shape = "(" + ", ".join("?" if d is None else str(d) for d in template) + ")"
            return f"{shape} {dtype}, created at the first call"
        return f"{tuple(value.shape)} {dtype}"


# ---------------------------------------------------------------------- helpers for layers
def positive_int(value: object, name: str, layer: str) -> int:
    """``value`` as a positive int, or a ``TypeError``/``ValueError`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{layer}: {name} must be at least 1, got {value}")
    return int(value)


def float_dtype(dtype: DTypeLike, layer: str) -> np.dtype[np.floating[Any]]:
    """``dtype`` as a floating NumPy dtype, or a ``TypeError`` naming it."""
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{layer}: dtype {dtype!r} is not a NumPy dtype") from None
    if result.kind != "f":
        raise TypeError(f"{layer}: dtype must be a floating dtype (float32, float64), got {result}")
    return result  # type: ignore[return-value]  # kind "f" checked above


def as_dtype(
    x: Operand, dtype: np.dtype[Any], op: Declaration | None = None, layer: str = "a layer"
) -> Operand:
    """``x`` in the layer's ``dtype``: data (an array, a number, a constant Variable) is
    converted; a Variable that needs a gradient is cast with the differentiable ``astype``, so
    its gradient comes back in its own dtype. A layer computes in its parameters' dtype: a
    float64 batch does not turn a float32 model into a float64 one (as in DeZero).

    An array of another library (Dask, CuPy, ``array-api-strict``) is never converted to NumPy
    here (that would compute a Dask graph or copy from a GPU behind the user's back): it is
    cast through its own namespace and passed on when ``op`` (the nn op the ``layer`` applies)
    declares that backend, and refused with a ``TypeError`` naming its backend and the fix
    otherwise. A layer moved to another library (``to_backend``; its dtype is that library's)
    refuses NumPy input the same way, rather than uploading it."""
    if not isinstance(dtype, np.dtype):  # the parameters were moved to another library
        return into_moved_layer(x, dtype, op, layer)
    if isinstance(x, Variable):
        if x.dtype == dtype:
            return x
        return astype(x, dtype)  # an op even for a constant: a traced call replays it
    if isinstance(x, np.ndarray):
        return x if x.dtype == dtype else x.astype(dtype)
    if is_foreign(x):
        passed: Operand = foreign_as_dtype(x, dtype, op, layer)
        return passed
    return np.asarray(x, dtype=dtype)
