"""The numba kernels: each ``@njit(cache=True)`` function does one kernel job and is
named after the kernel function it models. They take the ``PageArrays`` namedtuple, the
compiled Variant (an int64 array indexed by ``mmkit.semantics.variant.F_*``) and ints."""
