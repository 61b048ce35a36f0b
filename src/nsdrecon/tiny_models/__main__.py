"""``python -m nsdrecon.tiny_models``: train the embedded default's tiny models (see :mod:`nsdrecon.tiny_models.train`)."""

from nsdrecon.tiny_models.train import main

main()
