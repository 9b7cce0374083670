"""A fixture body shared by the test modules that read data wheels (COMPAS)."""

import pytest


def offline_wheels(tmp_path_factory):
    """Wheels from <sys.prefix>/wheels only (make setup puts them there); downloads off.

    The modules register it module-scoped and autouse, so that it is in place before their
    module-scoped fixtures load the data.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEDL_DATA", str(tmp_path_factory.mktemp("sedl-data")))
        patch.setenv("SEDL_OFFLINE", "1")
        yield
