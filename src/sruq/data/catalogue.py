"""Known super-resolution datasets: where each one is downloaded from and how it is laid out.

Every entry names one or more archives (URL, published SHA-256 where one exists, size in bytes,
archive format), the folder inside the extracted tree that holds the images (``subdir``), the
default role of the set (train / valid / test) and where to cite it from.

Checksums are copied from published sources, never computed here: the DIV2K values are the
ones tensorflow-datasets pins; ``benchmark.tar`` (the EDSR authors' Set5/Set14/B100/Urban100
bundle) and ``SRCNN_train.zip`` (T91) were published by projects that pin them.  Where no
published SHA-256 exists the value is ``None`` and :mod:`sruq.data.download` records the hash it saw
and warns that the archive was not verified.

A config can override the source of a dataset through :func:`resolve_source`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

ROLES = ("train", "valid", "test")
FORMATS = ("zip", "tar", "tar.gz", "tar.bz2")


@dataclass(frozen=True)
class Archive:
    """One downloadable archive.

    ``members``, when set, restricts extraction to the entries under that folder of the archive
    (the EDSR benchmark tarball holds four test sets; each set extracts only its own folder).
    """

    url: str
    sha256: str | None
    size: int | None
    format: str
    members: str | None = None


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from and where its images sit once extracted."""

    name: str
    archives: tuple[Archive, ...]
    subdir: str
    role: str
    homepage: str
    citation: str
    lr_scale: int | None = None
    """Bicubic down-scaling factor for a low-resolution set; ``None`` for a ground-truth set."""


_DIV2K_BASE = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
_DIV2K_HOME = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
_DIV2K_CITE = (
    "E. Agustsson and R. Timofte, 'NTIRE 2017 Challenge on Single Image Super-Resolution: "
    "Dataset and Study', CVPR Workshops, 2017."
)
_EDSR_CITE = (
    "B. Lim, S. Son, H. Kim, S. Nah and K. M. Lee, 'Enhanced Deep Residual Networks for Single "
    "Image Super-Resolution', CVPR Workshops, 2017."
)
_BENCHMARK_TAR = Archive(
    url="https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    sha256="80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8",
    size=250112000,
    format="tar",
)

# (url file stem, size, sha256) as listed in tensorflow/datasets
# tensorflow_datasets/datasets/div2k/checksums.tsv.
_DIV2K_ARCHIVES: dict[str, tuple[int, str]] = {
    "DIV2K_train_HR": (
        3530603713,
        "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
    ),
    "DIV2K_valid_HR": (
        448993893,
        "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
    ),
    "DIV2K_train_LR_bicubic_X2": (
        925390592,
        "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850",
    ),
    "DIV2K_train_LR_bicubic_X3": (
        427847282,
        "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a",
    ),
    "DIV2K_train_LR_bicubic_X4": (
        246914039,
        "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a",
    ),
    "DIV2K_valid_LR_bicubic_X2": (
        117763600,
        "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57",
    ),
    "DIV2K_valid_LR_bicubic_X3": (
        54513392,
        "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3",
    ),
    "DIV2K_valid_LR_bicubic_X4": (
        31505881,
        "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553",
    ),
}


def _div2k(stem: str) -> DatasetSource:
    """Entry for one official ETH zip: ``DIV2K_<split>_HR`` or ``DIV2K_<split>_LR_bicubic_X<s>``."""
    size, sha256 = _DIV2K_ARCHIVES[stem]
    split = stem.split("_")[1]
    if stem.endswith("_HR"):
        subdir, lr_scale = stem, None
    else:
        lr_scale = int(stem[-1])
        subdir = f"DIV2K_{split}_LR_bicubic/X{lr_scale}"
    return DatasetSource(
        name=stem,
        archives=(Archive(_DIV2K_BASE + stem + ".zip", sha256, size, "zip"),),
        subdir=subdir,
        role="train" if split == "train" else "valid",
        homepage=_DIV2K_HOME,
        citation=_DIV2K_CITE,
        lr_scale=lr_scale,
    )


def _benchmark(name: str, homepage: str, citation: str) -> DatasetSource:
    """Test set taken from the EDSR authors' ``benchmark.tar`` (HR images in ``<name>/HR``)."""
    return DatasetSource(
        name=name,
        archives=(replace(_BENCHMARK_TAR, members=f"benchmark/{name}"),),
        subdir=f"benchmark/{name}/HR",
        role="test",
        homepage=homepage,
        citation=citation + " Archive: " + _EDSR_CITE,
    )


