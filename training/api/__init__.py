"""The training app's API (mounted at /api/v1/training/ by ready4hire.api): one router per area."""

from ninja import Router

from .datasets import router as datasets_router  # mounted by ready4hire.api at /datasets, not under /training/
from .examples import router as examples_router

router = Router()
router.add_router("", examples_router)

__all__ = ["datasets_router", "router"]
