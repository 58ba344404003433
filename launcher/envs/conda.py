"""A conda environment file (MLproject's `conda_env`, usually conda.yaml) read for a uv environment.

Its `pip:` list is installed as it is. Its conda packages are installed from PyPI when PyPI has the same
package (under the same name, or the one in CONDA_TO_PYPI); `python=3.x` is the python pin; `pip` itself
is skipped (uv installs without it); `setuptools` and `wheel` are build requirements, as MLflow reads
them. A conda-only package (CONDA_ONLY: native libraries, toolchains, CUDA, R) cannot be installed
without conda: the record names each one and building refuses with one line before anything runs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from launcher.envs.requirements_file import Line, ReadFile, Requirements, parse_lines
from launcher.errors import DependencyError

#: Conda packages whose PyPI package has another name.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "pytables": "tables",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "python-graphviz": "graphviz",  # the Python bindings; conda's `graphviz` is the native tool
    "pyqt": "PyQt5",
    "tensorflow-base": "tensorflow",
    "tensorflow-cpu": "tensorflow-cpu",
    "ruamel_yaml": "ruamel.yaml",
    "typing_extensions": "typing-extensions",
}

#: Conda packages known to have a PyPI package of the same name (the usual scientific stack). A conda
#: package in neither table nor CONDA_ONLY is also looked up on PyPI under its name, with a note.
SAME_NAME_ON_PYPI = frozenset({
    "numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "seaborn", "statsmodels", "sympy", "numba",
    "xgboost", "lightgbm", "catboost", "tensorflow", "keras", "torchvision", "torchaudio", "jax", "jaxlib",
    "transformers", "datasets", "tokenizers", "huggingface_hub", "sentencepiece", "nltk", "spacy", "gensim",
    "pillow", "scikit-image", "imageio", "h5py", "pyarrow", "polars", "dask", "distributed", "joblib",
    "cloudpickle", "click", "pyyaml", "requests", "tqdm", "rich", "protobuf", "mlflow", "mlflow-skinny",
    "wandb", "tensorboard", "hyperopt", "optuna", "shap", "plotly", "bokeh", "altair", "ipython",
    "jupyter", "notebook", "ipykernel", "cython", "certifi", "six", "packaging", "attrs", "pydantic",
    "psutil", "boto3", "sqlalchemy", "lxml", "beautifulsoup4", "networkx", "openpyxl", "xlrd",
    "python-dateutil", "pytz", "tzdata", "setuptools-scm", "future", "cmake", "ninja", "onnx",
    "onnxruntime", "pytest", "typing-extensions", "filelock", "fsspec", "s3fs", "gcsfs",
})

#: Conda packages with no PyPI package that provides the same thing: native libraries and runtimes,
#: compilers and build tools, CUDA, conda's own meta-packages, and R (every `r-*` package).
CONDA_ONLY = frozenset({
    # CUDA and GPU libraries (PyPI's nvidia-* wheels are other packages, pulled in by torch itself)
    "cudatoolkit", "cuda-toolkit", "cuda-runtime", "cuda-nvcc", "cudnn", "nccl", "cutensor", "magma",
    # BLAS and math libraries that numpy and scipy link against
    "mkl", "mkl-service", "mkl_fft", "mkl_random", "mkl-include", "intel-openmp", "blas", "libblas",
    "libcblas", "liblapack", "openblas", "libopenblas", "fftw", "tbb",
    # the C runtime, compilers and build tools of a conda environment
    "libgcc-ng", "libstdcxx-ng", "libgfortran-ng", "libgomp", "llvm-openmp", "gcc", "gxx", "gfortran",
    "gcc_linux-64", "gxx_linux-64", "compilers", "make", "binutils", "ld_impl_linux-64", "sysroot_linux-64",
    # system libraries and tools
    "openssl", "ca-certificates", "libffi", "ncurses", "readline", "sqlite", "tk", "xz", "zlib", "bzip2",
    "zstd", "libzlib", "icu", "libxml2", "libiconv", "expat", "hdf5", "libcurl", "curl", "git", "graphviz",
    "ffmpeg", "libjpeg-turbo", "libpng", "freetype", "cairo", "nodejs", "openjdk", "arrow-cpp", "libarrow",
    "libopencv", "libprotobuf", "pytorch-cuda", "pytorch-mutex", "cpuonly", "conda", "mamba",
    # R
    "r-base", "r-essentials", "rstudio",
})


@dataclass(frozen=True)
class CondaEnvironment:
    python: str | None  # the pin as written after `python`: "3.11", "3.11.7", ">=3.10"
    requirements: tuple[str, ...]  # conda packages with a PyPI package, then the pip list
    build_requirements: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    conda_only: tuple[str, ...]
    notes: tuple[str, ...]


_CONDA_SPEC = re.compile(r"^(?:(?P<channel>[^:\s]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<version>.*)$")


def parse_conda_env(text: str, path: str, read_file: ReadFile) -> CondaEnvironment:
    """`path` is the file's place in the source (for messages, and the folder pip's `-r` lines start from)."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DependencyError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise DependencyError(f"{path} must be a conda environment mapping with 'dependencies', "
                              f"got {type(document).__name__}")
    dependencies = document.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise DependencyError(f"{path}: 'dependencies' must be a list, got {dependencies!r}")

    python: str | None = None
    build: list[str] = []
    conda_only: list[str] = []
    pip_lines: list[Line] = []
    result = Requirements()
    for position, entry in enumerate(dependencies, start=1):
        where = f"{path} dependency {position}"
        if isinstance(entry, Mapping) and set(entry) == {"pip"}:
            pip = entry["pip"] or []
            if not isinstance(pip, list) or not all(isinstance(item, str) for item in pip):
                raise DependencyError(f"{where}: 'pip' must be a list of requirement strings, got {pip!r}")
            pip_lines += [Line(item.strip(), f"{path} pip entry {n}") for n, item in enumerate(pip, start=1)
                          if item.strip() and not item.strip().startswith("#")]
            continue
        if not isinstance(entry, str | int | float):
            raise DependencyError(f"{where}: {entry!r} is not a package; expected a string such as 'numpy=1.26' "
                                  "or a {pip: [...]} list")
        match = _CONDA_SPEC.match(str(entry).strip())
        if match is None:
            raise DependencyError(f"{where}: {entry!r} is not a conda package spec; expected e.g. 'numpy=1.26'")
        name = match.group("name").lower()
        version = _version_spec(match.group("version"), where, str(entry))
        if name == "python":
            python = _python_pin(version)
            continue
        if name == "pip":
            continue
        if name in ("setuptools", "wheel"):
            build.append(name + version)
        elif name in CONDA_ONLY or name.startswith("r-") or name.startswith("_"):
            conda_only.append(name)
        else:
            pypi = CONDA_TO_PYPI.get(name, name)
            if pypi not in SAME_NAME_ON_PYPI and name not in CONDA_TO_PYPI:
                result.notes.append(f"{where}: conda package {name!r} is installed from PyPI under the same name")
            result.add(pypi + version)
    parse_lines(pip_lines, posixpath.dirname(path), read_file, result)
    return CondaEnvironment(python, tuple(result.requirements), tuple(build), result.index_url,
                            tuple(result.extra_index_urls), tuple(conda_only), tuple(result.notes))


