"""The arrays' namedtuples (``PageArrays``, ``SimArrays``) passed to kernels by reference.

numba passes a namedtuple of arrays to a kernel it calls by value: each array is seven
to eleven machine words (its pointers, size, shape and strides), so a call with ``A`` and
``S`` copied about 250 words onto the stack, and a kernel that is not inlined paid that
at every call: 60 % of the replay loop's time (``docs/performance.md``).
:func:`by_reference` gives such a namedtuple class a numba type of its own. When Python
calls a kernel, the call's wrapper (which outlives the call) lays the arrays'
descriptors out once in a block; a kernel passes the block's address to the kernels it
calls, one word, and each kernel reads the descriptors it uses from the block once, at
its entry. A kernel reads and writes ``A.flags`` as before; no kernel changes the block
(a namedtuple cannot be assigned to).

It is numba's documented extension API (``numba.extending``: ``typeof_impl``,
``register_model``, ``unbox``, ``lower_getattr_generic``, ``infer_getattr``), with a data
model whose argument is narrower than its value. ``tests/test_byref.py`` checks that a
call passes one word, that the arrays read and written are those of the namedtuple, and
that no reference count is left behind.
"""

from __future__ import annotations

import hashlib

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.core.typing.templates import AttributeTemplate
from numba.extending import (
    NativeValue,
    infer_getattr,
    lower_getattr_generic,
    models,
    register_model,
    typeof_impl,
    unbox,
)


class ArraysRef(types.Type):
    """A namedtuple of arrays, passed by reference: ``fields`` are its names,
    ``members`` the numba types of its arrays."""

    def __init__(self, cls_name: str, fields: tuple, members: tuple):
        self.cls_name = cls_name
        self.fields = fields
        self.members = members
        digest = hashlib.sha256(repr((fields, members)).encode()).hexdigest()[:12]
        super().__init__(name=f"{cls_name}Ref_{digest}")

    @property
    def key(self):
        return self.cls_name, self.fields, self.members


@register_model(ArraysRef)
class _ArraysRefModel(models.StructModel):
    """A value is the block's address and the arrays read from it once (the struct
    ``{ref, arrays...}``): a kernel reads its arrays at its entry, and the stores it makes
    into them do not make it read the block again. An argument is the address alone."""

    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, [("ref", types.voidptr)] + list(zip(fe_type.fields, fe_type.members)))
        self._block = ir.LiteralStructType([dmm.lookup(m).get_value_type() for m in fe_type.members])

    def get_argument_type(self):
        return ir.IntType(8).as_pointer()

    def as_argument(self, builder, value):
        return builder.extract_value(value, 0)

    def from_argument(self, builder, value):
        return self.read_block(builder, value)

    def read_block(self, builder, ref):
        block = builder.load(builder.bitcast(ref, self._block.as_pointer()))
        out = builder.insert_value(ir.Constant(self.get_value_type(), ir.Undefined), ref, 0)
        for i in range(len(self._block.elements)):
            out = builder.insert_value(out, builder.extract_value(block, i), i + 1)
        return out


@infer_getattr
class _ArraysRefAttributes(AttributeTemplate):
    key = ArraysRef

    def generic_resolve(self, typ, attr):
        if attr in typ.fields:
            return typ.members[typ.fields.index(attr)]
        return None


@lower_getattr_generic(ArraysRef)
def _getattr(context, builder, typ, value, attr):
    i = typ.fields.index(attr)
    return impl_ret_borrowed(context, builder, typ.members[i], builder.extract_value(value, i + 1))


@unbox(ArraysRef)
def _unbox(typ, obj, c):
    model = c.context.data_model_manager.lookup(typ)
    # zeroed: after a failed unbox, numba gives back the references of arrays not read (none)
    block = cgutils.alloca_once(c.builder, model._block, zfill=True)
    failed = cgutils.alloca_once_value(c.builder, cgutils.false_bit)
    for i, (name, member) in enumerate(zip(typ.fields, typ.members)):
        attr = c.pyapi.object_getattr_string(obj, name)
        with c.builder.if_else(cgutils.is_null(c.builder, attr)) as (missing, present):
            with missing:
                c.builder.store(cgutils.true_bit, failed)
            with present:
                native = c.unbox(member, attr)
                c.pyapi.decref(attr)
                with c.builder.if_then(native.is_error):
                    c.builder.store(cgutils.true_bit, failed)
                c.builder.store(native.value, cgutils.gep_inbounds(c.builder, block, 0, i))

    value = model.read_block(c.builder, c.builder.bitcast(block, ir.IntType(8).as_pointer()))
    # the arrays' references are given back after the call by numba (the value's arrays, when NRT is on)
    return NativeValue(value, is_error=c.builder.load(failed))


def by_reference(cls) -> None:
    """Make kernels take instances of the namedtuple class ``cls`` (whose fields are all
    numpy arrays) by reference."""
    fields = tuple(cls._fields)

    @typeof_impl.register(cls)
    def _typeof(val, c):
        return ArraysRef(cls.__name__, fields, tuple(typeof_impl(getattr(val, f), c) for f in fields))
