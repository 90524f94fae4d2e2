"""The data layer: images and labels, the protocol, and every dataset's files.

One concern per module:

- ``splits``: ``Split``, ``Dataset``, ``DatasetSpec`` and the evaluation protocol
- ``registry``: datasets by name (``get_spec``, ``load_dataset``, ``prepare_dataset``)
- ``official``: the built-in datasets (``digits`` and the seed projects' benchmarks)
- ``local``: ``folder:PATH`` and ``csv:FILE``
- ``sources``: the official URLs, mirrors and checksums, and the cache's root folder
- ``download``: locate or download each file, verified before anything parses it
- ``archives``: tar and zip members read in place, unsafe members refused
- ``formats``: IDX, CIFAR binary, Tiny-ImageNet and image decoding
- ``cache``: decoded arrays as memory-mappable ``.npy`` with a checked manifest

It imports only :mod:`harness.core`.
"""

from harness.data.splits import Dataset, DatasetSpec, Split

__all__ = ["Dataset", "DatasetSpec", "Split"]
