"""Dataset files: where they come from, how they are fetched, checked, decoded and cached.

``harness.data`` is the public face (``load_dataset``, ``get_spec``); this package holds
the machinery behind it, one concern per module:

- ``sources``: the official URLs, mirrors and checksums (overridable for mirrors/tests)
- ``download``: locate or download each file, verified before anything parses it
- ``archives``: tar and zip members read in place, unsafe members refused
- ``formats``: IDX, CIFAR binary, Tiny-ImageNet and image decoding
- ``cache``: decoded arrays as memory-mappable ``.npy`` with a checked manifest
- ``official``: the registered benchmark datasets
- ``local``: ``folder:PATH`` and ``csv:FILE``
"""
