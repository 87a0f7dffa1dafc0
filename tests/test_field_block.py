"""backend.FieldBlock: many fields to and from numpy in one launch per 24 fields, exactly as
Taichi's per-field from_numpy / to_numpy would move them."""

import numpy as np
import pytest
import taichi as ti

from tdphys import backend


def _fields():
    return {
        "scalar": backend.field(None, (2, 3)),
        "vector": backend.vector(4, (2, 5)),
        "flat": backend.field(None, (7,)),
        "deep": backend.vector(3, (2, 2, 2)),
    }


def test_values_and_gradients_round_trip(backend64):
    fields = _fields()
    block = backend.FieldBlock(fields)
    rng = np.random.default_rng(0)
    values = {n: rng.normal(size=block.shapes[n]) for n in fields}
    block.write(values)
    for n, f in fields.items():  # what Taichi's own copy reads back
        np.testing.assert_array_equal(f.to_numpy(), values[n])
    grads = {n: rng.normal(size=block.shapes[n]) for n in fields}
    for n, f in fields.items():
        f.grad.from_numpy(grads[n])
    back, back_grads = block.read(), block.read(grad=True)
    for n in fields:
        np.testing.assert_array_equal(back[n], values[n])
        np.testing.assert_array_equal(back_grads[n], grads[n])


def test_integer_tables_and_more_fields_than_one_kernel_holds(backend64):
    fields = {f"t{i}": backend.int_field((i % 4 + 1, 2)) for i in range(30)}  # 2 kernels
    block = backend.FieldBlock(fields, ti.i32)
    values = {
        n: np.arange(np.prod(block.shapes[n])).reshape(block.shapes[n]) + 100 * i
        for i, n in enumerate(fields)
    }
    block.write(values)
    assert all((fields[n].to_numpy() == values[n]).all() for n in fields)
    assert all((block.read()[n] == values[n]).all() for n in fields)


def test_a_block_is_written_whole_and_fields_without_gradients_say_so(backend64):
    fields = _fields()
    block = backend.FieldBlock(fields)
    with pytest.raises(KeyError, match="missing"):
        block.write({"scalar": np.zeros((2, 3))})
    plain = backend.FieldBlock({"p": backend.field(None, (3,), grad=False)})
    with pytest.raises(backend.BackendError, match="no gradient"):
        plain.read(grad=True)
