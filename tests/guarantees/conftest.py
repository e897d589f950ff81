"""The delivery stack fixtures, shared with the delivery-rule tests."""

from tests.delivery.conftest import make_stack  # noqa: F401
