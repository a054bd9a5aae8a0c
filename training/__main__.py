"""``python -m hls_translate.training COMMAND ...``: the same commands as ``hls-translate``.

This is the form torchrun needs: ``torchrun --nproc_per_node=G -m hls_translate.training train --config C.yaml``.
"""

import sys

from ..cli import main

sys.exit(main())
