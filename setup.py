"""Native parts of the scoring core (Cython): the strict Avro codec and TreeSHAP tables.

Everything else about the package is in pyproject.toml; this file only lists the
extensions, because setuptools' declarative ext-modules table cannot pass Cython its
compiler directives.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = [
    Extension(f"consumer.scoring.{name}", [f"consumer/scoring/{name}.pyx"])
    for name in ("_avro", "_treeshap", "_columns")
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={"language_level": "3", "embedsignature": True},
    )
)