def _version_spec(conda_version: str, where: str, entry: str) -> str:
    """A conda version constraint as a PEP 440 one: `=1.21` (conda's prefix match) is `==1.21.*`, a build
    string (`=1.21.0=py39_0`) is dropped, `>=1.2,<2` stays."""
    text = conda_version.strip()
    if not text:
        return ""
    if text[0].isdigit():  # `numpy 1.21` (space form): a prefix match like `=1.21`
        text = "=" + text.split()[0]
    if text.startswith("=") and not text.startswith("=="):
        version, _, build_string = text[1:].partition("=")
        version = version.strip()
        if build_string or _full_version(version):
            spec = f"=={version}"  # a release, or a version with a build string: that exact version
        else:
            spec = f"=={version.rstrip('*').rstrip('.')}.*"
    else:
        spec = text.replace(" ", "")
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        raise DependencyError(f"{where}: the version in {entry!r} cannot be read; expected e.g. 'numpy=1.26' "
                              "or 'numpy>=1.24'") from None
    return spec


def _python_pin(spec: str) -> str | None:
    """The python pin as a version request: "3.11" for `python=3.11`, "3.11.7" for `python==3.11.7`,
    the specifier itself otherwise (`python>=3.10`)."""
    if not spec:
        return None
    if re.fullmatch(r"==[0-9][0-9.]*(\.\*)?", spec):
        return spec[2:].removesuffix(".*")
    return spec


def _full_version(version: str) -> bool:
    """A version with three parts or more names a release; fewer parts are conda's prefix match."""
    return "*" not in version and version.count(".") >= 2
