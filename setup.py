"""Native parts of the scoring core (Cython): the strict Avro codec and TreeSHAP tables.

Everything else about the package is in pyproject.toml; this file only lists the
extensions, because setuptools' declarative ext-modules table cannot pass Cython its
compiler directives.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = [
    Extension(f"consumer.scoring.{name}", [f"consumer/scoring/{name}.pyx"])
    for name in ("_avro", "_score_encoder", "_treeshap", "_columns")
] + [
    # Card history features: bit-identical to their definition, so no fused multiply-add.
    Extension(
        "consumer.scoring.history._kernel",
        ["consumer/scoring/history/_kernel.pyx"],
        extra_compile_args=["-ffp-contract=off"],
    ),
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={"language_level": "3", "embedsignature": True},
    )
)