CATALOGUE: dict[str, DatasetSource] = {
    **{stem: _div2k(stem) for stem in _DIV2K_ARCHIVES},
    "Flickr2K": DatasetSource(
        name="Flickr2K",
        archives=(
            Archive(
                url="https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
                sha256=None,
                size=None,
                format="tar",
            ),
        ),
        subdir="Flickr2K/Flickr2K_HR",
        role="train",
        homepage="https://github.com/limbee/NTIRE2017",
        citation=_EDSR_CITE,
    ),
    "Set5": _benchmark(
        "Set5",
        "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html",
        "M. Bevilacqua, A. Roumy, C. Guillemot and M.-L. Alberi Morel, 'Low-Complexity "
        "Single-Image Super-Resolution based on Nonnegative Neighbor Embedding', BMVC, 2012.",
    ),
    "Set14": _benchmark(
        "Set14",
        "https://sites.google.com/site/romanzeyde/research-interests",
        "R. Zeyde, M. Elad and M. Protter, 'On Single Image Scale-Up Using "
        "Sparse-Representations', Curves and Surfaces, 2010.",
    ),
    "B100": _benchmark(
        "B100",
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/",
        "D. Martin, C. Fowlkes, D. Tal and J. Malik, 'A Database of Human Segmented Natural "
        "Images and its Application to Evaluating Segmentation Algorithms and Measuring "
        "Ecological Statistics', ICCV, 2001.",
    ),
    "Urban100": _benchmark(
        "Urban100",
        "https://github.com/jbhuang0604/SelfExSR",
        "J.-B. Huang, A. Singh and N. Ahuja, 'Single Image Super-Resolution from Transformed "
        "Self-Exemplars', CVPR, 2015.",
    ),
    "T91": DatasetSource(
        name="T91",
        archives=(
            Archive(
                url="https://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_train.zip",
                sha256="001146419f7acfb12a3e7929c8acd5de88a08d687d6881085f81321ad6982b1a",
                size=19619221,
                format="zip",
                members="SRCNN/Train",
            ),
        ),
        subdir="SRCNN/Train",
        role="train",
        homepage="https://mmlab.ie.cuhk.edu.hk/projects/SRCNN.html",
        citation=(
            "J. Yang, J. Wright, T. S. Huang and Y. Ma, 'Image Super-Resolution via Sparse "
            "Representation', IEEE TIP, 2010; as distributed with C. Dong, C. C. Loy, K. He and "
            "X. Tang, 'Learning a Deep Convolutional Network for Image Super-Resolution', "
            "ECCV, 2014."
        ),
    ),
}
"""Known datasets by name (case-sensitive)."""

OVERRIDE_KEYS = ("url", "sha256", "size", "format", "members", "subdir", "role")
"""Keys a config may set to override a dataset's source."""


def archive_format(url: str) -> str:
    """Archive format implied by a URL's file name; raises ``ValueError`` when there is none."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    for suffix, fmt in ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar.bz2", "tar.bz2"),
                        (".tbz2", "tar.bz2"), (".tar", "tar"), (".zip", "zip")):
        if path.endswith(suffix):
            return fmt
    raise ValueError(
        f"url {url!r}: cannot tell the archive format; set 'format' to one of {FORMATS}"
    )


def resolve_source(name: str, overrides: dict[str, Any] | None = None) -> DatasetSource:
    """The catalogue entry for ``name`` with the config's ``overrides`` applied.

    Overriding ``url`` drops the catalogue's checksum and size (they describe the catalogue's
    file), unless ``sha256`` / ``size`` are overridden too.  ``format`` defaults to the one the
    new URL's file name implies.  URL-level keys need a single-archive dataset.
    """
    if name not in CATALOGUE:
        raise ValueError(f"dataset {name!r} is not in the catalogue; known: {sorted(CATALOGUE)}")
    source = CATALOGUE[name]
    if not overrides:
        return source
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown override key(s) {unknown}; "
                         f"allowed: {list(OVERRIDE_KEYS)}")
    if "role" in overrides and overrides["role"] not in ROLES:
        raise ValueError(f"dataset {name!r}: role {overrides['role']!r} is not one of {ROLES}")
    source = replace(source, **{k: overrides[k] for k in ("subdir", "role") if k in overrides})
    archive_keys = {k: overrides[k] for k in ("url", "sha256", "size", "format", "members")
                    if k in overrides}
    if not archive_keys:
        return source
    if len(source.archives) != 1:
        raise ValueError(f"dataset {name!r} has {len(source.archives)} archives; "
                         f"cannot override {sorted(archive_keys)}")
    archive = source.archives[0]
    if "url" in archive_keys:
        archive = replace(archive, url=archive_keys["url"], sha256=None, size=None,
                          format=archive_keys.get("format") or archive_format(archive_keys["url"]))
    archive = replace(archive, **{k: v for k, v in archive_keys.items() if k != "url"})
    if archive.format not in FORMATS:
        raise ValueError(f"dataset {name!r}: format {archive.format!r} is not one of {FORMATS}")
    if archive.sha256 is not None:
        sha = str(archive.sha256).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"dataset {name!r}: sha256 {archive.sha256!r} is not 64 hex digits")
        archive = replace(archive, sha256=sha)
    return replace(source, archives=(archive,))
